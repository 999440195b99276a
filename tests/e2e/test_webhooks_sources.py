"""Signed and keyed webhook sources through the running services, as HubSpot, Segment and Marketo send them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from support.kafka import read_topic
from support.waits import eventually

from baton_contracts import parse_event
from baton_contracts.topics import Topic
from baton_handoff.webhooks.signatures import hubspot_v3_signature

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parent.parent / "fixtures" / "webhooks"
ADMIN_KEY = "bk_e2e-admin_" + "e" * 32
HUBSPOT_SECRET = "e2e-hubspot-client-secret"
ENV = {"ADMIN_API_KEY": ADMIN_KEY, "WEBHOOK_SECRETS": json.dumps({"hubspot": ["retired-secret", HUBSPOT_SECRET]})}


def hubspot_headers(base_url: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time() * 1000))
    signature = hubspot_v3_signature(
        secret=HUBSPOT_SECRET, method="POST", uri=f"{base_url}/v1/webhooks/hubspot", body=body, timestamp=timestamp
    )
    return {
        "content-type": "application/json",
        "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": timestamp,
    }


async def test_hubspot_segment_and_marketo_deliveries_are_scored_once_each(start_stack) -> None:  # type: ignore[no-untyped-def]
    stack = start_stack("scoring", "handoff", env=ENV)
    hubspot = (FIXTURES / "hubspot_batch.json").read_bytes()
    segment = (FIXTURES / "segment_batch.json").read_bytes()
    marketo = (FIXTURES / "marketo_calls.json").read_bytes()
    keyed = {"content-type": "application/json", "Authorization": f"Bearer {ADMIN_KEY}"}
    async with (
        httpx.AsyncClient(base_url=stack.handoff.url) as handoff,
        httpx.AsyncClient(base_url=stack.scoring.url) as scoring,
    ):
        first = await handoff.post(
            "/v1/webhooks/hubspot", content=hubspot, headers=hubspot_headers(stack.handoff.url, hubspot)
        )
        assert (first.status_code, first.json()["accepted"], first.json()["ignored"]) == (202, 6, 2), first.text
        retried = await handoff.post(
            "/v1/webhooks/hubspot", content=hubspot, headers=hubspot_headers(stack.handoff.url, hubspot)
        )
        assert (retried.status_code, retried.json()["duplicates"]) == (202, 6)
        forged = await handoff.post(
            "/v1/webhooks/hubspot",
            content=hubspot.replace(b"Demo request", b"Demo  request"),
            headers=hubspot_headers(stack.handoff.url, hubspot),
        )
        assert forged.status_code == 401

        tracked = await handoff.post("/v1/webhooks/segment", content=segment, headers=keyed)
        assert (tracked.status_code, tracked.json()["accepted"]) == (202, 4), tracked.text
        called = await handoff.post("/v1/webhooks/marketo", content=marketo, headers=keyed)
        assert (called.status_code, called.json()["accepted"], called.json()["ignored"]) == (202, 5, 1), called.text

        for lead_id, rule in (
            ("hubspot-62515-10451", "engagement:demo_request"),
            ("usr_8f2a61", "engagement:pricing_page_view"),
            ("marketo-1048576", "engagement:demo_request"),
        ):
            score = await eventually(
                lambda lead_id=lead_id: scoring.get(f"/v1/leads/{lead_id}/score"),
                until=lambda r: r.status_code == 200 and r.json()["engagement_score"] > 0,
                timeout=30,
                what=f"{lead_id} scored",
            )
            assert rule in {c["rule"] for c in score.json()["contributions"] if c["count"]}

    records = [parse_event(r.value) for r in await read_topic(stack.bootstrap, Topic.LEAD_ENGAGEMENT, expect=17)]
    # HubSpot 3 engagements + 3 profile updates, Segment 3 + 1, Marketo 5 + 2 (the calls with profile fields)
    assert len(records) == 17
    assert len({r.id for r in records}) == 17
