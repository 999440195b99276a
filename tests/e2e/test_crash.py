"""Crash safety: SIGKILL a service mid-stream, restart it, and nothing is lost or applied twice."""

from __future__ import annotations

import asyncio
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime

import httpx
import pytest
from support.kafka import produce_events, read_topic
from support.waits import eventually
from webhooks import START, event, send

from baton_contracts import new_event, parse_event
from baton_contracts.definitions import EXAMPLE_PATH, load_definitions
from baton_contracts.events import EngagementRecorded, EventType, LeadState
from baton_contracts.topics import Topic
from baton_kit.producer import create_producer
from baton_scoring.rules import Activity, score_lead

pytestmark = pytest.mark.e2e

ADMIN_KEY = "bk_e2e_admin_" + "k" * 24
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
# Fits the ICP (fit grade A), so a demo request makes every lead an MQL.
ICP = {"company": "Acme", "title": "VP Data", "country": "US", "employees": 800, "industry": "Software"}

SCORING = load_definitions(EXAMPLE_PATH).definitions.scoring
ACTIVITIES = [
    "page_view",
    "email_click",
    "content_download",
    "pricing_page_view",
    "webinar_attended",
    "unsubscribe",
    "form_submit",
    "podcast_listen",
]  # the last one is unknown: 0 points


def metric(text: str, name: str) -> float:
    return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.MULTILINE))


async def applied(service_url: str, prefix: str) -> float:
    try:
        async with httpx.AsyncClient(base_url=service_url, timeout=2) as client:
            return metric((await client.get("/metrics")).text, f"{prefix}_records_applied_total")
    except httpx.TransportError:
        return -1


async def test_scoring_killed_mid_stream_applies_every_event_exactly_once(start_stack) -> None:  # type: ignore[no-untyped-def]
    stack = start_stack("scoring", env={"CONSUMER_MAX_BATCH": "25"})
    leads, per_lead = 120, 60  # 7,200 events: long enough that a kill after the first 300 lands mid-stream
    events, applied_once = [], defaultdict[str, list[Activity]](list)
    for n in range(per_lead):
        for lead in range(leads):
            lead_id = f"crash-{lead:03d}"
            activity = ACTIVITIES[(lead + n) % len(ACTIVITIES)]
            events.append(
                new_event(
                    event_type=EventType.ENGAGEMENT_RECORDED,
                    source="/tests",
                    subject=lead_id,
                    time=START,
                    data=EngagementRecorded(lead_id=lead_id, activity=activity, occurred_at=START, source="tests"),
                )
            )
            applied_once[lead_id].append(Activity(events[-1].id, activity, START))

    async def produce_all() -> None:
        producer = create_producer(bootstrap_servers=stack.bootstrap)
        await producer.start()
        try:
            await produce_events(producer, Topic.LEAD_ENGAGEMENT, events)
        finally:
            await producer.stop()

    # The service consumes while the events are still being produced: kill it early in the stream.
    production = asyncio.create_task(produce_all())
    at_kill = await eventually(
        lambda: applied(stack.scoring.url, "baton_scoring"),
        until=lambda n: n >= 300,
        interval=0.01,
        timeout=60,
        what="300 events applied",
    )
    stack.scoring.kill()
    await production
    assert at_kill < len(events), "the kill must land mid-stream for this test to mean anything"

    stack.scoring.start()
    await stack.scoring.wait_ready_async(60)
    async with httpx.AsyncClient(base_url=stack.scoring.url) as scoring:

        async def all_scores() -> dict[str, tuple[float, int]]:
            result = {}
            for lead_id in applied_once:
                response = await scoring.get(f"/v1/leads/{lead_id}/score")
                if response.status_code == 200:
                    body = response.json()
                    result[lead_id] = (body["score"], sum(c["count"] for c in body["contributions"]))
            return result

        scores = await eventually(
            all_scores,
            until=lambda s: all(v[1] >= per_lead for v in s.values()) and len(s) == leads,
            timeout=90,
            interval=0.5,
            what="all events applied",
        )
    # each lead's score is what the rules give for its events applied once each (decay moves it by < 0.05)
    now = datetime.now(UTC)
    expected = {lead_id: score_lead({}, acts, SCORING, now=now).score for lead_id, acts in applied_once.items()}
    assert {lead_id: s for lead_id, (s, _) in scores.items()} == pytest.approx(expected, abs=0.05)
    assert {count for _, count in scores.values()} == {per_lead}


async def test_handoff_killed_around_mql_and_assignment_assigns_every_lead_exactly_once(start_stack) -> None:  # type: ignore[no-untyped-def]
    stack = start_stack("scoring", "handoff", env={"CONSUMER_MAX_BATCH": "10", "ADMIN_API_KEY": ADMIN_KEY})
    leads = [f"rr-{i:03d}" for i in range(240)]
    async with httpx.AsyncClient(base_url=stack.handoff.url, timeout=10, headers=AUTH) as handoff:

        async def feed() -> None:
            """A sender posting steadily, retrying through the outages."""
            for chunk in range(0, len(leads), 10):
                batch = [
                    e
                    for lead_id in leads[chunk : chunk + 10]
                    for e in (
                        event(
                            lead_id,
                            "pricing_page_view",
                            1,
                            email=f"{lead_id}@initech.example",
                            profile={**ICP, "company": f"Initech {lead_id}"},
                        ),
                        event(lead_id, "demo_request", 2),
                    )
                ]
                assert (await send(handoff, batch)).status_code == 202
                await asyncio.sleep(0.6)

        feeder = asyncio.create_task(feed())

        async def assigned() -> int:
            try:
                return int((await handoff.get("/v1/leads", params={"state": "assigned", "limit": 1})).json()["total"])
            except httpx.TransportError:
                return -1

        threshold = 40
        for _ in range(2):
            seen = await eventually(
                assigned,
                until=lambda n, t=threshold: n >= t,
                interval=0.01,
                timeout=60,
                what=f"{threshold} leads assigned",
            )
            assert seen < len(leads), "the kill must land while leads are still being routed"
            stack.handoff.kill()
            stack.handoff.start()  # no wait for readiness: the next kill lands while it catches up
            threshold = seen + 20

        await feeder
        await eventually(
            assigned, until=lambda n: n == len(leads), timeout=90, interval=0.5, what="every lead assigned"
        )
        stuck = (await handoff.get("/v1/leads", params={"state": "mql"})).json()["total"]
        assert stuck == 0
        timelines = await asyncio.gather(*(handoff.get(f"/v1/leads/{lead_id}") for lead_id in leads))

    for response in timelines:
        lead = response.json()
        transitions = [(t["from_state"], t["to_state"]) for t in lead["timeline"]]
        assert transitions == [(None, "known"), ("known", "mql"), ("mql", "assigned")], lead["lead_id"]

    # What downstream services see: one assignment per lead (a re-published record keeps its id).
    records = await read_topic(stack.bootstrap, Topic.LEAD_LIFECYCLE, expect=3 * len(leads), timeout=30)
    assignments = {
        (e.subject, e.id) for e in map(parse_event, (r.value for r in records)) if e.data.to_state == LeadState.ASSIGNED
    }
    assert Counter(subject for subject, _ in assignments) == Counter({lead_id: 1 for lead_id in leads})
    per_rep = Counter(t.json()["rep_id"] for t in timelines)
    assert max(per_rep.values()) - min(per_rep.values()) <= 1, per_rep
