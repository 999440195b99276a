"""Webhook ingestion through the handoff API in-process (its real lifespan: migrations, relay, consumer),
against both databases and the real broker, with a frozen clock for signature windows.

Each format is sent as its sender would (realistic bodies from tests/fixtures/webhooks/, real
signatures); what was stored is read back from the handoff's own outbox and receipts, and what was
published from `lead.engagement` on the broker.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from support.databases import PostgresAdmin, database_name
from support.waits import eventually

from baton_contracts import Topic, parse_event
from baton_contracts.events import EngagementRecorded, EventType, ProfileUpdated
from baton_handoff.app import create_app
from baton_handoff.settings import HandoffSettings
from baton_handoff.webhooks.formats import CLOUDEVENTS_BATCH, CLOUDEVENTS_JSON
from baton_handoff.webhooks.rules import lead_id_from_email
from baton_handoff.webhooks.signatures import hubspot_v3_signature
from baton_kit.clock import FrozenClock
from baton_kit.db import after_commit
from baton_kit.webhooks import standard_webhooks_signature

NOW = datetime(2026, 11, 23, 9, 45, tzinfo=UTC)
BASE = "https://baton.example"
FIXTURES = Path(__file__).parent.parent / "fixtures" / "webhooks"
HUBSPOT_SECRET = "7d3c2b1a-hubspot-client-secret"
OLD_WHSEC = "whsec_" + base64.b64encode(b"old-secret-old-secret-old-secret").decode()
NEW_WHSEC = "whsec_" + base64.b64encode(b"new-secret-new-secret-new-secret").decode()
ADMIN_KEY = "bk_test-admin_" + "k" * 32
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}  # generic, Segment and unsigned CloudEvents need `ingest`


@dataclass
class Handoff:
    app: FastAPI
    client: httpx.AsyncClient
    clock: FrozenClock
    committed: list[bytes] = field(default_factory=list)  # outbox payloads, in commit order

    def record_outbox(self) -> None:
        """Keep every payload the service commits to its outbox (the relay deletes rows once published)."""
        outbox = self.app.state.runtime.outbox
        add_many = outbox.add_many

        async def recording(session: Any, *, topic: str, rows: Any, now: datetime) -> None:
            await add_many(session, topic=topic, rows=rows, now=now)
            after_commit(session, lambda: self.committed.extend(payload for _, _, payload in rows))

        outbox.add_many = recording

    async def count(self, table: str, where: str = "1=1") -> int:
        async with self.app.state.runtime.sessions() as session:
            return int(await session.scalar(sa.text(f"SELECT count(*) FROM {table} WHERE {where}")) or 0)

    async def outbox(self) -> list[Any]:
        """The events the service committed to its outbox, in commit order."""
        return [parse_event(payload) for payload in self.committed]

    async def hubspot(
        self,
        body: bytes,
        *,
        secret: str = HUBSPOT_SECRET,
        signed_at: datetime | None = None,
        path: str = "/v1/webhooks/hubspot",
    ) -> httpx.Response:
        timestamp = str(int((signed_at or self.clock.now()).timestamp() * 1000))
        signature = hubspot_v3_signature(secret=secret, method="POST", uri=BASE + path, body=body, timestamp=timestamp)
        return await self.client.post(
            path,
            content=body,
            headers={
                "content-type": "application/json",
                "X-HubSpot-Signature-v3": signature,
                "X-HubSpot-Request-Timestamp": timestamp,
            },
        )

    async def standard(
        self,
        source: str,
        body: bytes,
        *,
        msg_id: str,
        secret: str = NEW_WHSEC,
        path: str = "standard",
        content_type: str = "application/json",
        extra: dict[str, str] | None = None,
    ) -> httpx.Response:
        timestamp = str(int(self.clock.now().timestamp()))
        signature = standard_webhooks_signature(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body)
        return await self.client.post(
            f"/v1/webhooks/{path}/{source}",
            content=body,
            headers={
                "content-type": content_type,
                "webhook-id": msg_id,
                "webhook-timestamp": timestamp,
                "webhook-signature": signature,
                **(extra or {}),
            },
        )


@asynccontextmanager
async def handoff_service(database_url: str, bootstrap: str, **settings: Any) -> AsyncIterator[Handoff]:
    clock = FrozenClock(NOW)
    config = HandoffSettings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        consumer_group=f"test-handoff-{uuid.uuid4().hex[:8]}",
        kafka_session_timeout_ms=2_000,
        webhook_secrets={
            "hubspot": [HUBSPOT_SECRET],
            "forms-app": [OLD_WHSEC, NEW_WHSEC],
            "webinar-platform": [NEW_WHSEC],
        },
        webhook_public_base_url=BASE,
        admin_api_key=ADMIN_KEY,
        **settings,
    )
    app = create_app(config, clock=clock)
    # Starlette re-raises an error after its catch-all handler answered (503 for an outage); a
    # server logs it, the transport must not turn it into the client's exception.
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url=BASE, headers=AUTH
        ) as client,
    ):
        handoff = Handoff(app=app, client=client, clock=clock)
        handoff.record_outbox()
        yield handoff


@pytest.fixture
async def handoff(database_url: str, kafka_bootstrap: str) -> AsyncIterator[Handoff]:
    async with handoff_service(database_url, kafka_bootstrap) as service:
        yield service


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def unique_hubspot_batch(portal: int) -> bytes:
    """The HubSpot sample with its own portal and event ids, so tests sharing the broker never collide."""
    events = json.loads(fixture("hubspot_batch.json"))
    for event in events:
        event["portalId"] = portal
        event["eventId"] = event["eventId"] * 1000 + portal % 1000
    return json.dumps(events).encode()


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    if field is not None:
        assert field in problem["detail"], problem
    return problem


# ---------------------------------------------------------------------------------------------
# Signed sources


async def test_signed_hubspot_batch_is_stored_once_and_a_replayed_delivery_has_no_second_effect(
    handoff: Handoff,
) -> None:
    body = fixture("hubspot_batch.json")
    first = await handoff.hubspot(body)
    assert first.status_code == 202, first.text
    assert first.json() == {
        "accepted": 6,
        "duplicates": 0,
        "ignored": 2,
        "lead_ids": ["hubspot-62515-10451", "hubspot-62515-20987"],
    }
    rows = len(handoff.committed)
    events = await handoff.outbox()
    kinds = sorted((e.type.value, getattr(e.data, "activity", None)) for e in events)
    assert kinds == sorted(
        [
            ("baton.engagement.recorded", "contact_created"),
            ("baton.profile.updated", None),
            ("baton.profile.updated", None),
            ("baton.profile.updated", None),
            ("baton.engagement.recorded", "demo_request"),
            ("baton.engagement.recorded", "unsubscribe"),
        ]
    )
    profile = next(e.data for e in events if isinstance(e.data, ProfileUpdated) and e.data.email)
    assert (profile.email, profile.source) == ("maria.lopez@acme-analytics.example", "hubspot")

    handoff.clock.advance(timedelta(minutes=2))  # HubSpot's retry: same events, a fresh signature
    again = await handoff.hubspot(body)
    assert again.status_code == 202
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 6)
    assert len(handoff.committed) == rows  # the retry committed nothing new


async def test_an_event_naming_only_an_email_joins_the_lead_that_email_belongs_to(handoff: Handoff) -> None:
    def event(n: int, email: str, lead_id: str | None = None) -> dict[str, Any]:
        named = {"lead_id": lead_id} if lead_id else {}
        return {
            "external_id": f"id-{n}",
            "email": email,
            "activity": "page_view",
            "occurred_at": f"2026-11-23T09:0{n}:00Z",
            **named,
        }

    async def leads_of(*events: dict[str, Any]) -> list[str]:
        answer = await handoff.client.post(
            "/v1/webhooks/generic", headers=AUTH, json={"source": "web", "events": list(events)}
        )
        assert answer.status_code == 202, answer.text
        return answer.json()["lead_ids"]

    # A CRM's contact first, then the same person by email only (in other case): one lead.
    assert await leads_of(event(1, "dana@corvid.example", lead_id="crm-dana")) == ["crm-dana"]
    assert await leads_of(event(2, "Dana@Corvid.EXAMPLE")) == ["crm-dana"]
    # In one call, the sender's own id owns a new email even when an email-only event comes first.
    assert await leads_of(event(3, "raj@initech.example"), event(4, "raj@initech.example", lead_id="crm-raj")) == [
        "crm-raj"
    ]
    # Known first by email only, the person keeps that lead for email-only events; a sender's own id
    # for them is its own lead (the first seen owns the address).
    first = await leads_of(event(5, "li@globex.example"))
    assert await leads_of(event(6, "li@globex.example", lead_id="crm-li")) == ["crm-li"]
    assert await leads_of(event(7, "li@globex.example")) == first


async def test_an_ingest_key_cannot_send_events_in_a_signed_sources_name(handoff: Handoff) -> None:
    """Else it could store events as HubSpot (or a signed Standard Webhooks source) and, by using the
    real events' ids first, make the genuine signed ones duplicates."""
    body = fixture("hubspot_batch.json")
    event_id = str(json.loads(body)[0]["eventId"])
    spoofed = {"external_id": event_id, "lead_id": "hubspot-62515-10451", "activity": "demo_request"}
    answers = [
        await handoff.client.post(
            "/v1/webhooks/generic",
            headers=AUTH,
            json={"source": source, "events": [{**spoofed, "occurred_at": "2026-11-23T09:00:00Z"}]},
        )
        for source in ("hubspot", "forms-app", "segment")
    ]
    genuine = await handoff.hubspot(body)
    for answer in answers:
        assert assert_problem(answer, 422)["type"].endswith("/reserved-source")
        assert answer.json()["field"] == "source"
    assert genuine.status_code == 202
    assert (genuine.json()["accepted"], genuine.json()["duplicates"]) == (6, 0)


async def test_hubspot_refuses_a_bad_signature_401_and_a_stale_one_400_and_stores_nothing(handoff: Handoff) -> None:
    body = fixture("hubspot_batch.json")
    forged = await handoff.hubspot(body, secret="not-the-client-secret")
    assert assert_problem(forged, 401)["type"].endswith("/invalid-signature")
    unsigned = await handoff.client.post("/v1/webhooks/hubspot", content=body)
    assert "X-HubSpot-Signature-v3" in assert_problem(unsigned, 401)["detail"]
    stale = await handoff.hubspot(body, signed_at=NOW - timedelta(minutes=6))
    assert assert_problem(stale, 400)["type"].endswith("/stale-timestamp")
    tampered = await handoff.client.post(
        "/v1/webhooks/hubspot", content=body + b" ", headers=(await _signed_headers(handoff, body))
    )
    assert_problem(tampered, 401)
    assert await handoff.count("webhook_receipts") == 0


async def _webhook_counts(handoff: Handoff) -> Counter[tuple[str, str, str]]:
    text = (await handoff.client.get("/metrics")).text
    counts: Counter[tuple[str, str, str]] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "baton_handoff_webhook_responses_total":
                counts["response", sample.labels["format"], sample.labels["status"]] += int(sample.value)
            elif sample.name == "baton_handoff_webhook_events_total":
                counts["events", sample.labels["format"], sample.labels["outcome"]] += int(sample.value)
    return counts


async def test_metrics_count_webhook_responses_by_status_and_events_by_outcome(handoff: Handoff) -> None:
    before = await _webhook_counts(handoff)  # the registry is the process's: earlier tests counted too
    body = fixture("hubspot_batch.json")
    assert (await handoff.hubspot(body)).status_code == 202
    handoff.clock.advance(timedelta(minutes=2))
    assert (await handoff.hubspot(body)).status_code == 202  # the sender's retry: all duplicates
    assert (await handoff.hubspot(body, secret="rotated-on-one-side-only")).status_code == 401
    too_big = await handoff.client.post("/v1/webhooks/generic", content=b"[" * 100, headers=AUTH)
    assert 400 <= too_big.status_code < 500  # refused (too deep) before any endpoint code ran

    counted = await _webhook_counts(handoff)
    counted.subtract(before)
    assert {key: n for key, n in counted.items() if n} == {
        ("response", "hubspot", "202"): 2,
        ("response", "hubspot", "401"): 1,
        ("response", "generic", str(too_big.status_code)): 1,
        ("events", "hubspot", "accepted"): 6,
        ("events", "hubspot", "duplicate"): 6,
        ("events", "hubspot", "ignored"): 4,
    }


async def _signed_headers(handoff: Handoff, body: bytes) -> dict[str, str]:
    timestamp = str(int(handoff.clock.now().timestamp() * 1000))
    signature = hubspot_v3_signature(
        secret=HUBSPOT_SECRET, method="POST", uri=BASE + "/v1/webhooks/hubspot", body=body, timestamp=timestamp
    )
    return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp}


async def test_standard_webhooks_accept_old_and_new_secrets_during_rotation_and_dedupe_on_webhook_id(
    handoff: Handoff,
) -> None:
    body = fixture("standard_webhook_form.json")
    signed_old = await handoff.standard("forms-app", body, msg_id="msg_2Lh9Old", secret=OLD_WHSEC)
    signed_new = await handoff.standard("forms-app", body, msg_id="msg_2Lh9New", secret=NEW_WHSEC)
    assert (signed_old.status_code, signed_new.status_code) == (202, 202)
    replay = await handoff.standard("forms-app", body, msg_id="msg_2Lh9New")
    assert (replay.status_code, replay.json()["duplicates"], replay.json()["accepted"]) == (202, 1, 0)
    engagements = [e.data for e in await handoff.outbox() if e.type == EventType.ENGAGEMENT_RECORDED]
    assert [(e.external_id, e.activity, e.source) for e in engagements] == [
        ("msg_2Lh9Old", "contact_sales", "forms-app"),
        ("msg_2Lh9New", "contact_sales", "forms-app"),
    ]
    assert engagements[0].lead_id == lead_id_from_email("maria.lopez@acme-analytics.example")

    assert_problem(await handoff.standard("forms-app", body, msg_id="m", secret="whsec_" + "QUJD" * 8), 401)
    handoff.clock.advance(timedelta(minutes=10))
    signed_then = await handoff.client.post(
        "/v1/webhooks/standard/forms-app",
        content=body,
        headers={
            "webhook-id": "late",
            "webhook-timestamp": str(int(NOW.timestamp())),
            "webhook-signature": standard_webhooks_signature(
                secret=NEW_WHSEC, msg_id="late", timestamp=str(int(NOW.timestamp())), body=body
            ),
        },
    )
    assert_problem(signed_then, 400)
    assert_problem(await handoff.standard("nobody", body, msg_id="m"), 404)


async def test_cloudevents_structured_batch_and_binary_modes_dedupe_on_source_and_id(handoff: Handoff) -> None:
    structured = await handoff.standard(
        "webinar-platform",
        fixture("cloudevent_webinar.json"),
        msg_id="d1",
        path="cloudevents",
        content_type=CLOUDEVENTS_JSON,
    )
    assert structured.json()["accepted"] == 1, structured.text
    batch = await handoff.standard(
        "webinar-platform",
        fixture("cloudevents_batch.json"),
        msg_id="d2",
        path="cloudevents",
        content_type=CLOUDEVENTS_BATCH,
    )
    assert (batch.status_code, batch.json()["accepted"], batch.json()["ignored"]) == (202, 2, 1)
    resent = await handoff.standard(
        "webinar-platform",
        fixture("cloudevent_webinar.json"),
        msg_id="d3",
        path="cloudevents",
        content_type=CLOUDEVENTS_JSON,
    )
    assert resent.json()["duplicates"] == 1  # a new delivery id, but the same CloudEvents source + id

    unsigned_source = "trials"  # no secret configured: accepted unsigned (API keys will guard it)
    binary = await handoff.client.post(
        f"/v1/webhooks/cloudevents/{unsigned_source}",
        content=fixture("cloudevent_binary_data.json"),
        headers={
            "content-type": "application/json",
            "ce-specversion": "1.0",
            "ce-id": "evt-91",
            "ce-source": "/crm/trials",
            "ce-type": "trial.started",
            "ce-time": "2026-11-23T09:44:00Z",
        },
    )
    assert binary.status_code == 202, binary.text
    assert binary.json()["lead_ids"] == ["crm-00Q5e000003kLmN"]
    unsigned_webinar = await handoff.client.post(
        "/v1/webhooks/cloudevents/webinar-platform",
        content=fixture("cloudevent_webinar.json"),
        headers={"content-type": CLOUDEVENTS_JSON},
    )
    assert_problem(unsigned_webinar, 401)
    assert_problem(
        await handoff.client.post(
            f"/v1/webhooks/cloudevents/{unsigned_source}", content=b"hello", headers={"content-type": "text/plain"}
        ),
        415,
    )


async def test_segment_batch_maps_calls_and_ignores_anonymous_ones(handoff: Handoff) -> None:
    anonymous = await handoff.client.post(
        "/v1/webhooks/segment", content=fixture("segment_batch.json"), headers={"Authorization": ""}
    )
    assert_problem(anonymous, 401)
    response = await handoff.client.post(
        "/v1/webhooks/segment", content=fixture("segment_batch.json"), headers={"content-type": "application/json"}
    )
    assert response.status_code == 202, response.text
    assert (response.json()["accepted"], response.json()["ignored"]) == (4, 2)
    activities = sorted(e.data.activity for e in await handoff.outbox() if isinstance(e.data, EngagementRecorded))
    assert activities == ["demo_request", "pricing_page_view", "webinar_replay_watched"]


async def test_marketo_calls_need_an_ingest_key_and_a_repeat_within_the_minute_counts_once(handoff: Handoff) -> None:
    call = json.dumps(json.loads(fixture("marketo_calls.json"))[0]).encode()
    headers = {"content-type": "application/json"}
    anonymous = await handoff.client.post(
        "/v1/webhooks/marketo", content=call, headers={**headers, "Authorization": ""}
    )
    assert_problem(anonymous, 401)

    first = await handoff.client.post("/v1/webhooks/marketo", content=call, headers=headers)
    assert first.status_code == 202, first.text
    handoff.clock.advance(timedelta(seconds=10))
    retried = await handoff.client.post("/v1/webhooks/marketo", content=call, headers=headers)
    handoff.clock.advance(timedelta(minutes=2))
    again = await handoff.client.post("/v1/webhooks/marketo", content=call, headers=headers)
    assert [(r.json()["accepted"], r.json()["duplicates"]) for r in (first, retried, again)] == [(1, 0), (0, 1), (1, 0)]

    engagement = [e for e in await handoff.outbox() if isinstance(e.data, EngagementRecorded)]
    assert [(e.data.lead_id, e.data.activity, e.data.occurred_at) for e in engagement] == [
        ("marketo-1048576", "demo_request", NOW),
        ("marketo-1048576", "demo_request", NOW + timedelta(seconds=10, minutes=2)),
    ]
    profiles = [e.data for e in await handoff.outbox() if isinstance(e.data, ProfileUpdated)]
    assert profiles and (profiles[0].company, profiles[0].employees) == ("Acme Analytics", 420)

    handoff.clock.advance(timedelta(minutes=1))
    batch = await handoff.client.post("/v1/webhooks/marketo", content=fixture("marketo_calls.json"), headers=headers)
    assert (batch.status_code, batch.json()["accepted"], batch.json()["ignored"]) == (202, 5, 1), batch.text
    not_json_object = await handoff.client.post("/v1/webhooks/marketo", content=b'"hello"', headers=headers)
    assert_problem(not_json_object, 422)


# ---------------------------------------------------------------------------------------------
# Limits and errors


async def test_limits_and_errors_are_problem_json_naming_the_field(database_url: str, kafka_bootstrap: str) -> None:
    async with handoff_service(
        database_url,
        kafka_bootstrap,
        webhook_max_body_bytes=4096,
        webhook_max_json_depth=8,
        api_max_body_bytes=8192,
        max_webhook_events=3,
        webhook_rate_per_second=0.01,
        webhook_rate_burst=8,
    ) as handoff:
        declared = await handoff.client.post(
            "/v1/webhooks/segment", content=b"{" + b" " * 5000 + b"}", headers={"content-type": "application/json"}
        )
        assert assert_problem(declared, 413)["field"] == "body"
        # Every other route has limits too, applied before the key is checked or the body parsed.
        nobody = {"Authorization": "", "content-type": "application/json"}
        big = await handoff.client.post(
            "/v1/leads/l/accept", content=b'{"note": "' + b"x" * 9000 + b'"}', headers=nobody
        )
        deep_put = await handoff.client.put("/v1/reps/r", content=b"[" * 1000 + b"]" * 1000, headers=nobody)
        assert assert_problem(big, 413)["limit_bytes"] == 8192
        assert assert_problem(deep_put, 400)["field"] == "body"

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: refused once past the limit
            for _ in range(100):
                yield b" " * 1024

        streamed = await handoff.client.post("/v1/webhooks/generic", content=chunks())
        assert_problem(streamed, 413)

        deep = {
            "source": "web",
            "events": [
                {
                    "external_id": "d",
                    "lead_id": "l",
                    "activity": "page_view",
                    "occurred_at": "2026-11-23T09:00:00Z",
                    "properties": {"x": [[[[[[[[1]]]]]]]]},
                }
            ],
        }
        assert assert_problem(await handoff.client.post("/v1/webhooks/generic", json=deep), 400)["field"] == "body"

        malformed = await handoff.client.post(
            "/v1/webhooks/segment", content=b'{"type": "track",', headers={"content-type": "application/json"}
        )
        assert assert_problem(malformed, 400)["type"].endswith("/malformed-json")

        no_id = await handoff.client.post(
            "/v1/webhooks/segment", json={"type": "track", "event": "Demo Requested", "userId": "u1"}
        )
        assert assert_problem(no_id, 422, field="messageId")["errors"][0]["field"] == "body.messageId"

        bad_time = await handoff.client.post(
            "/v1/webhooks/segment",
            json={"type": "track", "event": "Demo Requested", "userId": "u1", "messageId": "m1", "timestamp": "soon"},
        )
        assert assert_problem(bad_time, 422)["errors"][0]["field"] == "timestamp|originalTimestamp|sentAt"

        no_key = await handoff.client.post(
            "/v1/webhooks/generic",
            headers={"Authorization": ""},
            json={
                "source": "web",
                "events": [
                    {"external_id": "k", "lead_id": "l", "activity": "page_view", "occurred_at": "2026-11-23T09:00:00Z"}
                ],
            },
        )
        assert_problem(no_key, 401)

        generic_invalid = await handoff.client.post(
            "/v1/webhooks/generic",
            json={
                "source": "web",
                "events": [{"external_id": "x", "activity": "page_view", "occurred_at": "2026-11-23T09:00:00"}],
            },
        )
        fields = {e["field"] for e in assert_problem(generic_invalid, 422)["errors"]}
        assert "events.0.occurred_at" in fields

        many = [
            {"type": "track", "event": "Page", "userId": "u", "messageId": f"m{i}", "timestamp": "2026-11-23T09:00:00Z"}
            for i in range(4)
        ]
        assert_problem(await handoff.client.post("/v1/webhooks/segment", json={"batch": many}), 413)

        statuses = [
            (await handoff.client.post("/v1/webhooks/segment", json={"batch": many[:1]})).status_code for _ in range(8)
        ]
        assert 429 in statuses
        limited = await handoff.client.post("/v1/webhooks/segment", json={"batch": many[:1]})
        assert int(assert_problem(limited, 429).get("status")) == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert await handoff.count("webhook_receipts") == 1  # only the first single-call batch got through


# ---------------------------------------------------------------------------------------------
# Through the broker


async def engagement_records(
    bootstrap: str, lead_ids: Iterable[str], *, expect: int, settle: float = 1.0, timeout: float = 20.0
) -> list[Any]:
    """Every `lead.engagement` record of these leads (the topic is shared by the session's tests)."""
    wanted = set(lead_ids)
    consumer = AIOKafkaConsumer(
        Topic.LEAD_ENGAGEMENT,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[Any] = []
    try:

        async def poll() -> int:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(e for r in batch if (e := parse_event(r.value)).subject in wanted)
            return len(found)

        await eventually(poll, until=lambda n: n >= expect, timeout=timeout, what=f"{expect} engagement records")
        for _ in range(int(settle / 0.2)):
            await poll()
    finally:
        await consumer.stop()
    return found


async def test_accepted_events_are_published_once_even_when_the_sender_retries(
    database_url: str, kafka_bootstrap: str
) -> None:
    portal = int(uuid.uuid4().int % 10**8)
    body = unique_hubspot_batch(portal)
    leads = [f"hubspot-{portal}-10451", f"hubspot-{portal}-20987"]
    async with handoff_service(database_url, kafka_bootstrap) as handoff:
        responses = [await handoff.hubspot(body) for _ in range(3)]
        assert [r.json()["accepted"] for r in responses] == [6, 0, 0]
        await eventually(lambda: handoff.count("outbox"), until=lambda n: n == 0, what="outbox relayed")
    records = await engagement_records(kafka_bootstrap, leads, expect=6)
    assert len(records) == 6
    assert len({r.id for r in records}) == 6
    assert sorted(r.type.value for r in records) == sorted(
        ["baton.engagement.recorded"] * 3 + ["baton.profile.updated"] * 3
    )


@pytest.mark.postgres
async def test_database_outage_answers_503_with_retry_after_and_the_retry_is_accepted_once(
    make_database_url: Any, kafka_bootstrap: str, postgres_admin: PostgresAdmin
) -> None:
    url = make_database_url("postgresql")
    body = fixture("standard_webhook_form.json")
    async with handoff_service(url, kafka_bootstrap) as handoff:
        postgres_admin.take_offline(database_name(url))
        try:
            down = await handoff.standard("forms-app", body, msg_id="msg_outage")
            assert_problem(down, 503)
            assert down.headers["Retry-After"] == "1"
        finally:
            postgres_admin.bring_online(database_name(url))
        retried = await eventually(
            lambda: handoff.standard("forms-app", body, msg_id="msg_outage"),
            until=lambda r: r.status_code != 503,
            what="accepted after the outage",
        )
        assert (retried.status_code, retried.json()["accepted"]) == (202, 1)
        assert await handoff.count("webhook_receipts") == 1
