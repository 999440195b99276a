"""Standard Webhooks, both ways: the signature every Baton webhook carries (the CRM's assignments,
the SLA monitor's generic alert channel) and checks (inbound Standard Webhooks sources), and how a
sender reads a receiver's `Retry-After`.

Spec: https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def standard_webhooks_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: `whsec_<base64>` decodes; anything else is used as bytes."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            raise ValueError("a whsec_ secret must be base64 after the prefix") from None
    return secret.encode()


def standard_webhooks_signature(*, secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """`v1,<base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}"))>`."""
    message = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(standard_webhooks_key(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def standard_webhooks_headers(*, secret: str, msg_id: str, now: datetime, body: bytes) -> dict[str, str]:
    """The headers of one signed JSON delivery; `msg_id` stays the same across retries of one message."""
    timestamp = str(int(now.timestamp()))
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": standard_webhooks_signature(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body),
    }


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """A `Retry-After` header as seconds from `now`: delay-seconds or an HTTP date; None if absent or garbled."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # not "²": str.isdigit takes any Unicode digit, float() does not
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT by definition (asctime carries no zone): read it so
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)
