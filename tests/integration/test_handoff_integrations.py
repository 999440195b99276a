"""The handoff's conversations with other systems: the signed outbound CRM webhook (driven from
committed state, retried with backoff) and `sla.events` (clocks shown on the lead; a reassign
request moves the lead to someone who has not had it)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from support.waits import eventually
from test_handoff_harness import T0, running_handoff, scored

from baton_contracts import new_event
from baton_contracts.events import EventType, SlaClockBreached, SlaClockStarted, SlaReassignRequested
from baton_handoff.crm.delivery import sign
from baton_handoff.crm.service import apply_sla_events
from baton_kit.db import transaction

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def verify(request: httpx.Request) -> bool:
    """What a receiver does (Standard Webhooks): HMAC-SHA256 of `id.timestamp.body` with the secret."""
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode() + request.content
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return request.headers["webhook-signature"] == f"v1,{expected}"


def test_signature_matches_the_standard_webhooks_reference_vector() -> None:
    # From the Standard Webhooks spec's reference implementation tests.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert sign(secret, message_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=1614265330, body=body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


async def test_assignment_is_posted_signed_and_retried_until_the_crm_answers(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    received: list[httpx.Request] = []
    failures = 2

    def crm(request: httpx.Request) -> httpx.Response:
        nonlocal failures
        received.append(request)
        if failures:
            failures -= 1
            return httpx.Response(503)
        return httpx.Response(204)

    env = {"crm_webhook_url": "https://crm.example/hooks/baton", "crm_webhook_secret": SECRET}
    async with running_handoff(
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        tmp_path=tmp_path,
        env=env,
        crm_transport=httpx.MockTransport(crm),
    ) as handoff:
        await handoff.score(scored("lead-crm", account=None))
        # The worker retries with backoff (5 s, then 10 s, ±20%): move the frozen clock past each wait,
        # once the attempt before it has landed, and no further (hours of frozen time would breach the
        # lead's SLA and reassign it, which posts again).
        for attempt, wait in ((1, 15), (2, 15), (3, 0)):
            await eventually(
                lambda: len(received), until=lambda n, at_least=attempt: n >= at_least, what=f"CRM attempt {attempt}"
            )
            handoff.clock.advance(timedelta(seconds=wait))
        await asyncio.sleep(0.3)  # room for a wrong fourth post to show up
    assert len(received) == 3
    assert all(verify(r) for r in received)
    assert len({r.headers["webhook-id"] for r in received}) == 1  # one message, retried
    packet = json.loads(received[-1].content)
    assert packet["type"] == "lead.assigned"
    assert packet["lead"]["lead_id"] == "lead-crm"
    assert packet["qualification"]["rule"] == "matrix"
    assert packet["assignee"]["rep_id"]
    assert packet["score_breakdown"] == []


async def test_sla_events_show_clocks_and_a_reassign_request_moves_the_lead(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with running_handoff(database_url=database_url, kafka_bootstrap=kafka_bootstrap, tmp_path=tmp_path) as h:
        await h.score(scored("lead-sla"))
        first_rep = (await h.lead("lead-sla"))["rep_id"]
        clock = {
            "clock_id": "c-1",
            "lead_id": "lead-sla",
            "kind": "acceptance",
            "policy": "standard-acceptance",
            "rep_id": first_rep,
            "started_at": T0,
            "due_at": T0 + timedelta(hours=4),
        }
        events = [
            (EventType.SLA_CLOCK_STARTED, SlaClockStarted(**clock)),
            (EventType.SLA_CLOCK_BREACHED, SlaClockBreached(**clock, at=T0 + timedelta(hours=4))),
            (
                EventType.SLA_REASSIGN_REQUESTED,
                SlaReassignRequested(**clock, at=T0 + timedelta(hours=4), reason="acceptance SLA breached"),
            ),
        ]
        cloud = [
            new_event(event_type=t, source="/tests", subject="lead-sla", data=d, time=T0, id=str(uuid.uuid4()))
            for t, d in events
        ]
        runtime = h.app.state.runtime
        async with transaction(runtime.sessions) as session:
            await apply_sla_events(
                session, cloud, definitions=h.app.state.definitions, outbox=runtime.outbox, now=h.clock.now()
            )
        # A stale request (the lead has moved on) changes nothing.
        async with transaction(runtime.sessions) as session:
            await apply_sla_events(
                session, cloud[2:], definitions=h.app.state.definitions, outbox=runtime.outbox, now=h.clock.now()
            )
        lead = await h.lead("lead-sla")
    assert lead["state"] == "assigned"
    assert lead["rep_id"] != first_rep
    assert [t["to_state"] for t in lead["timeline"]].count("assigned") == 2
    assert lead["timeline"][-1]["actor"] == "system:sla-monitor"
    assert [(c["clock_id"], c["state"]) for c in lead["sla_clocks"]] == [("c-1", "breached")]
