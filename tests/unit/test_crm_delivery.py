"""What a CRM webhook receiver's answer means for the delivery (Standard Webhooks), and the shared
signing and `Retry-After` reading every Baton webhook sender uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from baton_handoff.crm.delivery import MAX_WAIT, RETRY_SCHEDULE, judge, retry_wait
from baton_kit.webhooks import retry_after_seconds, standard_webhooks_headers, standard_webhooks_signature

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_signature_matches_the_standard_webhooks_reference_vector() -> None:
    # From the Standard Webhooks spec's reference implementation tests.
    assert (
        standard_webhooks_signature(
            secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
            timestamp="1614265330",
            body=b'{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_headers_carry_the_id_the_time_and_a_signature_over_both() -> None:
    body = b'{"type":"lead.assigned"}'
    headers = standard_webhooks_headers(
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", msg_id="msg_1", now=NOW, body=body
    )
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    assert headers["webhook-signature"] == standard_webhooks_signature(
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        msg_id="msg_1",
        timestamp=headers["webhook-timestamp"],
        body=body,
    )


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_delivered(status: int) -> None:
    assert judge(status, attempts=1, max_attempts=10).outcome == "delivered"


def test_410_gone_fails_at_once() -> None:
    verdict = judge(410, error="HTTP 410: webhook deleted", attempts=1, max_attempts=10)
    assert verdict.outcome == "failed"
    assert verdict.error is not None and verdict.error.startswith("HTTP 410: webhook deleted")


@pytest.mark.parametrize("status", [301, 400, 401, 404, 429, 500, 503])
def test_other_answers_retry_on_the_schedule(status: int) -> None:
    assert [judge(status, attempts=n, max_attempts=10).wait for n in range(1, 10)] == list(RETRY_SCHEDULE)


def test_no_answer_retries_and_says_why() -> None:
    verdict = judge(None, error="ConnectTimeout: timed out", attempts=1, max_attempts=10)
    assert (verdict.outcome, verdict.error, verdict.wait) == (
        "retry",
        "ConnectTimeout: timed out",
        timedelta(seconds=5),
    )


def test_the_schedule_spans_about_three_days_and_the_last_try_fails() -> None:
    assert timedelta(days=3) <= sum(RETRY_SCHEDULE, timedelta()) <= timedelta(days=3, hours=6)
    assert judge(503, attempts=10, max_attempts=10).outcome == "failed"
    assert judge(503, attempts=9, max_attempts=10).outcome == "retry"
    assert retry_wait(30) == RETRY_SCHEDULE[-1]  # beyond the schedule (a higher max_attempts): the last wait repeats


def test_retry_after_wins_over_the_schedule_within_a_day() -> None:
    assert judge(429, retry_after=120, attempts=3, max_attempts=10).wait == timedelta(minutes=2)
    assert judge(503, retry_after=10 * 86400, attempts=1, max_attempts=10).wait == MAX_WAIT
    for huge in (1e14, float("inf")):  # more than a timedelta holds
        assert judge(503, retry_after=huge, attempts=1, max_attempts=10).wait == MAX_WAIT


def test_jitter_spreads_the_wait() -> None:
    assert judge(503, attempts=2, max_attempts=10, jitter=1.1).wait == timedelta(seconds=330)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Mon, 30 Nov 2026 09:05:00 GMT", 300.0),
        ("Mon, 30 Nov 2026 08:00:00 GMT", 0.0),  # a date in the past: at once
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("²", None),  # a Unicode digit, which float() refuses
        ("Mon Nov 30 09:05:00 2026", 300.0),  # asctime: no zone, GMT by definition
    ],
)
def test_retry_after_reads_seconds_or_an_http_date(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, now=NOW) == seconds
