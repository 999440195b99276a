"""Protective limits on request bodies: size (413) and JSON nesting depth (400); on webhook calls also
a rate per key (429).

The size and depth limits run in an ASGI middleware in front of every request with a body (webhooks
with their own size limit, every other route with the API's), before any endpoint, parser or key
check sees the body: a declared `Content-Length` over the limit is refused without reading a byte,
and a chunked body is refused as soon as it passes the limit (the rest is never read). The depth is
measured on the raw bytes (brackets outside strings), so a deeply nested document never reaches a
recursive parser.

The rate limit is a token bucket per key (the source, or the API key once keys exist), kept **in
memory per process**: with N replicas a key may get up to N times the rate. That is the documented
trade-off for not putting a database write on every call; a shared limit belongs at the proxy.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from itertools import accumulate

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from baton_handoff.webhooks.exceptions import BodyTooLarge, TooDeep
from baton_kit.http import Problem, problem_response

_STRINGS = re.compile(rb'"[^"]*"')
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_DEPTH_CHANGE = [0] * 256
_DEPTH_CHANGE[ord("[")] = _DEPTH_CHANGE[ord("{")] = 1
_DEPTH_CHANGE[ord("]")] = _DEPTH_CHANGE[ord("}")] = -1


def json_depth(raw: bytes, *, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays/objects in `raw` (0 for a scalar), without parsing it; brackets
    inside strings do not count. With `stop_above`, a deeper document reads as `stop_above + 1`.

    Linear in the size, whatever the bytes: this runs on every webhook call before any key or
    signature is checked. Escapes go first (an escaped backslash, then an escaped quote, left to
    right as JSON reads them), so every quote left opens or closes a string and `"[^"]*"` finds the
    strings in one pass. (The usual pattern for strings with escapes is retried from every quote of
    an unterminated string: `"\\"\\"\\"…` took 12 s for 64 kB, quadratic in the size.)
    """
    plain = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = _STRINGS.sub(b"", plain).translate(None, _NOT_BRACKETS)
    deepest = max(0, max(accumulate(map(_DEPTH_CHANGE.__getitem__, brackets)), default=0))
    return deepest if stop_above is None else min(deepest, stop_above + 1)


@dataclass(frozen=True)
class Limit:
    """The body limits of the routes under `prefix`."""

    prefix: str
    max_bytes: int
    max_depth: int


class BodyLimits:
    """ASGI middleware: the size and depth limits of the first `Limit` whose prefix a request's path
    starts with, for every method that carries a body; other requests pass through."""

    def __init__(self, app: ASGIApp, *, limits: list[Limit]) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = None
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            limit = next((rule for rule in self.limits if scope["path"].startswith(rule.prefix)), None)
        if limit is None:
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read(scope, receive, limit.max_bytes)
        except Problem as problem:
            await _respond(problem, scope, receive, send)
            return
        if body is None:  # the client went away
            return
        if json_depth(body, stop_above=limit.max_depth) > limit.max_depth:
            await _respond(
                TooDeep(f"body: nested deeper than {limit.max_depth} levels", extra={"field": "body"}),
                scope,
                receive,
                send,
            )
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, scope: Scope, receive: Receive, max_bytes: int) -> bytes | None:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > max_bytes:
                    raise _too_large(f"Content-Length {declared}", max_bytes)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(f"more than {size} bytes", max_bytes)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _too_large(what: str, max_bytes: int) -> BodyTooLarge:
    return BodyTooLarge(
        f"body: {what}; the limit is {max_bytes} bytes (split the batch)",
        extra={"field": "body", "limit_bytes": max_bytes},
    )


async def _respond(problem: Problem, scope: Scope, receive: Receive, send: Send) -> None:
    response = problem_response(
        status=problem.status,
        title=problem.title,
        detail=problem.detail,
        type=problem.type,
        headers={**problem.headers, "Connection": "close"},
        **problem.extra,
    )
    await response(scope, receive, send)


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """Token buckets by key: `rate` tokens per second, at most `burst` saved. Least recently used
    keys are forgotten beyond `max_keys` (a forgotten key starts full again)."""

    def __init__(self, *, rate: float, burst: int, max_keys: int = 10_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str, *, now: float) -> float:
        """Take one token: 0.0 when granted, else the seconds until one will be available."""
        bucket = self._buckets.pop(key, None) or _Bucket(tokens=self.burst, at=now)
        bucket.tokens = min(self.burst, bucket.tokens + max(0.0, now - bucket.at) * self.rate)
        bucket.at = now
        self._buckets[key] = bucket
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate
