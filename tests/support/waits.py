"""Waiting for asynchronous outcomes without sleeping a fixed time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    until: Callable[[T], bool],
    timeout: float = ...,
    interval: float = ...,
    what: str = ...,
) -> T: ...


@overload
async def eventually(
    probe: Callable[[], T],
    *,
    until: Callable[[T], bool],
    timeout: float = ...,
    interval: float = ...,
    what: str = ...,
) -> T: ...


async def eventually(
    probe: Callable[[], Any],
    *,
    until: Callable[[Any], bool],
    timeout: float = 15.0,
    interval: float = 0.05,
    what: str = "condition",
) -> Any:
    """Call `probe` (sync or async) until `until(result)` holds; return that result.

    Fails with the last result in the message after `timeout` seconds, so a test that waits
    for "30 events applied" and sees 29 says so instead of hanging.
    """
    deadline = time.monotonic() + timeout
    while True:
        outcome = probe()
        result = await outcome if inspect.isawaitable(outcome) else outcome
        if until(result):
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last seen: {result!r}")
        await asyncio.sleep(interval)
