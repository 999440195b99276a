"""The outbound CRM webhook: assignments are POSTed to the configured endpoint, signed per
Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256
of "id.timestamp.body">`), retried with exponential backoff and jitter.

Driven from committed state: the assignment's transaction writes a `crm_deliveries` row; this
worker sends due rows after commit. A crash between sending and marking sends again with the
same `webhook-id`, which receivers de-duplicate on (at-least-once, as the spec intends).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from datetime import datetime, timedelta
from functools import cache

import httpx
import structlog
from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from baton_handoff.models import CrmDelivery
from baton_kit.aio import sleep_or_stop
from baton_kit.clock import Clock
from baton_kit.db import transaction

log = structlog.get_logger(__name__)


@cache
def delivery_metrics() -> Counter:
    return Counter("baton_handoff_crm_webhooks_total", "Outbound CRM webhook attempts.", ["outcome"])


def sign(secret: str, *, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for `body` (secret `whsec_<base64>`, or raw bytes)."""
    key = base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_") else secret.encode()
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def backoff(attempts: int, *, base: float = 5.0, cap: float = 3600.0) -> timedelta:
    """After `attempts` failures: 5 s, 10 s, 20 s … capped at an hour, with ±20% jitter."""
    seconds = min(cap, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))


class CrmWebhookSender:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        client: httpx.AsyncClient,
        url: str,
        secret: str,
        clock: Clock,
        max_attempts: int,
        batch_size: int = 50,
        idle_seconds: float = 1.0,
    ) -> None:
        self.sessions, self.client, self.url, self.secret = sessions, client, url, secret
        self.clock, self.max_attempts, self.batch_size, self.idle_seconds = (
            clock,
            max_attempts,
            batch_size,
            idle_seconds,
        )

    async def run(self, stop: object) -> None:
        import asyncio

        assert isinstance(stop, asyncio.Event)
        while not stop.is_set():
            try:
                sent = await self.deliver_due()
            except Exception:  # the database or a bug: log, back off, keep the loop alive
                log.exception("crm webhook pass failed")
                sent = 0
            if not sent:
                await sleep_or_stop(stop, self.idle_seconds)

    async def deliver_due(self) -> int:
        """Send every due delivery once; returns how many were attempted."""
        now = self.clock.now()
        async with transaction(self.sessions) as session:
            query = (
                select(CrmDelivery)
                .where(
                    CrmDelivery.delivered_at.is_(None),
                    CrmDelivery.failed_at.is_(None),
                    CrmDelivery.next_attempt_at <= now,
                )
                .order_by(CrmDelivery.id)
                .limit(self.batch_size)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            due = list(await session.scalars(query))
            for delivery in due:
                await self._attempt(delivery)
        return len(due)

    async def _attempt(self, delivery: CrmDelivery) -> None:
        now = self.clock.now()
        body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
        timestamp = int(now.timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self.secret, message_id=delivery.message_id, timestamp=timestamp, body=body),
        }
        delivery.attempts += 1
        try:
            response = await self.client.post(self.url, content=body, headers=headers)
            ok, error = 200 <= response.status_code < 300, f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"[:1000]
        if ok:
            delivery.delivered_at = now
            delivery.last_error = None
            delivery_metrics().labels(outcome="delivered").inc()
            return
        delivery.last_error = error
        if delivery.attempts >= self.max_attempts:
            delivery.failed_at = now
            delivery_metrics().labels(outcome="failed").inc()
            log.error("crm webhook gave up", lead_id=delivery.lead_id, attempts=delivery.attempts, error=error)
        else:
            delivery.next_attempt_at = now + backoff(delivery.attempts)
            delivery_metrics().labels(outcome="retry").inc()


def next_attempt(now: datetime, attempts: int) -> datetime:
    return now + backoff(attempts)
