"""The outbound CRM webhook: assignments (and reassignments), and the disqualification of a lead a rep
holds, are POSTed to the configured endpoint, signed per Standard Webhooks (`webhook-id`,
`webhook-timestamp`, `webhook-signature`).

Driven from committed state, and never holding a transaction while it waits on the network: the
transition's transaction writes a `crm_deliveries` row; the sender leases due rows in one short
transaction (`next_attempt_at` pushed past the lease; `FOR UPDATE SKIP LOCKED` on PostgreSQL),
sends them a few at a time (`CRM_WEBHOOK_CONCURRENCY`), and records each outcome in another. A
crash between sending and recording sends again after the lease with the same `webhook-id`, which
receivers de-duplicate on (at least once, as the spec intends).

A lead's deliveries go out in order: one waits while an earlier delivery of the same lead is still
pending, so the retry of an assignment never lands after the reassignment that followed it.

What the receiver's answer means (Standard Webhooks): 2xx is delivered; 410 Gone asks for no more,
so the delivery fails at once; anything else, a timeout or a refused connection is retried on the
spec's schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h: about three days), or after
the receiver's `Retry-After`. A delivery that fails stays in the table, listed by
`GET /v1/crm-webhook/deliveries?status=failed` and sent again by `POST .../retry`.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Literal, get_args

import structlog
from prometheus_client import Counter, Histogram
from sqlalchemy import ColumnElement, Select, Text, cast, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased, load_only

from baton_contracts.crm_webhook import LeadAssigned, LeadDisqualified, body
from baton_handoff.crm.schemas import DeliveryRead, DeliveryStatus
from baton_handoff.models import CrmDelivery
from baton_kit.aio import sleep_or_stop, wait_any
from baton_kit.clock import Clock
from baton_kit.db import after_commit, transaction
from baton_kit.webhook_client import Unreachable, WebhookClient
from baton_kit.webhooks import retry_after_seconds, standard_webhooks_headers

log = structlog.get_logger(__name__)

RETRY_SCHEDULE: tuple[timedelta, ...] = tuple(
    timedelta(seconds=s) for s in (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
)
"""Waits after the 1st, 2nd, ... failed try (Standard Webhooks); the last repeats past its end."""
LEASE_MARGIN = timedelta(seconds=30)
MAX_WAIT = timedelta(days=1)
"""A receiver's `Retry-After` is honoured up to this."""
ERROR_BODY_CHARS = 300

RECORDED = (
    CrmDelivery.id,
    CrmDelivery.lead_id,
    CrmDelivery.attempts,
    CrmDelivery.next_attempt_at,
    CrmDelivery.last_error,
    CrmDelivery.delivered_at,
    CrmDelivery.failed_at,
)
"""The columns recording an answer reads and writes."""


CrmOutcome = Literal["delivered", "retry", "failed"]


@dataclass(frozen=True)
class DeliveryMetrics:
    attempts: Counter
    seconds: Histogram


@cache
def delivery_metrics() -> DeliveryMetrics:
    """Registered once; every outcome's series starts at 0, so an alert on `increase(...) > 0` sees the first."""
    attempts = Counter("baton_handoff_crm_webhooks_total", "Outbound CRM webhook attempts.", ["outcome"])
    for outcome in get_args(CrmOutcome):
        attempts.labels(outcome=outcome)
    return DeliveryMetrics(
        attempts=attempts,
        seconds=Histogram(
            "baton_handoff_crm_webhook_delivery_seconds",
            "Speed to the CRM: from the commit that queued a delivery (the assignment's) to the CRM's 2xx.",
            ["type"],
            # a quarter second when all is well; the retry schedule's steps when the CRM was down
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 36000, 86400, 259200),
        ),
    )


# --- what an answer means (pure) ---------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    outcome: CrmOutcome
    error: str | None = None
    wait: timedelta | None = None
    """Until the next try, for `retry`."""


def answered_2xx(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def retry_wait(failures: int, *, jitter: float = 1.0) -> timedelta:
    """The wait after `failures` failed tries; `jitter` (e.g. 0.9 to 1.1) spreads retries of many rows."""
    return RETRY_SCHEDULE[min(failures, len(RETRY_SCHEDULE)) - 1] * jitter


def judge(
    status: int | None,
    *,
    error: str | None = None,
    retry_after: float | None = None,
    attempts: int,
    max_attempts: int,
    jitter: float = 1.0,
) -> Verdict:
    """The outcome of try number `attempts`: `status` is the HTTP status, None when no answer came
    (`error` says why); `retry_after` the receiver's `Retry-After` in seconds."""
    if answered_2xx(status):
        return Verdict("delivered")
    reason = error or f"HTTP {status}"
    if status == 410:
        return Verdict("failed", f"{reason} (the endpoint is gone and asks for no more deliveries)")
    if attempts >= max_attempts:
        return Verdict("failed", reason)
    # Capped before it becomes a timedelta: a receiver's huge Retry-After would overflow one.
    wait = (
        retry_wait(attempts, jitter=jitter)
        if retry_after is None
        else timedelta(seconds=min(retry_after, MAX_WAIT.total_seconds()))
    )
    return Verdict("retry", reason, min(wait, MAX_WAIT))


def status_of(delivery: CrmDelivery) -> DeliveryStatus:
    if delivery.delivered_at is not None:
        return "delivered"
    return "failed" if delivery.failed_at is not None else "pending"


def described(delivery: CrmDelivery) -> dict[str, Any]:
    """A delivery as the API shows it (`DeliveryRead`): its status, and when it is tried next while pending."""
    status = status_of(delivery)
    return {
        **{name: getattr(delivery, name) for name in DeliveryRead.model_fields.keys() - {"status", "next_attempt_at"}},
        "status": status,
        "next_attempt_at": delivery.next_attempt_at if status == "pending" else None,
    }


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _printable(text: str) -> str:
    """`text` without control characters (a NUL in a receiver's answer is refused by PostgreSQL's text)."""
    return _CONTROL.sub("", text)


# --- queries -----------------------------------------------------------------------------------


def _open(deliveries: type[CrmDelivery] = CrmDelivery) -> list[ColumnElement[bool]]:
    """Neither delivered nor failed (`deliveries`: the table or an alias of it)."""
    return [deliveries.delivered_at.is_(None), deliveries.failed_at.is_(None)]


def due_ids(now: datetime, limit: int) -> Select[int]:
    """Pending rows whose time has come, each the earliest pending one of its lead."""
    earlier = aliased(CrmDelivery)
    held_back = exists().where(earlier.lead_id == CrmDelivery.lead_id, earlier.id < CrmDelivery.id, *_open(earlier))
    return (
        select(CrmDelivery.id)
        .where(*_open(), CrmDelivery.next_attempt_at <= now, ~held_back)
        .order_by(CrmDelivery.id)
        .limit(limit)
    )


def with_status(query: Select[CrmDelivery], status: DeliveryStatus | None) -> Select[CrmDelivery]:
    if status == "delivered":
        return query.where(CrmDelivery.delivered_at.is_not(None))
    if status == "failed":
        return query.where(CrmDelivery.failed_at.is_not(None))
    return query.where(*_open()) if status == "pending" else query


async def of_lead(session: AsyncSession, lead_id: str) -> list[CrmDelivery]:
    """The lead's deliveries, oldest first (as its timeline)."""
    return list(
        await session.scalars(select(CrmDelivery).where(CrmDelivery.lead_id == lead_id).order_by(CrmDelivery.id))
    )


async def list_deliveries(
    session: AsyncSession, *, status: DeliveryStatus | None, lead_id: str | None, limit: int, offset: int
) -> tuple[list[CrmDelivery], int]:
    query = with_status(select(CrmDelivery), status)
    if lead_id is not None:
        query = query.where(CrmDelivery.lead_id == lead_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(query.order_by(CrmDelivery.id.desc()).limit(limit).offset(offset))
    return list(rows), total or 0


def _superseded() -> ColumnElement[bool]:
    """A later delivery of the same lead was delivered, or is on its way (pending, perhaps in flight
    now): it carries the newer state, and this one sent after it would undo it at the CRM."""
    later = aliased(CrmDelivery)
    return exists().where(later.lead_id == CrmDelivery.lead_id, later.id > CrmDelivery.id, later.failed_at.is_(None))


async def superseded(session: AsyncSession, delivery: CrmDelivery) -> bool:
    found = await session.scalar(select(CrmDelivery.id).where(CrmDelivery.id == delivery.id, _superseded()))
    return found is not None


def send_again(delivery: CrmDelivery, now: datetime) -> None:
    """A fresh schedule from now; `last_error` stays until an answer replaces it."""
    delivery.failed_at = None
    delivery.attempts = 0
    delivery.next_attempt_at = now


async def retry_failed(
    session: AsyncSession, *, now: datetime, since: datetime | None, lead_id: str | None
) -> tuple[int, int]:
    """Send failed deliveries again (those that failed at or after `since`); returns (retried, superseded)."""
    query = with_status(select(CrmDelivery), "failed")
    if since is not None:
        query = query.where(CrmDelivery.failed_at >= since)
    if lead_id is not None:
        query = query.where(CrmDelivery.lead_id == lead_id)
    left = await session.scalar(select(func.count()).select_from(query.where(_superseded()).subquery()))
    retried = list(await session.scalars(query.where(~_superseded()).order_by(CrmDelivery.id)))
    for delivery in retried:
        send_again(delivery, now)
    return len(retried), left or 0


# --- writing one ------------------------------------------------------------------------------

CrmWake = Callable[[], None] | None
"""Wakes the CRM webhook sender once a delivery commits; None when no CRM webhook is configured."""


def queue_delivery(
    session: AsyncSession, packet: LeadAssigned | LeadDisqualified, *, at: datetime, wake: Callable[[], None]
) -> None:
    """A CRM webhook delivery of `packet`, due at once (`wake` tells the sender on commit); its
    `webhook-id` derives from the transition's event id."""
    session.add(
        CrmDelivery(
            message_id=f"msg_{packet.event_id}",
            lead_id=packet.lead.lead_id,
            event_type=packet.type,
            payload=body(packet),
            attempts=0,
            next_attempt_at=at,
            created_at=at,
        )
    )
    after_commit(session, wake)


# --- the sender --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Leased:
    id: int
    message_id: str
    body: bytes


class CrmWebhookSender:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        client: WebhookClient,
        url: str,
        secret: str,
        clock: Clock,
        max_attempts: int,
        timeout: timedelta,
        concurrency: int = 16,
        batch_size: int = 200,
        idle_seconds: float = 1.0,
        gather_seconds: float = 0.25,
    ) -> None:
        self.sessions, self.client, self.url, self.secret, self.clock = sessions, client, url, secret, clock
        self.max_attempts, self.batch_size = max_attempts, batch_size
        self.idle_seconds, self.gather_seconds = idle_seconds, gather_seconds
        self.due = asyncio.Event()
        self.timeout, self.concurrency = timeout, concurrency
        self.in_flight = asyncio.Semaphore(concurrency)

    def wake(self) -> None:
        """A delivery has committed: send it now rather than at the next poll."""
        self.due.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.due.clear()
            try:
                sent = await self.deliver_due()
            except Exception:  # the database or a bug: log, back off, keep the loop alive
                log.exception("crm webhook pass failed")
                sent = 0
            if sent < self.batch_size:
                await wait_any(stop, self.due, timeout=self.idle_seconds)
                if self.due.is_set():
                    # Woken by a commit: let the next few commits join this pass. A pass is two write
                    # transactions; one per commit took the write lock from the consumers often enough
                    # to triple the time to assignment at 100 leads/s (bench/speed_to_lead.py).
                    await sleep_or_stop(stop, self.gather_seconds)

    async def deliver_due(self) -> int:
        """Lease what is due, send it, record the answers; returns how many were sent."""
        leased = await self._lease()
        if leased:
            answers = await asyncio.gather(*(self._post(item) for item in leased))
            await self._record(leased, answers)
        return len(leased)

    async def _lease(self) -> list[_Leased]:
        """Push the due rows' next try past the lease and return them, in one short transaction. The
        lease outlasts the pass, which sends them `concurrency` at a time, each for up to `timeout`:
        otherwise another instance would lease (and send) what this one is still working through. The
        body is read as the text stored, so every try sends (and signs) the same bytes unparsed."""
        now = self.clock.now()
        async with transaction(self.sessions) as session:
            ids = list(await session.scalars(due_ids(now, self.batch_size).with_for_update(skip_locked=True)))
            if not ids:
                return []
            lease = (
                update(CrmDelivery)
                .where(CrmDelivery.id.in_(ids))
                .values(next_attempt_at=now + self.timeout * math.ceil(len(ids) / self.concurrency) + LEASE_MARGIN)
                .returning(CrmDelivery.id, CrmDelivery.message_id, cast(CrmDelivery.payload, Text))
                .execution_options(synchronize_session=False)
            )
            rows = (await session.execute(lease)).all()
        return sorted((_Leased(i, m, text.encode()) for i, m, text in rows), key=lambda item: item.id)

    async def _post(self, item: _Leased) -> tuple[int | None, str | None, float | None]:
        """(status, error, retry_after) of one try, with at most `concurrency` tries in flight. Never
        raises: whatever one answer holds, the pass records every other delivery's outcome."""
        try:
            async with self.in_flight:
                headers = standard_webhooks_headers(
                    secret=self.secret, msg_id=item.message_id, now=self.clock.now(), body=item.body
                )
                try:
                    answer = await self.client.post(self.url, body=item.body, headers=headers)
                except Unreachable as exc:
                    return None, _printable(str(exc))[:1000], None
            if answered_2xx(answer.status):
                return answer.status, None, None
            said = _printable(answer.body.strip())[:ERROR_BODY_CHARS]
            error = f"HTTP {answer.status}" + (f": {said}" if said else "")
            return answer.status, error, retry_after_seconds(answer.retry_after, now=self.clock.now())
        except Exception as exc:  # a bug, or an answer nothing above expected: this try failed, not the pass
            log.exception("crm webhook try failed unexpectedly", delivery_id=item.id)
            return None, type(exc).__name__, None

    async def _record(
        self, leased: Sequence[_Leased], answers: Sequence[tuple[int | None, str | None, float | None]]
    ) -> None:
        """Delivered rows in one statement; the (rarer) failures row by row, by their verdict."""
        by_id = {item.id: answer for item, answer in zip(leased, answers, strict=True)}
        delivered = [i for i, (status, _, _) in by_id.items() if answered_2xx(status)]
        failed = {i: answer for i, answer in by_id.items() if not answered_2xx(answer[0])}
        async with transaction(self.sessions) as session:
            now = self.clock.now()
            if delivered:
                done = await session.execute(
                    update(CrmDelivery)
                    .where(CrmDelivery.id.in_(delivered), *_open())  # not one an admin ended meanwhile
                    .values(delivered_at=now, last_error=None, attempts=CrmDelivery.attempts + 1)
                    .returning(CrmDelivery.event_type, CrmDelivery.created_at)
                    .execution_options(synchronize_session=False)
                )
                metrics, recorded = delivery_metrics(), done.all()
                metrics.attempts.labels(outcome="delivered").inc(len(recorded))
                for event_type, created_at in recorded:
                    metrics.seconds.labels(type=event_type).observe((now - created_at).total_seconds())
            if failed:
                query = select(CrmDelivery).where(CrmDelivery.id.in_(failed)).options(load_only(*RECORDED))
                for row in await session.scalars(query.with_for_update()):
                    if status_of(row) == "pending":
                        self._failed_try(row, *failed[row.id], now=now)

    def _failed_try(
        self, row: CrmDelivery, status: int | None, error: str | None, retry_after: float | None, *, now: datetime
    ) -> None:
        row.attempts += 1
        verdict = judge(
            status,
            error=error,
            retry_after=retry_after,
            attempts=row.attempts,
            max_attempts=self.max_attempts,
            jitter=random.uniform(0.9, 1.1),
        )
        delivery_metrics().attempts.labels(outcome=verdict.outcome).inc()
        if verdict.outcome == "failed":
            row.failed_at, row.last_error = now, verdict.error
            log.error("crm webhook gave up", lead_id=row.lead_id, attempts=row.attempts, error=verdict.error)
        else:
            assert verdict.wait is not None
            row.next_attempt_at, row.last_error = now + verdict.wait, verdict.error
