"""A lead through all three services, as a sender, a CRM and an on-call engineer see it."""

from __future__ import annotations

import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.kafka import read_topic
from support.waits import eventually
from webhooks import START, event, send

from baton_contracts import dlq_topic, new_event, parse_event
from baton_contracts.events import EngagementRecorded, EventType
from baton_contracts.topics import Topic
from baton_kit.producer import create_producer

pytestmark = pytest.mark.e2e

ADMIN_KEY = "bk_e2e_admin_" + "k" * 24
KEYS = {"ADMIN_API_KEY": ADMIN_KEY}
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
# A profile that fits the ICP (mid-market software, US, a data leader): fit grade A under the example definitions.
ICP = {"company": "Acme", "title": "VP Data", "country": "US", "employees": 800, "industry": "Software"}


async def lead_state(client: httpx.AsyncClient, lead_id: str) -> str | None:
    response = await client.get(f"/v1/leads/{lead_id}")
    return response.json()["state"] if response.status_code == 200 else None


async def zero_series(client: httpx.AsyncClient) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """The counter series a service exposes at 0, as (name, sorted labels)."""
    text = (await client.get("/metrics")).text
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if family.type == "counter" and sample.name.endswith("_total") and sample.value == 0
    }


async def test_qualified_lead_is_assigned_accepted_and_its_sla_clocks_close(start_stack) -> None:  # type: ignore[no-untyped-def]
    # A 3-second acceptance target: the lead left waiting breaches, the accepted one is met.
    stack = start_stack(definitions={"sla": {"acceptance": {"name": "fast-acceptance", "target_seconds": 3}}}, env=KEYS)
    async with (
        httpx.AsyncClient(base_url=stack.handoff.url, headers=AUTH) as handoff,
        httpx.AsyncClient(base_url=stack.sla.url) as sla,
        httpx.AsyncClient(base_url=stack.scoring.url) as scoring,
    ):
        # Before anything happens, the series the alerts watch with `increase(...) > 0` are there at 0:
        # a series born at 1 would hide the first dead letter or failed page after a start.
        assert await zero_series(handoff) >= {
            ("baton_handoff_routing_queued_total", ()),
            ("baton_handoff_crm_webhooks_total", (("outcome", "failed"),)),
            ("baton_handoff_records_dead_lettered_total", (("reason", "invalid"), ("topic", "lead.scored"))),
        }
        assert await zero_series(scoring) >= {
            ("baton_scoring_records_dead_lettered_total", (("reason", "handler_failed"), ("topic", "lead.engagement"))),
        }
        assert await zero_series(sla) >= {
            ("baton_sla_monitor_alert_deliveries_total", (("channel", "pagerduty"), ("outcome", "dead"))),
            ("baton_sla_monitor_records_dead_lettered_total", (("reason", "invalid"), ("topic", "lead.lifecycle"))),
        }
        response = await send(
            handoff,
            [
                event("lead-hot", "pricing_page_view", 1, email="ana@acme.example", profile=ICP),
                event("lead-hot", "demo_request", 2),
                event(
                    "lead-waiting",
                    "contact_sales",
                    3,
                    email="raj@initech.example",
                    profile={**ICP, "company": "Initech"},
                ),
                event("lead-waiting", "content_download", 4),
                event("lead-cold", "page_view", 5),
            ],
        )
        assert response.status_code == 202
        assert response.json()["accepted"] == 5

        for lead_id in ("lead-hot", "lead-waiting"):
            await eventually(
                lambda lead_id=lead_id: lead_state(handoff, lead_id),
                until=lambda s: s == "assigned",
                timeout=30,
                what=f"{lead_id} assigned",
            )
        await eventually(lambda: lead_state(handoff, "lead-cold"), until=lambda s: s == "known", what="cold known")

        hot = (await handoff.get("/v1/leads/lead-hot")).json()
        assert [(t["from_state"], t["to_state"]) for t in hot["timeline"]] == [
            (None, "known"),
            ("known", "mql"),
            ("mql", "assigned"),
        ]
        # The handoff keeps scoring's score and records which qualification rule fired, with its values.
        assert hot["score"] == (await scoring.get("/v1/leads/lead-hot/score")).json()["score"]
        mql = hot["timeline"][1]["details"]
        assert mql["rule"] in {"matrix", "fast_track"}, mql
        assert mql["fit_grade"] == "A"
        assert hot["qualification"]["outcome"] == "mql"
        assert hot["rep_id"]
        assert all(t["definitions_version"].startswith("sha256:") for t in hot["timeline"])

        clocks = await eventually(
            lambda: sla.get("/v1/leads/lead-hot/clocks"),
            until=lambda r: r.status_code == 200 and len(r.json()["clocks"]) == 1,
            what="acceptance clock opened",
        )
        clock = clocks.json()["clocks"][0]
        assert (clock["kind"], clock["state"], clock["policy"], clock["rep_id"]) == (
            "acceptance",
            "running",
            "fast-acceptance",
            hot["rep_id"],
        )

        accepted = await handoff.post("/v1/leads/lead-hot/accept", json={"rep_id": hot["rep_id"]})
        assert accepted.status_code == 200
        assert accepted.json()["state"] == "sal"
        again = await handoff.post("/v1/leads/lead-hot/accept", json={"rep_id": hot["rep_id"]})
        assert again.status_code == 409
        assert again.headers["content-type"] == "application/problem+json"
        assert again.json()["current_state"] == "sal"

        await eventually(
            lambda: sla.get("/v1/leads/lead-hot/clocks"),
            until=lambda r: r.json()["clocks"][0]["state"] == "met",
            what="hot clock met",
        )
        await eventually(
            lambda: sla.get("/v1/leads/lead-waiting/clocks"),
            until=lambda r: r.status_code == 200 and r.json()["clocks"][0]["state"] == "breached",
            timeout=20,
            what="waiting lead's clock breached",
        )

    sla_events = [parse_event(r.value) for r in await read_topic(stack.bootstrap, Topic.SLA_EVENTS, expect=4)]
    by_lead = {(e.subject, e.type) for e in sla_events}
    assert {
        ("lead-hot", EventType.SLA_CLOCK_STARTED),
        ("lead-hot", EventType.SLA_CLOCK_MET),
        ("lead-waiting", EventType.SLA_CLOCK_STARTED),
        ("lead-waiting", EventType.SLA_CLOCK_BREACHED),
    } <= by_lead
    assert len([e for e in sla_events if e.type == EventType.SLA_CLOCK_BREACHED]) == 1


async def test_bad_webhooks_get_problem_json_and_publish_nothing(start_stack) -> None:  # type: ignore[no-untyped-def]
    stack = start_stack("handoff", env=KEYS)
    async with httpx.AsyncClient(base_url=stack.handoff.url, headers=AUTH) as handoff:
        not_json = await handoff.post(
            "/v1/webhooks/generic", content=b'{"events": [', headers={"content-type": "application/json"}
        )
        missing = await handoff.post("/v1/webhooks/generic", json={"events": [{"external_id": "x", "lead_id": "l"}]})
        naive_time = await handoff.post(
            "/v1/webhooks/generic",
            json={
                "events": [
                    {"external_id": "y", "lead_id": "l", "activity": "page_view", "occurred_at": "2026-11-02T09:00:00"}
                ]
            },
        )
        anonymous = await handoff.post(
            "/v1/webhooks/generic",
            json={"events": [{"external_id": "z", "activity": "page_view", "occurred_at": "2026-11-02T09:00:00Z"}]},
        )
        good = await send(handoff, [event("lead-ok", "page_view", 1)])

    for response in (not_json, missing, naive_time, anonymous):
        assert response.status_code in (400, 422), response.text
        assert response.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in missing.json()["errors"]}
    assert {"events.0.activity", "events.0.occurred_at"} <= fields
    assert any(e["field"].startswith("events.0.occurred_at") for e in naive_time.json()["errors"])
    assert good.status_code == 202

    published = await read_topic(stack.bootstrap, Topic.LEAD_ENGAGEMENT, expect=1, settle=1.0)
    assert [parse_event(r.value).subject for r in published] == ["lead-ok"]


async def test_replayed_webhook_is_accepted_without_a_second_effect(start_stack) -> None:  # type: ignore[no-untyped-def]
    stack = start_stack("scoring", "handoff", env=KEYS)
    batch = [event("lead-r", "webinar_attended", 1), event("lead-r", "content_download", 2)]
    async with (
        httpx.AsyncClient(base_url=stack.handoff.url, headers=AUTH) as handoff,
        httpx.AsyncClient(base_url=stack.scoring.url) as scoring,
    ):
        first = await send(handoff, batch)
        replay = await send(handoff, batch)
        assert (first.status_code, first.json()["accepted"]) == (202, 2)
        assert (replay.status_code, replay.json()["accepted"], replay.json()["duplicates"]) == (202, 0, 2)
        score = await eventually(
            lambda: scoring.get("/v1/leads/lead-r/score"),
            until=lambda r: r.status_code == 200 and r.json()["engagement_score"] > 0,
            what="lead-r scored",
        )
    assert sum(c["count"] for c in score.json()["contributions"]) == 2
    raw = {c["rule"]: (c["count"], c["raw_points"]) for c in score.json()["contributions"] if c["count"]}
    assert raw == {"engagement:webinar_attended": (1, 15), "engagement:content_download": (1, 10)}  # before decay
    assert len(await read_topic(stack.bootstrap, Topic.LEAD_ENGAGEMENT, expect=2, settle=1.0)) == 2


async def test_invalid_record_is_dead_lettered_with_its_reason_and_the_partition_keeps_flowing(start_stack) -> None:  # type: ignore[no-untyped-def]
    stack = start_stack("scoring")
    valid = new_event(
        event_type=EventType.ENGAGEMENT_RECORDED,
        source="/tests",
        subject="lead-x",
        time=START,
        data=EngagementRecorded(lead_id="lead-x", activity="demo_request", occurred_at=START, source="tests"),
    )
    wrong_data = valid.model_dump(mode="json") | {"id": "bad-1", "data": {"lead_id": "lead-x"}}
    producer = create_producer(bootstrap_servers=stack.bootstrap)
    await producer.start()
    try:
        for value in (b"not json at all", json.dumps(wrong_data).encode(), valid.model_dump_json().encode()):
            await producer.send_and_wait(Topic.LEAD_ENGAGEMENT, value, key=b"lead-x")
    finally:
        await producer.stop()

    async with httpx.AsyncClient(base_url=stack.scoring.url) as scoring:
        score = await eventually(
            lambda: scoring.get("/v1/leads/lead-x/score"),
            until=lambda r: r.status_code == 200,
            what="valid event after the poison ones scored",
        )
    assert [(c["rule"], c["raw_points"]) for c in score.json()["contributions"] if c["count"]] == [
        ("engagement:demo_request", 45)
    ]
    dead = await read_topic(stack.bootstrap, dlq_topic(Topic.LEAD_ENGAGEMENT), expect=2)
    assert [r.value for r in dead] == [b"not json at all", json.dumps(wrong_data).encode()]
    assert {r.header("error.reason") for r in dead} == {"invalid"}
    assert "activity" in dead[1].header("error.message")
    assert {r.header("original.topic") for r in dead} == {Topic.LEAD_ENGAGEMENT.value}
