"""A webhook receiver on a free loopback port, for tests of what a service POSTs to another system.

The test writes the receiver as a function of an `httpx.Request` (sync or async) returning an
`httpx.Response`; the server hands it each request that came over the socket and sends its answer
back, so the service's real HTTP client, connection pool and timeouts are what the test exercises.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
from aiohttp import web

FRAMING = frozenset({"content-length", "transfer-encoding"})  # the server frames its own answer
Receiver = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serving(handler: Handler, *, path: str = "/hooks/baton") -> AsyncIterator[str]:
    """Serve `handler` (aiohttp's) at `path` on a free 127.0.0.1 port and yield its URL; stopped on exit."""
    app = web.Application()
    app.router.add_route("*", path, handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}{path}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def loopback_receiver(receiver: Receiver, *, path: str = "/hooks/baton") -> AsyncIterator[str]:
    """`serving` a receiver written against httpx's request and response."""

    async def handle(request: web.Request) -> web.Response:
        asked = httpx.Request(
            request.method, str(request.url), headers=request.headers.items(), content=await request.read()
        )
        answer = receiver(asked)
        if inspect.isawaitable(answer):
            answer = await answer
        headers = {k: v for k, v in answer.headers.items() if k.lower() not in FRAMING}
        return web.Response(status=answer.status_code, headers=headers, body=answer.content)

    async with serving(handle, path=path) as url:
        yield url
