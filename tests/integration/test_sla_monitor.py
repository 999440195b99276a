"""The SLA monitor's consumer and timer on SQLite and PostgreSQL: steps fire once with two timers racing,
met-late resolves every alert, reassignment restarts acceptance. Frozen clocks: nothing sleeps."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from baton_contracts import CloudEvent, new_event, parse_event
from baton_contracts.definitions import EXAMPLE_PATH, LoadedDefinitions, parse_definitions
from baton_contracts.events import EventType, LeadState, LifecycleChanged
from baton_kit.clock import FrozenClock
from baton_kit.db import create_engine, session_factory, transaction
from baton_kit.metrics import kit_metrics
from baton_kit.migrations import upgrade_to_head
from baton_kit.outbox import Outbox
from baton_sla_monitor.app import MIGRATIONS
from baton_sla_monitor.models import AlertDelivery, Base, SlaClockRecord, SlaStepRecord
from baton_sla_monitor.service import apply_lifecycle
from baton_sla_monitor.timer import SlaTimer

START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York


def definitions(**sla: Any) -> LoadedDefinitions:
    document = yaml.safe_load(EXAMPLE_PATH.read_text())
    document["sla"] = {**document["sla"], **sla}
    return parse_definitions(yaml.safe_dump(document).encode())


FAST = definitions(
    acceptance={"name": "fast-acceptance", "target_seconds": 100, "time": "wall"},
    first_response={"name": "fast-first-response", "target_seconds": 1000, "time": "wall"},
    escalations={
        "default": {
            "steps": [
                {"target": "owner", "after_seconds": 0, "channels": ["slack"]},
                {"target": "on_call", "after_seconds": 50, "channels": ["pagerduty", "alertmanager"]},
            ],
            "reassign_on_breach": True,
            "reassign_after_seconds": 20,
        },
        "fast-track": {"steps": []},
    },
)


class Monitor:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, name: str) -> None:
        self.sessions = sessions
        self.clock = clock
        self.outbox = Outbox(Base.metadata.tables["outbox"])
        self.timer = SlaTimer(
            sessions=sessions, outbox=self.outbox, clock=clock, metrics=kit_metrics(f"sla-test-{name}-{id(self)}")
        )

    async def apply(self, *changes: CloudEvent[Any], loaded: LoadedDefinitions = FAST) -> None:
        async with transaction(self.sessions) as session:
            await apply_lifecycle(
                session,
                list(changes),
                definitions=loaded,
                outbox=self.outbox,
                now=self.clock.now(),
                on_clock_opened=lambda: None,
            )


@pytest.fixture
async def engines(database_url: str) -> AsyncIterator[list[async_sessionmaker[AsyncSession]]]:
    await upgrade_to_head(
        database_url=database_url, script_location=MIGRATIONS, version_table="alembic_version_sla_monitor"
    )
    made = [create_engine(database_url) for _ in range(2)]
    yield [session_factory(e) for e in made]
    for engine in made:
        await engine.dispose()


def lifecycle(
    to: LeadState,
    *,
    at: datetime,
    lead: str = "lead-1",
    rep: str | None = "ana",
    frm: LeadState | None = None,
    reason: str = "test",
) -> CloudEvent[LifecycleChanged]:
    data = LifecycleChanged(
        lead_id=lead,
        from_state=frm,
        to_state=to,
        at=at,
        actor="system",
        reason=reason,
        definitions_version="sha256:0",
        rep_id=rep,
    )
    return new_event(event_type=EventType.LIFECYCLE_CHANGED, source="/test", subject=lead, data=data, time=at)


async def sla_events(sessions: async_sessionmaker[AsyncSession]) -> list[CloudEvent[Any]]:
    table = Base.metadata.tables["outbox"]
    async with sessions() as session:
        rows = (await session.execute(select(table.c.payload).order_by(table.c.id))).scalars().all()
    return [parse_event(p) for p in rows]


async def test_two_timers_racing_fire_each_step_of_each_clock_once(
    engines: list[async_sessionmaker[AsyncSession]],
) -> None:
    clock = FrozenClock(START)
    one, two = Monitor(engines[0], clock, "a"), Monitor(engines[1], clock, "b")
    await one.apply(*[lifecycle(LeadState.ASSIGNED, at=START, lead=f"lead-{n}") for n in range(40)])
    for seconds in (0, 80, 95, 100, 120, 150, 400):
        clock.set(START + timedelta(seconds=seconds))
        await asyncio.gather(one.timer.tick(), two.timer.tick(), one.timer.tick(), two.timer.tick())
    async with engines[0]() as session:
        steps = (await session.scalars(select(SlaStepRecord))).all()
        clocks = (await session.scalars(select(SlaClockRecord))).all()
    per_clock = Counter(s.clock_id for s in steps)
    acceptance = [c for c in clocks if c.kind == "acceptance"]
    assert len(acceptance) == 40
    assert all(per_clock[c.clock_id] == 6 for c in acceptance)  # 80, 95, breach, owner, reassign, on-call
    assert all(per_clock[c.clock_id] == 0 for c in clocks if c.kind == "first_response")  # due at 800 s
    events = await sla_events(engines[0])
    assert len({e.id for e in events}) == len(events)
    kinds = Counter(e.type for e in events)
    assert kinds[EventType.SLA_CLOCK_WARNED] == 80
    assert kinds[EventType.SLA_CLOCK_BREACHED] == 40
    assert kinds[EventType.SLA_CLOCK_ESCALATED] == 80
    assert kinds[EventType.SLA_REASSIGN_REQUESTED] == 40
    breached = [e for e in events if e.type == EventType.SLA_CLOCK_BREACHED]
    assert {e.data.at for e in breached} == {START + timedelta(seconds=100)}


async def test_handled_late_meets_the_clock_and_resolves_every_open_alert(
    engines: list[async_sessionmaker[AsyncSession]],
) -> None:
    clock = FrozenClock(START)
    monitor = Monitor(engines[0], clock, "c")
    await monitor.apply(lifecycle(LeadState.ASSIGNED, at=START))
    clock.set(START + timedelta(seconds=160))
    await monitor.timer.tick()
    clock.set(START + timedelta(seconds=170))
    await monitor.apply(lifecycle(LeadState.SAL, frm=LeadState.ASSIGNED, at=clock.now()))
    await monitor.timer.tick()
    events = await sla_events(engines[0])
    met = next(e for e in events if e.type == EventType.SLA_CLOCK_MET)
    assert met.data.late is True
    assert [e.data.kind for e in events if e.type == EventType.SLA_ALERT_RESOLVED] == ["acceptance"]
    async with engines[0]() as session:
        deliveries = {d.delivery_id: d for d in (await session.scalars(select(AlertDelivery))).all()}
    resolves = sorted(k for k, d in deliveries.items() if d.action == "resolve")
    clock_id = met.data.clock_id
    assert resolves == sorted(
        [
            f"alertmanager/{clock_id}/breach/resolve",
            f"alertmanager/{clock_id}/escalation_2/resolve",
            f"pagerduty/{clock_id}/escalation_2/resolve",
            f"slack/{clock_id}/clock/resolve",
        ]
    )
    page = deliveries[f"pagerduty/{clock_id}/escalation_2/resolve"].alert
    assert page["dedup_key"] == deliveries[f"pagerduty/{clock_id}/escalation_2/trigger"].alert["dedup_key"]
    assert (
        deliveries[f"alertmanager/{clock_id}/breach/resolve"].alert["severity"]
        == deliveries[f"alertmanager/{clock_id}/breach/trigger"].alert["severity"]
    )


async def test_reassignment_restarts_acceptance_and_first_response_keeps_its_due_time(
    engines: list[async_sessionmaker[AsyncSession]],
) -> None:
    clock = FrozenClock(START)
    monitor = Monitor(engines[0], clock, "d")
    await monitor.apply(lifecycle(LeadState.ASSIGNED, at=START))
    clock.set(START + timedelta(seconds=90))
    await monitor.timer.tick()  # warning at 80 fired
    await monitor.apply(
        lifecycle(LeadState.ASSIGNED, frm=LeadState.ASSIGNED, at=clock.now(), rep="ben", reason="reassigned")
    )
    async with engines[0]() as session:
        rows = (await session.scalars(select(SlaClockRecord).order_by(SlaClockRecord.started_at))).all()
    by = {(r.kind, r.state): r for r in rows}
    assert by[("acceptance", "cancelled")].rep_id == "ana"
    new = by[("acceptance", "running")]
    assert (new.rep_id, new.due_at) == ("ben", START + timedelta(seconds=190))
    response = by[("first_response", "running")]
    assert (response.rep_id, response.due_at) == ("ben", START + timedelta(seconds=1000))
    events = await sla_events(engines[0])
    assert [e.type for e in events if e.type == EventType.SLA_ALERT_RESOLVED] == [EventType.SLA_ALERT_RESOLVED]


async def test_a_pause_stops_the_clock_and_the_resume_moves_its_due_time(
    engines: list[async_sessionmaker[AsyncSession]],
) -> None:
    clock = FrozenClock(START)
    monitor = Monitor(engines[0], clock, "e")
    await monitor.apply(lifecycle(LeadState.ASSIGNED, at=START))
    await monitor.apply(lifecycle(LeadState.SAL, frm=LeadState.ASSIGNED, at=START + timedelta(seconds=10)))
    clock.set(START + timedelta(seconds=100))
    await monitor.apply(lifecycle(LeadState.SAL, frm=LeadState.SAL, at=clock.now(), reason="waiting_on_prospect"))
    clock.set(START + timedelta(seconds=5000))
    await monitor.timer.tick()
    await monitor.apply(lifecycle(LeadState.SAL, frm=LeadState.SAL, at=clock.now(), reason="prospect_replied"))
    async with engines[0]() as session:
        response = await session.scalar(select(SlaClockRecord).where(SlaClockRecord.kind == "first_response"))
    assert response is not None
    assert (response.state, response.fired) == ("running", [])
    assert response.paused_seconds == 4900
    assert response.due_at == START + timedelta(seconds=5900)


async def test_a_foundation_clock_keeps_its_breach_after_the_upgrade(database_url: str) -> None:
    from alembic import command
    from sqlalchemy import text

    from baton_kit.migrations import alembic_config

    config = alembic_config(database_url=database_url, script_location=MIGRATIONS, version_table="alembic_version_x")
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:

            def to_0001(sync_connection: Any) -> None:
                config.attributes["connection"] = sync_connection
                command.upgrade(config, "0001")

            await connection.run_sync(to_0001)
            await connection.execute(
                text(
                    "INSERT INTO sla_clocks (clock_id, lead_id, kind, policy, rep_id, definitions_version, started_at,"
                    " due_at, state) VALUES ('c1', 'lead-1', 'acceptance', 'old', 'ana', 'v', :s, :d, 'running')"
                ),
                {
                    "s": START.replace(tzinfo=None) if connection.dialect.name == "sqlite" else START,
                    "d": (START + timedelta(hours=4)).replace(tzinfo=None)
                    if connection.dialect.name == "sqlite"
                    else START + timedelta(hours=4),
                },
            )
        await upgrade_to_head(database_url=database_url, script_location=MIGRATIONS, version_table="alembic_version_x")
        sessions = session_factory(engine)
        clock = FrozenClock(START + timedelta(hours=4))
        monitor = Monitor(sessions, clock, "m")
        await monitor.timer.tick()
        async with sessions() as session:
            row = await session.get(SlaClockRecord, "c1")
        assert row is not None
        assert (row.state, row.target_seconds, row.fired, row.breached_at) == (
            "breached",
            4 * 3600,
            ["breach"],
            START + timedelta(hours=4),
        )
    finally:
        await engine.dispose()


async def test_first_response_recorded_by_the_crm_meets_the_first_response_clock(
    engines: list[async_sessionmaker[AsyncSession]],
) -> None:
    from baton_contracts.events import FirstResponseRecorded

    clock = FrozenClock(START)
    monitor = Monitor(engines[0], clock, "f")
    await monitor.apply(lifecycle(LeadState.ASSIGNED, at=START))
    responded_at = START + timedelta(seconds=300)
    data = FirstResponseRecorded(lead_id="lead-1", rep_id="ana", channel="email", occurred_at=responded_at)
    await monitor.apply(
        new_event(
            event_type=EventType.FIRST_RESPONSE_RECORDED, source="/crm", subject="lead-1", data=data, time=responded_at
        )
    )
    async with engines[0]() as session:
        rows = {r.kind: r for r in (await session.scalars(select(SlaClockRecord))).all()}
    assert (rows["first_response"].state, rows["first_response"].met_late) == ("met", False)
    assert rows["acceptance"].state == "running"
    met = [e for e in await sla_events(engines[0]) if e.type == EventType.SLA_CLOCK_MET]
    assert [e.data.kind for e in met] == ["first_response"]
