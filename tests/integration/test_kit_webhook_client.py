"""The outbound webhook client the CRM webhook and the on-call channels share, against real loopback
servers: what a sender reads of an answer, what it is told when there is none (never the URL, which
may carry a secret), and that a burst of posts reuses a few kept-alive connections."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web
from support.receiver import serving

from baton_kit.webhook_client import BODY_LIMIT, Unreachable, WebhookClient

SECRET_PATH = "/hooks/T0-secret-path"  # a webhook URL's path may carry its secret


async def test_an_answer_gives_its_status_retry_after_and_the_start_of_its_body() -> None:
    seen: list[tuple[bytes, str]] = []

    async def busy(request: web.Request) -> web.Response:
        seen.append((await request.read(), request.headers["webhook-id"]))
        return web.Response(status=429, headers={"Retry-After": "7"}, text="slow down " + "x" * (2 * BODY_LIMIT))

    client = WebhookClient(timeout_seconds=5)
    try:
        async with serving(busy, path=SECRET_PATH) as url:
            answer = await client.post(url, body=b'{"a": 1}', headers={"webhook-id": "msg_1"})
    finally:
        await client.aclose()
    assert seen == [(b'{"a": 1}', "msg_1")]
    assert (answer.status, answer.retry_after) == (429, "7")
    assert answer.body.startswith("slow down") and len(answer.body) == BODY_LIMIT


async def test_a_redirect_is_an_answer_and_not_followed() -> None:
    asked: list[str] = []

    async def moved(request: web.Request) -> web.Response:
        asked.append(request.method)
        raise web.HTTPFound(location=str(request.url))  # to itself: followed, it would be asked again

    client = WebhookClient(timeout_seconds=5)
    try:
        async with serving(moved, path=SECRET_PATH) as url:
            answer = await client.post(url, body=b"{}", headers={})
    finally:
        await client.aclose()
    assert (answer.status, asked) == (302, ["POST"])


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens once the probe is closed


async def test_no_answer_is_unreachable_and_the_message_never_holds_the_url() -> None:
    async def silent(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(status=204)

    client = WebhookClient(timeout_seconds=0.3)
    try:
        refused_url = f"http://127.0.0.1:{_closed_port()}{SECRET_PATH}"
        with pytest.raises(Unreachable) as refused:
            await client.post(refused_url, body=b"{}", headers={})
        async with serving(silent, path=SECRET_PATH) as url:
            with pytest.raises(Unreachable) as timed_out:
                await client.post(url, body=b"{}", headers={})
    finally:
        await client.aclose()
    assert not refused.value.timed_out and refused.value.error == "ClientConnectorError"
    assert timed_out.value.timed_out
    assert all("T0-secret-path" not in str(e.value) for e in (refused, timed_out))


async def test_a_garbled_answer_is_unreachable_and_the_message_holds_no_form_of_the_url() -> None:
    """aiohttp names the URL normalised (scheme and host in lower case, `%7e` as `~`), so it is not
    always the configured text: no URL at all may stand in the message (a webhook URL holds secrets)."""

    async def garbled(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"hello there\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbled, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = WebhookClient(timeout_seconds=2)
    try:
        with pytest.raises(Unreachable) as garbage:
            await client.post(f"HTTP://127.0.0.1:{port}{SECRET_PATH}?token=s%7ecret", body=b"{}", headers={})
    finally:
        await client.aclose()
        server.close()
    message = str(garbage.value)
    assert garbage.value.error == "ClientResponseError"
    assert "T0-secret-path" not in message and "s~cret" not in message and "s%7ecret" not in message


async def test_a_burst_of_posts_reuses_at_most_its_connections() -> None:
    peers: set[object] = set()

    async def ok(request: web.Request) -> web.Response:
        peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        await asyncio.sleep(0.01)
        return web.Response(status=204)

    client = WebhookClient(timeout_seconds=5, connections=4)
    try:
        async with serving(ok, path=SECRET_PATH) as url:
            answers = await asyncio.gather(*(client.post(url, body=b"{}", headers={}) for _ in range(100)))
    finally:
        await client.aclose()
    assert {a.status for a in answers} == {204}
    assert 1 <= len(peers) <= 4  # kept alive and shared, not a connection per post
