"""Two SLA monitor processes share one database; one is SIGKILLed mid-run. A fake PagerDuty/Alertmanager/Slack
on loopback fails 20% of calls. Every due step is fired once, delivered, and late handling resolves it."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from integration.test_sla_delivery import FakePager
from support.kafka import produce_events, read_topic
from support.waits import eventually

from baton_contracts import new_event, parse_event
from baton_contracts.definitions import EXAMPLE_PATH
from baton_contracts.events import EventType, LeadState, LifecycleChanged
from baton_contracts.topics import Topic
from baton_kit.producer import create_producer

pytestmark = pytest.mark.e2e

LEADS = 24
SLA = {
    "acceptance": {"name": "e2e-acceptance", "target_seconds": 4, "time": "wall"},
    "warnings_percent": [50],
    "escalations": {
        "default": {
            "steps": [
                {"target": "owner", "after_seconds": 0, "channels": ["slack"]},
                {"target": "on_call", "after_seconds": 2, "channels": ["pagerduty", "alertmanager"]},
            ]
        },
        "fast-track": {"steps": []},
    },
    "alerting": {"warning_channels": ["slack"], "breach_channels": ["alertmanager"]},
}


def write_definitions(path: Path) -> Path:
    document = yaml.safe_load(EXAMPLE_PATH.read_text())
    document["sla"] = {**document["sla"], **SLA}
    path.write_text(yaml.safe_dump(document))
    return path


def change(lead: str, to: LeadState, frm: LeadState | None) -> Any:
    data = LifecycleChanged(
        lead_id=lead,
        from_state=frm,
        to_state=to,
        at=datetime.now(UTC),
        actor="system",
        reason="e2e",
        definitions_version="sha256:0",
        rep_id="ana.ortiz",
    )
    return new_event(event_type=EventType.LIFECYCLE_CHANGED, source="/e2e", subject=lead, data=data, time=data.at)


async def test_two_monitors_one_killed_fire_every_step_once_and_resolve_late_handling(  # type: ignore[no-untyped-def]
    broker: str, dialect, make_database_url, start_service, tmp_path: Path
) -> None:
    pager = FakePager(fail_rate=0.2, seed=11)
    try:
        env = {
            "DATABASE_URL": make_database_url(dialect, name="sla"),
            "KAFKA_BOOTSTRAP_SERVERS": broker,
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "DEFINITIONS_PATH": str(write_definitions(tmp_path / "definitions.yaml")),
            "TIMER_MAX_SLEEP_SECONDS": "1",
            "DELIVERY_MAX_BACKOFF_SECONDS": "2",  # a pager failing 20% of calls must not push a retry past the wait
            **pager.env(),
        }
        first = start_service("baton_sla_monitor", env, name="sla-a")
        second = start_service("baton_sla_monitor", env, name="sla-b")

        def delivered() -> dict[str, set[str]]:
            keys: dict[str, set[str]] = defaultdict(set)
            for call in pager.on("/v2/enqueue"):
                keys[call.body["event_action"]].add(call.body["dedup_key"])
            for call in pager.on("/api/v2/alerts"):
                (alert,) = call.body
                keys["am-trigger" if "startsAt" in alert else "am-resolve"].add(
                    f"{alert['labels']['lead_id']}/{alert['labels']['step']}"
                )
            return keys

        leads = [f"lead-{n}" for n in range(LEADS)]
        late = leads[: LEADS // 2]
        producer = create_producer(bootstrap_servers=broker, client_id="e2e")
        await producer.start()
        try:
            await produce_events(
                producer, Topic.LEAD_LIFECYCLE, [change(lead, LeadState.ASSIGNED, LeadState.MQL) for lead in leads]
            )
            async with httpx.AsyncClient(base_url=second.url) as sla:
                await eventually(
                    lambda: sla.get("/v1/clocks/summary"),
                    until=lambda r: sum(r.json()["by_kind"].get("acceptance", {}).values()) == LEADS,
                    timeout=20,
                    what="every clock opened",
                )
            first.kill()  # mid-run: before any warning is due
            await eventually(
                lambda: asyncio.sleep(0, delivered()),
                until=lambda k: len(k["trigger"]) == LEADS,
                timeout=30,
                what="the survivor breached and paged every clock",
            )
            await produce_events(
                producer, Topic.LEAD_LIFECYCLE, [change(lead, LeadState.SAL, LeadState.ASSIGNED) for lead in late]
            )
        finally:
            await producer.stop()

        await eventually(
            lambda: asyncio.sleep(0, delivered()),
            until=lambda k: (
                len(k["trigger"]) == LEADS
                and len(k["resolve"]) == len(late)
                and len(k["am-resolve"]) == 2 * len(late)
                and len(k["am-trigger"]) >= 2 * LEADS  # a retried delivery may still be backing off
            ),
            timeout=45,
            what="every page delivered and late leads resolved",
        )
        keys = delivered()
        assert {k.split("/")[1].split(":")[0] for k in keys["resolve"]} == set(late)
        assert len(keys["am-trigger"]) == 2 * LEADS  # breach and on-call per lead
        assert pager.failed > 0

        records = await read_topic(broker, Topic.SLA_EVENTS, expect=LEADS * 5, timeout=30)
        events = {e.id: e for e in (parse_event(r.value) for r in records)}  # re-publishing keeps the id
        fired: Counter[tuple[str, str, int]] = Counter()
        for e in events.values():
            level = getattr(e.data, "level", 0) or getattr(e.data, "percent", 0)
            fired[(e.data.lead_id, str(e.type), level)] += 1
        for lead in leads:
            assert fired[(lead, EventType.SLA_CLOCK_WARNED, 50)] == 1
            assert fired[(lead, EventType.SLA_CLOCK_BREACHED, 0)] == 1
            assert fired[(lead, EventType.SLA_CLOCK_ESCALATED, 1)] == 1
            assert fired[(lead, EventType.SLA_CLOCK_ESCALATED, 2)] == 1
        met = [e for e in events.values() if e.type == EventType.SLA_CLOCK_MET]
        assert sorted(e.data.lead_id for e in met) == sorted(late)
        assert all(e.data.late for e in met)

        async with httpx.AsyncClient(base_url=second.url) as sla:
            handled = (await sla.get(f"/v1/leads/{late[0]}/clocks")).json()
            (clock,) = handled["clocks"]
            assert (clock["state"], clock["met_late"]) == ("met", True)
            assert [h["step"] for h in clock["history"]] == ["warning_50", "breach", "escalation_1", "escalation_2"]
            waiting = (await sla.get(f"/v1/leads/{leads[-1]}/clocks")).json()["clocks"][0]
            assert waiting["state"] == "breached"
            assert waiting["remaining_business_seconds"] < 0
            report = (await sla.get("/v1/reports/attainment", params={"group_by": "policy"})).json()
            (row,) = report["rows"]
            assert (row["group"], row["clocks"], row["on_time"], row["attainment"]) == ("e2e-acceptance", LEADS, 0, 0.0)
            assert row["p50_wall_seconds"] <= row["p90_wall_seconds"]
    finally:
        pager.close()
