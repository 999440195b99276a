"""Webhook signature verification (HubSpot v3, Standard Webhooks): pure, with a fixed `now`."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from baton_handoff.webhooks.signatures import (
    SignatureError,
    StaleTimestamp,
    hubspot_v3_signature,
    verify_hubspot_v3,
    verify_standard_webhooks,
)
from baton_kit.webhooks import standard_webhooks_signature

NOW = datetime(2026, 11, 23, 9, 45, tzinfo=UTC)
BODY = b'[{"eventId":1,"subscriptionType":"contact.creation","objectId":5,"occurredAt":1795425600000}]'
URI = "https://baton.example/v1/webhooks/hubspot"
CLIENT_SECRET = "b4c1f2d3-0000-4a4a-9c9c-5e5e5e5e5e5e"
WHSEC = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def ms(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


def test_hubspot_v3_signature_is_hmac_sha256_of_method_uri_body_timestamp_in_base64() -> None:
    timestamp = ms(NOW)
    expected = base64.b64encode(
        hmac.new(CLIENT_SECRET.encode(), b"POST" + URI.encode() + BODY + timestamp.encode(), hashlib.sha256).digest()
    ).decode()
    signed = hubspot_v3_signature(secret=CLIENT_SECRET, method="post", uri=URI, body=BODY, timestamp=timestamp)
    assert signed == expected


def test_hubspot_v3_accepts_a_fresh_request_signed_with_any_active_secret() -> None:
    timestamp = ms(NOW - timedelta(minutes=4))
    signature = hubspot_v3_signature(secret="new-secret", method="POST", uri=URI, body=BODY, timestamp=timestamp)
    verify_hubspot_v3(
        secrets=["old-secret", "new-secret"],
        method="POST",
        uri=URI,
        body=BODY,
        signature=signature,
        timestamp=timestamp,
        now=NOW,
    )


def test_hubspot_v3_signs_the_decoded_uri() -> None:
    timestamp = ms(NOW)
    encoded = URI + "?portal=62515&label=a%3Ab"
    signature = hubspot_v3_signature(
        secret=CLIENT_SECRET, method="POST", uri=URI + "?portal=62515&label=a:b", body=BODY, timestamp=timestamp
    )
    verify_hubspot_v3(
        secrets=[CLIENT_SECRET],
        method="POST",
        uri=encoded,
        body=BODY,
        signature=signature,
        timestamp=timestamp,
        now=NOW,
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"body": BODY + b" "}, "does not match"),
        ({"uri": URI + "/other"}, "does not match"),
        ({"method": "PUT"}, "does not match"),
        ({"secrets": ["someone-else"]}, "does not match"),
        ({"signature": None}, "missing X-HubSpot-Signature-v3"),
        ({"timestamp": None}, "missing X-HubSpot-Request-Timestamp"),
        ({"timestamp": "yesterday"}, "not an integer"),
        ({"signature": "\xe9t\xe9"}, "does not match"),  # any Latin-1 text a header can carry
    ],
)
def test_hubspot_v3_refuses_a_tampered_or_incomplete_request(change: dict[str, object], message: str) -> None:
    timestamp = ms(NOW)
    request: dict[str, object] = {
        "secrets": [CLIENT_SECRET],
        "method": "POST",
        "uri": URI,
        "body": BODY,
        "timestamp": timestamp,
        "signature": hubspot_v3_signature(secret=CLIENT_SECRET, method="POST", uri=URI, body=BODY, timestamp=timestamp),
    }
    with pytest.raises(SignatureError, match=message):
        verify_hubspot_v3(**{**request, **change}, now=NOW)  # type: ignore[arg-type]


def test_hubspot_v3_refuses_a_genuine_signature_older_than_5_minutes_as_stale() -> None:
    timestamp = ms(NOW - timedelta(minutes=5, seconds=1))
    signature = hubspot_v3_signature(secret=CLIENT_SECRET, method="POST", uri=URI, body=BODY, timestamp=timestamp)
    with pytest.raises(StaleTimestamp):
        verify_hubspot_v3(
            secrets=[CLIENT_SECRET],
            method="POST",
            uri=URI,
            body=BODY,
            signature=signature,
            timestamp=timestamp,
            now=NOW,
        )


def test_a_forged_old_request_is_a_bad_signature_not_a_stale_one() -> None:
    with pytest.raises(SignatureError):
        verify_hubspot_v3(
            secrets=[CLIENT_SECRET],
            method="POST",
            uri=URI,
            body=BODY,
            signature="Zm9yZ2Vk",
            timestamp=ms(NOW - timedelta(hours=1)),
            now=NOW,
        )


def test_standard_webhooks_signature_matches_the_spec_construction() -> None:
    key = base64.b64decode(WHSEC.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, b"msg_2Lh9.1795425600." + BODY, hashlib.sha256).digest()).decode()
    assert standard_webhooks_signature(secret=WHSEC, msg_id="msg_2Lh9", timestamp="1795425600", body=BODY) == (
        "v1," + expected
    )


def test_standard_webhooks_accepts_any_listed_signature_from_any_active_secret_during_rotation() -> None:
    timestamp = str(int(NOW.timestamp()))
    new_secret = "whsec_" + base64.b64encode(b"n" * 32).decode()
    signed = standard_webhooks_signature(secret=new_secret, msg_id="msg_1", timestamp=timestamp, body=BODY)
    header = f"v1,c29tZXRoaW5nIGVsc2U= v1a,ZWQyNTUxOQ== {signed}"
    verify_standard_webhooks(
        secrets=[WHSEC, new_secret], msg_id="msg_1", timestamp=timestamp, signature=header, body=BODY, now=NOW
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"body": BODY.replace(b"5", b"6")}, "does not match"),
        ({"msg_id": "msg_other"}, "does not match"),
        ({"msg_id": None}, "missing webhook-id"),
        ({"signature": "v1a,ZWQyNTUxOQ=="}, "no v1 entry"),
        ({"signature": "v1,\xe9"}, "does not match"),  # any Latin-1 text a header can carry
        ({"timestamp": None}, "missing webhook-timestamp"),
    ],
)
def test_standard_webhooks_refuses_a_tampered_or_incomplete_message(change: dict[str, object], message: str) -> None:
    timestamp = str(int(NOW.timestamp()))
    request: dict[str, object] = {
        "secrets": [WHSEC],
        "msg_id": "msg_1",
        "timestamp": timestamp,
        "body": BODY,
        "signature": standard_webhooks_signature(secret=WHSEC, msg_id="msg_1", timestamp=timestamp, body=BODY),
    }
    with pytest.raises(SignatureError, match=message):
        verify_standard_webhooks(**{**request, **change}, now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize("skew", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_standard_webhooks_refuses_timestamps_outside_the_window_either_way(skew: timedelta) -> None:
    timestamp = str(int((NOW + skew).timestamp()))
    signature = standard_webhooks_signature(secret=WHSEC, msg_id="msg_1", timestamp=timestamp, body=BODY)
    with pytest.raises(StaleTimestamp):
        verify_standard_webhooks(
            secrets=[WHSEC], msg_id="msg_1", timestamp=timestamp, signature=signature, body=BODY, now=NOW
        )
