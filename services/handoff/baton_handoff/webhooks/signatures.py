"""Webhook signature verification: pure functions of (headers' values, raw body, secrets, now).

Every check runs on the raw body exactly as received, before any parsing. Each function takes
*several* secrets and accepts a signature made with any of them: that is how a secret rotates
without downtime (add the new one, switch the sender, remove the old one).

The signature is checked before the timestamp, so a forged request always answers 401 and only a
genuinely signed but old (replayed or delayed) request answers 400 "stale".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from baton_kit.webhooks import standard_webhooks_signature

TOLERANCE = timedelta(minutes=5)


class SignatureError(ValueError):
    """The request is not authentic: missing or malformed headers, or no secret produced its signature."""


class StaleTimestamp(ValueError):
    """Authentic, but signed too long ago (or too far in the future): a replay or a badly skewed clock."""


def _check_time(signed_at: datetime, now: datetime, tolerance: timedelta) -> None:
    if abs(now - signed_at) > tolerance:
        raise StaleTimestamp(
            f"signed at {signed_at.isoformat()}, {abs(now - signed_at).total_seconds():.0f}s from now; "
            f"the window is {tolerance.total_seconds():.0f}s"
        )


def _parse_epoch(value: str | None, *, header: str, millis: bool) -> datetime:
    if not value:
        raise SignatureError(f"missing {header} header")
    try:
        number = int(value)
    except ValueError:
        raise SignatureError(f"{header} is not an integer epoch timestamp") from None
    try:
        return datetime.fromtimestamp(number / 1000 if millis else number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise SignatureError(f"{header} is out of range") from None


def hubspot_v3_signature(*, secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """HubSpot v3: base64(HMAC-SHA256(client secret, method + decoded URI + body + timestamp))."""
    message = method.upper().encode() + unquote(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def _same(expected: str, offered: str) -> bool:
    """Constant-time comparison of a computed signature with a header's. As bytes: `compare_digest`
    refuses a `str` with a non-ASCII character, and a header can hold any Latin-1 text."""
    return hmac.compare_digest(expected.encode(), offered.encode())


def verify_hubspot_v3(
    *,
    secrets: Sequence[str],
    method: str,
    uri: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: datetime,
    tolerance: timedelta = TOLERANCE,
) -> None:
    """Raise `SignatureError` or `StaleTimestamp` unless the request carries a valid, fresh v3 signature.

    `uri` is the full URL the sender called (scheme, host, path, query), as HubSpot signed it: behind a
    proxy, build it from the public base URL, not from what the process sees.
    `X-HubSpot-Request-Timestamp` is in epoch milliseconds.
    """
    if not signature:
        raise SignatureError("missing X-HubSpot-Signature-v3 header")
    signed_at = _parse_epoch(timestamp, header="X-HubSpot-Request-Timestamp", millis=True)
    assert timestamp is not None
    if not any(
        _same(hubspot_v3_signature(secret=secret, method=method, uri=uri, body=body, timestamp=timestamp), signature)
        for secret in secrets
    ):
        raise SignatureError("X-HubSpot-Signature-v3 does not match any active secret")
    _check_time(signed_at, now, tolerance)


def verify_standard_webhooks(
    *,
    secrets: Sequence[str],
    msg_id: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: datetime,
    tolerance: timedelta = TOLERANCE,
) -> None:
    """Raise unless one of the space-separated `v1,<sig>` entries of `webhook-signature` matches a secret.

    Entries of other versions (`v1a` asymmetric) are ignored, not rejected: a sender may send both.
    `webhook-timestamp` is in epoch seconds.
    """
    if not msg_id:
        raise SignatureError("missing webhook-id header")
    if not signature:
        raise SignatureError("missing webhook-signature header")
    signed_at = _parse_epoch(timestamp, header="webhook-timestamp", millis=False)
    assert timestamp is not None
    offered = [entry.removeprefix("v1,") for entry in signature.split() if entry.startswith("v1,")]
    if not offered:
        raise SignatureError("webhook-signature has no v1 entry")
    expected = [
        standard_webhooks_signature(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body).removeprefix("v1,")
        for secret in secrets
    ]
    if not any(_same(e, o) for e in expected for o in offered):
        raise SignatureError("webhook-signature does not match any active secret")
    _check_time(signed_at, now, tolerance)
