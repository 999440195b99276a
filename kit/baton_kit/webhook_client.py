"""Outbound webhook POSTs (the handoff's CRM webhook, the SLA monitor's on-call channels), over aiohttp.

A pool of keep-alive connections, `connections` at most; each POST bounded by `timeout_seconds`.
Why aiohttp rather than httpx: the handoff posts one CRM webhook per assignment, and with httpx 0.28
(httpcore 1.0.9) a POST cost ~1 ms of CPU one at a time and ~2.5 ms sixteen at a time (its pool
rescans every connection, and asks the socket whether it is readable, for every request); with
aiohttp ~0.3 and ~0.2 ms (`bench/README.md`, speed to lead). The answer is read (up to
`BODY_LIMIT`) so that the connection goes back to the pool. HTTPS is verified against the system's
CA store (OpenSSL's `SSL_CERT_FILE` / `SSL_CERT_DIR` point it elsewhere).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

BODY_LIMIT = 64 * 1024  # of an answer's body, read for error messages; the rest is not read
_ANY_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s'\",)]*", re.IGNORECASE)  # in an error message


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    retry_after: str | None  # the Retry-After header, as sent
    body: str  # the start of the body (`BODY_LIMIT` bytes), decoded leniently


class Unreachable(Exception):
    """No answer: the connection failed, broke or timed out. The message names the error, never the
    URL (a Slack or CRM webhook URL may carry its secret)."""

    def __init__(self, reason: str, *, error: str, timed_out: bool) -> None:
        super().__init__(reason)
        self.error = error  # the exception's class name
        self.timed_out = timed_out


class WebhookClient:
    def __init__(self, *, timeout_seconds: float, connections: int = 16) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        """The session, made on first use: aiohttp binds it to the running event loop."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.connections), timeout=self.timeout
            )
        return self._session

    async def post(self, url: str, *, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST `body`; raises `Unreachable` when no HTTP answer came back."""
        try:
            # A redirect is an answer (not 2xx), not followed: aiohttp would re-send a POST as a GET.
            request = self._open().post(url, data=body, headers=headers, allow_redirects=False)
            async with request as response:
                content = await response.content.read(BODY_LIMIT)
                return Answer(
                    status=response.status,
                    retry_after=response.headers.get("Retry-After"),
                    body=content.decode("utf-8", errors="replace"),
                )
        except TimeoutError as exc:  # aiohttp's own timeouts are TimeoutErrors too
            raise Unreachable(f"timeout ({type(exc).__name__})", error=type(exc).__name__, timed_out=True) from None
        except aiohttp.ClientError as exc:
            # aiohttp's messages carry the URL, normalised (so not always the configured text): out with
            # any URL, since a webhook URL can hold its secret (Slack's, a token parameter).
            said = _ANY_URL.sub("<url>", str(exc))
            detail = f": {said}" if said else ""
            raise Unreachable(f"{type(exc).__name__}{detail}", error=type(exc).__name__, timed_out=False) from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
