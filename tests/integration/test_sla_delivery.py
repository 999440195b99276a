"""On-call delivery against fake PagerDuty, Alertmanager, Slack and webhook endpoints: real HTTP servers on
loopback that fail a configurable fraction of calls."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from baton_contracts.definitions import SlaPolicy
from baton_contracts.events import SlaClockKind
from baton_kit.clock import FrozenClock, SystemClock
from baton_kit.db import create_engine, session_factory, transaction
from baton_kit.logging import quiet_third_party_loggers
from baton_kit.migrations import upgrade_to_head
from baton_kit.webhook_client import WebhookClient
from baton_kit.webhooks import standard_webhooks_signature
from baton_sla_monitor.app import MIGRATIONS
from baton_sla_monitor.delivery import ChannelConfig, DeliveryWorker
from baton_sla_monitor.models import AlertDelivery, DeliveryState
from baton_sla_monitor.rules import ClockPlan, LadderStep, SlaClock, due_steps, fire, meet, open_clock
from baton_sla_monitor.service import queue_alerts, queue_resolves

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
ROUTING_KEY = "R0UT1NGKEY0000000000000000000000"
SLACK_PATH = "/services/T000/B000/SLACK-SECRET-TOKEN"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakePager:
    """One loopback server standing in for PagerDuty (`/v2/enqueue`), Alertmanager (`/api/v2/alerts`), Slack and a
    generic webhook. Fails `fail_rate` of calls with `fail_status` (seeded, so a run is repeatable); `received`
    holds only the calls it answered 2xx."""

    fail_rate: float = 0.0
    fail_status: int = 503
    seed: int = 5
    received: list[Received] = field(default_factory=list)
    failed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        pager = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                with pager._lock:
                    failing = pager._random.random() < pager.fail_rate
                    if failing:
                        pager.failed += 1
                    else:
                        pager.received.append(
                            Received(self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw))
                        )
                status = pager.fail_status if failing else (202 if self.path == "/v2/enqueue" else 200)
                self.send_response(status)
                if failing and pager.fail_status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def env(self) -> dict[str, str]:
        """Settings for a monitor process pointed at this fake."""
        return {
            "PAGERDUTY_URL": f"{self.url}/v2/enqueue",
            "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
            "ALERTMANAGER_URL": self.url,
            "SLACK_WEBHOOK_URL": f"{self.url}{SLACK_PATH}",
            "WEBHOOK_URL": f"{self.url}/hooks/baton",
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
            "DELIVERY_BACKOFF_SECONDS": "0.05",
            "DELIVERY_MAX_BACKOFF_SECONDS": "0.5",
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def on(self, path_prefix: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path.startswith(path_prefix)]


@pytest.fixture
def fake_pager() -> Iterator[FakePager]:
    pager = FakePager(fail_rate=0.2)
    yield pager
    pager.close()


def config_for(pager: FakePager, **overrides: Any) -> ChannelConfig:
    values: dict[str, Any] = {
        "pagerduty_url": f"{pager.url}/v2/enqueue",
        "pagerduty_routing_key": SecretStr(ROUTING_KEY),
        "alertmanager_url": pager.url,
        "slack_webhook_url": SecretStr(f"{pager.url}{SLACK_PATH}"),
        "webhook_url": f"{pager.url}/hooks/baton",
        "webhook_secret": SecretStr(WEBHOOK_SECRET),
        "backoff_seconds": 0.01,
        "max_backoff_seconds": 0.05,
        "max_attempts": 30,
        "timeout_seconds": 2.0,
    }
    values.update(overrides)
    return ChannelConfig(**values)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade_to_head(database_url=database_url, script_location=MIGRATIONS, version_table="alembic_version_sla")
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


PLAN = ClockPlan(
    warnings_percent=(80,),
    warning_channels=("slack",),
    breach_channels=("slack", "alertmanager", "webhook"),
    ladder=(LadderStep("on_call", 0, ("pagerduty",)),),
)


async def queue_breached_clock(sessions: async_sessionmaker[AsyncSession], lead: str) -> list[str]:
    """A clock whose warning, breach and on-call page are due: queue their alerts like the timer does."""
    return [step for step in (await breached_clock(sessions, lead)).fired]


async def breached_clock(sessions: async_sessionmaker[AsyncSession], lead: str) -> SlaClock:
    """`queue_breached_clock`, returning the clock as the timer leaves it."""
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    clock = open_clock(
        lead_id=lead,
        kind=SlaClockKind.ACCEPTANCE,
        policy=SlaPolicy(name="p", target_seconds=60),
        rep_id="ana",
        at=start,
        cause_event_id="e1",
        plan=PLAN,
    )
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    async with transaction(sessions) as session:
        for step in due_steps(clock, now=now):
            clock = fire(clock, step, now=now)
            await queue_alerts(session, clock=clock, step=step, action="trigger", now=now)
    return clock


async def run_until_settled(worker: DeliveryWorker, sessions: async_sessionmaker[AsyncSession]) -> None:
    client = WebhookClient(timeout_seconds=2.0)
    try:
        for _ in range(400):
            await worker.pass_once(client)
            async with sessions() as session:
                pending = (
                    await session.scalars(select(AlertDelivery).where(AlertDelivery.state == DeliveryState.PENDING))
                ).all()
            if not pending:
                return
            await asyncio.sleep(0.01)  # the deliveries' real backoff (tens of ms), not SLA clock logic
    finally:
        await client.aclose()
    raise AssertionError("deliveries still pending")


async def test_every_alert_is_delivered_despite_20_percent_failures_with_channel_formats(
    sessions: async_sessionmaker[AsyncSession], fake_pager: FakePager
) -> None:
    steps = []
    for n in range(8):
        steps = await queue_breached_clock(sessions, f"lead-{n}")
    assert steps == ["warning_80", "breach", "escalation_1"]
    worker = DeliveryWorker(sessions=sessions, clock=SystemClock(), config=config_for(fake_pager))
    await run_until_settled(worker, sessions)

    assert fake_pager.failed > 0
    async with sessions() as session:
        rows = (await session.scalars(select(AlertDelivery))).all()
    assert {r.state for r in rows} == {DeliveryState.SENT}
    assert len(rows) == 8 * 5  # warning→slack; breach→slack, alertmanager, webhook; on-call→pagerduty

    pages = fake_pager.on("/v2/enqueue")
    assert sorted(p.body["dedup_key"] for p in pages) == sorted(
        f"baton-sla/lead-{n}:acceptance:e1/escalation_1" for n in range(8)
    )
    page = pages[0].body
    assert (page["routing_key"], page["event_action"], page["payload"]["severity"]) == (
        ROUTING_KEY,
        "trigger",
        "critical",
    )
    assert {"lead_id", "rep_id", "policy", "due_at"} <= set(page["payload"]["custom_details"])

    (alert,) = fake_pager.on("/api/v2/alerts")[0].body
    assert alert["labels"]["alertname"] == "BatonSlaStep"
    # firing until Baton resolves it: not ended by Alertmanager's resolve_timeout (5 minutes by default)
    firing_for = datetime.fromisoformat(alert["endsAt"]) - datetime.fromisoformat(alert["startsAt"])
    assert firing_for >= timedelta(days=7)

    hook = fake_pager.on("/hooks/baton")[0]
    signed = standard_webhooks_signature(
        secret=WEBHOOK_SECRET,
        msg_id=hook.headers["webhook-id"],
        timestamp=hook.headers["webhook-timestamp"],
        body=json.dumps(hook.body, separators=(",", ":")).encode(),
    )
    assert hook.headers["webhook-signature"] == signed
    assert hook.body["type"] == "baton.sla.alert_triggered"
    assert len(fake_pager.on(SLACK_PATH)) == 16


async def test_last_failed_try_leaves_a_dead_letter_without_secrets(
    sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the services' default level
    quiet_third_party_loggers("INFO")  # as `configure_logging` does at start-up
    pager = FakePager(fail_rate=1.0, fail_status=500)
    try:
        await queue_breached_clock(sessions, "lead-dead")
        worker = DeliveryWorker(sessions=sessions, clock=SystemClock(), config=config_for(pager, max_attempts=3))
        await run_until_settled(worker, sessions)
    finally:
        pager.close()
    async with sessions() as session:
        rows = (await session.scalars(select(AlertDelivery))).all()
    assert {(r.state, r.attempts, r.last_error) for r in rows} == {(DeliveryState.DEAD, 3, "HTTP 500")}
    assert pager.failed == 3 * len(rows)
    assert "SLACK-SECRET-TOKEN" not in caplog.text
    assert ROUTING_KEY not in caplog.text


async def test_a_refusal_is_dead_lettered_at_once_and_429_is_retried(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    refusing = FakePager(fail_rate=1.0, fail_status=400)
    throttling = FakePager(fail_rate=0.5, fail_status=429)
    try:
        await queue_breached_clock(sessions, "lead-x")
        worker = DeliveryWorker(
            sessions=sessions,
            clock=SystemClock(),
            config=config_for(throttling, pagerduty_url=f"{refusing.url}/v2/enqueue"),
        )
        await run_until_settled(worker, sessions)
    finally:
        refusing.close()
        throttling.close()
    async with sessions() as session:
        rows = {r.channel: r for r in (await session.scalars(select(AlertDelivery))).all()}
    assert (rows["pagerduty"].state, rows["pagerduty"].attempts, rows["pagerduty"].last_error) == (
        DeliveryState.DEAD,
        1,
        "HTTP 400",
    )
    assert rows["alertmanager"].state == DeliveryState.SENT


async def test_unconfigured_channels_are_skipped(sessions: async_sessionmaker[AsyncSession]) -> None:
    await queue_breached_clock(sessions, "lead-s")
    worker = DeliveryWorker(sessions=sessions, clock=SystemClock(), config=ChannelConfig())
    await run_until_settled(worker, sessions)
    async with sessions() as session:
        states = {r.state for r in (await session.scalars(select(AlertDelivery))).all()}
    assert states == {DeliveryState.SKIPPED}


async def test_a_resolve_waits_for_the_alerts_it_resolves_when_they_failed_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The lead is handled while its page is waiting to be retried: PagerDuty must get the trigger first,
    or its incident stays open; every channel gets a clock's alerts before their resolve."""
    clock = await breached_clock(sessions, "lead-late")
    wall = FrozenClock(datetime(2026, 11, 23, 10, 0, 1, tzinfo=UTC))
    pager = FakePager(fail_rate=1.0, fail_status=503)  # down for the first try
    worker = DeliveryWorker(
        sessions=sessions, clock=wall, config=config_for(pager, backoff_seconds=60, max_backoff_seconds=60)
    )
    client = WebhookClient(timeout_seconds=2.0)
    try:
        await worker.pass_once(client)
        pager.fail_rate = 0.0
        wall.advance(timedelta(seconds=5))  # the rep accepts the lead: the clock stops, resolves queued
        async with transaction(sessions) as session:
            await queue_resolves(session, clock=meet(clock, at=wall.now()), now=wall.now())
        await worker.pass_once(client)
        early = list(pager.received)
        wall.advance(timedelta(minutes=2))  # past the failed alerts' retry
        for _ in range(5):
            await worker.pass_once(client)
    finally:
        await client.aclose()
        pager.close()
    assert early == []  # nothing resolved before its alert is out
    pages = [(p.body["event_action"], p.body["dedup_key"]) for p in pager.on("/v2/enqueue")]
    dedup_key = "baton-sla/lead-late:acceptance:e1/escalation_1"
    assert pages == [("trigger", dedup_key), ("resolve", dedup_key)]
    resolving = {
        "/api/v2/alerts": lambda body: "startsAt" not in body[0],
        SLACK_PATH: lambda body: "resolved" in body["text"],
    }
    for path, is_resolve in resolving.items():
        order = [is_resolve(call.body) for call in pager.on(path)]
        assert order == sorted(order) and order[-1] and not order[0], (path, order)  # alerts, then resolves
    async with sessions() as session:
        states = {r.state for r in (await session.scalars(select(AlertDelivery))).all()}
    assert states == {DeliveryState.SENT}
