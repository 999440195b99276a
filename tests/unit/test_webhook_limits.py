"""Webhook limits that need no server: JSON depth on raw bytes, the per-key token bucket."""

from __future__ import annotations

import pytest

from baton_handoff.webhooks.limits import TokenBuckets, json_depth


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b"42", 0),
        (b'{"a": 1}', 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'{"a": "[[[[{{{{"}', 1),  # brackets inside strings do not count
        (b'{"a": "quote \\" then [[[["}', 1),  # nor after an escaped quote
        (b'{"a": "backslash \\\\", "b": [[1]]}', 3),  # an escaped backslash does not escape the quote
        (b'{"a": "\\\\\\" [ still a string"}', 1),  # an escaped backslash, then an escaped quote
        (b"[" * 5000 + b"]" * 5000, 5000),
        # Unterminated strings full of escaped quotes: what a quadratic scanner takes minutes over (1 MB,
        # the body limit), sent before any key is checked. Not JSON; the parser refuses it after this.
        (b'"' + b'\\"' * 500_000, 0),
        (b"[" * 10 + b'"' + b'\\"' * 500_000, 10),
    ],
)
def test_json_depth_counts_nesting_outside_strings(raw: bytes, depth: int) -> None:
    assert json_depth(raw) == depth


def test_json_depth_stops_counting_once_above_the_limit() -> None:
    assert json_depth(b"[" * 100_000, stop_above=32) == 33


def test_token_bucket_allows_the_burst_then_the_rate_per_key() -> None:
    buckets = TokenBuckets(rate=2.0, burst=3)
    assert [buckets.take("hubspot", now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("hubspot", now=100.0) == pytest.approx(0.5)
    assert buckets.take("segment", now=100.0) == 0.0  # another key has its own bucket
    assert buckets.take("hubspot", now=100.5) == 0.0  # half a second at 2/s refilled one token
    assert buckets.take("hubspot", now=100.5) > 0


def test_token_bucket_never_saves_more_than_the_burst() -> None:
    buckets = TokenBuckets(rate=10.0, burst=2)
    buckets.take("k", now=0.0)
    granted = [buckets.take("k", now=3600.0) == 0.0 for _ in range(3)]
    assert granted == [True, True, False]


def test_token_bucket_forgets_least_recently_used_keys_beyond_its_size() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, max_keys=2)
    buckets.take("a", now=0.0)
    buckets.take("b", now=0.0)
    buckets.take("c", now=0.0)
    assert buckets.take("a", now=0.0) == 0.0  # "a" was forgotten, so it starts full
