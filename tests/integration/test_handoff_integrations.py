"""The handoff's conversations with other systems: the signed outbound CRM webhook (driven from
committed state, retried on the Standard Webhooks schedule, in order per lead, never holding up the
rest of the service, failed deliveries listed and sent again by the admin) and `sla.events` (clocks
shown on the lead; a reassign request moves the lead to someone who has not had it)."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import REGISTRY
from support.receiver import Receiver, loopback_receiver
from support.waits import eventually
from test_handoff_harness import T0, Handoff, running_handoff, scored

from baton_contracts import new_event
from baton_contracts.crm_webhook import LeadAssigned, LeadDisqualified
from baton_contracts.events import EventType, SlaClockBreached, SlaClockStarted, SlaReassignRequested
from baton_handoff.crm.service import apply_sla_events
from baton_kit.db import transaction

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def verify(request: httpx.Request) -> bool:
    """What a receiver does (Standard Webhooks): HMAC-SHA256 of `id.timestamp.body` with the secret."""
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode() + request.content
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return request.headers["webhook-signature"] == f"v1,{expected}"


def lead_of(request: httpx.Request) -> str:
    """The lead a delivery is about. Other tests' leads on the shared broker reach this app too; the
    receivers below answer those at once and record only their own."""
    return str(json.loads(request.content)["lead"]["lead_id"])


@asynccontextmanager
async def crm_handoff(
    database_url: str,
    kafka_bootstrap: str,
    tmp_path: Path,
    receiver: Receiver,
    *,
    poll_seconds: float = 1.0,
    **settings: Any,
) -> AsyncIterator[Handoff]:
    """The in-process handoff with its CRM webhook pointed at `receiver` (sync or async), served on a
    loopback port: the posts go through the handoff's own HTTP client and a real socket."""
    async with (
        loopback_receiver(receiver) as url,
        running_handoff(
            database_url=database_url,
            kafka_bootstrap=kafka_bootstrap,
            tmp_path=tmp_path,
            env={"crm_webhook_url": url, "crm_webhook_secret": SECRET, "crm_webhook_poll_seconds": poll_seconds}
            | settings,
        ) as handoff,
    ):
        yield handoff


async def test_assignment_is_posted_signed_and_retried_until_the_crm_answers(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    received: list[httpx.Request] = []
    failures = 2

    def crm(request: httpx.Request) -> httpx.Response:
        nonlocal failures
        if lead_of(request) != "lead-crm":
            return httpx.Response(204)
        received.append(request)
        if failures:
            failures -= 1
            return httpx.Response(503)
        return httpx.Response(204)

    def speed_to_crm() -> tuple[float, float]:
        """(deliveries, seconds) the speed-to-CRM histogram has observed for assignments so far."""
        sample = functools.partial(REGISTRY.get_sample_value, labels={"type": "lead.assigned"})
        return (
            sample("baton_handoff_crm_webhook_delivery_seconds_count") or 0.0,
            sample("baton_handoff_crm_webhook_delivery_seconds_sum") or 0.0,
        )

    observed_before = speed_to_crm()
    async with crm_handoff(database_url, kafka_bootstrap, tmp_path, crm) as handoff:
        await handoff.score(scored("lead-crm", account=None))
        # The worker retries on the Standard Webhooks schedule (5 s, then 5 min, ±10%): move the frozen
        # clock past each wait, once the attempt before it has landed, and no further (hours of frozen
        # time would breach the lead's SLA and reassign it, which posts again).
        for attempt, wait in ((1, 10), (2, 360), (3, 0)):
            await eventually(
                lambda: len(received), until=lambda n, at_least=attempt: n >= at_least, what=f"CRM attempt {attempt}"
            )
            handoff.clock.advance(timedelta(seconds=wait))
        # The lead itself shows that, and when, the CRM was told (what a rep who "never got it" is shown).
        lead = await eventually(
            lambda: handoff.lead("lead-crm"),
            until=lambda lead: lead["crm_deliveries"][0]["status"] == "delivered",
            what="the delivery on the lead",
        )
        await asyncio.sleep(0.3)  # room for a wrong fourth post to show up
    assert len(received) == 3
    (shown,) = lead["crm_deliveries"]
    assert (shown["attempts"], shown["last_error"], shown["next_attempt_at"]) == (3, None, None)
    assert shown["message_id"] == received[0].headers["webhook-id"]
    assert all(verify(r) for r in received)
    assert len({r.headers["webhook-id"] for r in received}) == 1  # one message, retried
    packet = json.loads(received[-1].content)
    LeadAssigned.model_validate(packet)  # the body matches its published schema (schemas/json)
    assert packet["type"] == "lead.assigned"
    assert packet["lead"]["lead_id"] == "lead-crm"
    assert packet["qualification"]["rule"] == "matrix"
    assert packet["assignee"]["rep_id"]
    assert packet["score_breakdown"] == []
    # Speed to the CRM (metrics, dashboard): this one took the two waits the frozen clock was moved on.
    # Other tests' leads reach this app too, and add their own (short) deliveries.
    count, seconds = (after - before for after, before in zip(speed_to_crm(), observed_before, strict=True))
    assert count >= 1 and seconds >= 370


async def deliveries(handoff: Handoff, **params: str) -> list[dict[str, Any]]:
    response = await handoff.client.get("/v1/crm-webhook/deliveries", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


class HeldCrm:
    """A CRM that holds its answer to this test's leads (ids starting with `prefix`, noted in `posted`)
    until `answer` is set; other tests' leads are answered at once."""

    def __init__(self, prefix: str) -> None:
        self.prefix, self.posted, self.answer = prefix, list[str](), asyncio.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if lead_of(request).startswith(self.prefix):
            self.posted.append(lead_of(request))
            await self.answer.wait()
        return httpx.Response(204)


async def test_a_crm_that_does_not_answer_holds_up_nothing_else(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    crm = HeldCrm("lead-hang-")  # the receiver hangs (until the end of the test)
    posted, answer = crm.posted, crm.answer

    async with crm_handoff(database_url, kafka_bootstrap, tmp_path, crm) as handoff:
        await handoff.score(scored("lead-hang-1"))
        await eventually(lambda: list(posted), until=lambda p: "lead-hang-1" in p, what="the first post")
        # While that post hangs (up to the client's timeout), the service goes on: it qualifies and
        # assigns the next lead and takes the CRM's calls; only the sender waits.
        async with asyncio.timeout(5):
            await handoff.score(scored("lead-hang-2"))
            second = await handoff.lead("lead-hang-2")
            accepted = await handoff.client.post("/v1/leads/lead-hang-1/accept", json={})
        pending = [d for d in await deliveries(handoff, status="pending") if d["lead_id"].startswith("lead-hang-")]
        answer.set()
        delivered = await eventually(
            lambda: deliveries(handoff, status="delivered"),
            until=lambda d: {"lead-hang-1", "lead-hang-2"} <= {x["lead_id"] for x in d},
            what="both delivered",
        )
    assert second["state"] == "assigned"
    assert accepted.status_code == 200, accepted.text
    assert sorted(posted) == ["lead-hang-1", "lead-hang-2"]
    assert {d["lead_id"] for d in pending} == {"lead-hang-1", "lead-hang-2"}
    assert all(d["attempts"] == 1 and d["last_error"] is None for d in delivered if d["lead_id"] in posted)


async def test_no_more_deliveries_than_the_concurrency_setting_are_in_flight_at_once(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    in_flight = most = 0
    delivered: list[str] = []

    async def crm(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        if not lead_of(request).startswith("lead-many-"):
            return httpx.Response(204)
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.2)  # a CRM that takes its time
        in_flight -= 1
        delivered.append(lead_of(request))
        return httpx.Response(204)

    leads = [f"lead-many-{n}" for n in range(8)]
    async with crm_handoff(database_url, kafka_bootstrap, tmp_path, crm, crm_webhook_concurrency=3) as handoff:
        await handoff.score(*(scored(lead_id) for lead_id in leads))
        await eventually(lambda: sorted(delivered), until=lambda d: d == sorted(leads), what="all eight delivered")
    assert most == 3, f"at most three at once, and three when eight are due: {most}"


async def test_a_pass_leases_its_deliveries_for_as_long_as_sending_them_a_few_at_a_time_can_take(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    crm = HeldCrm("lead-lease-")  # a CRM that takes the whole timeout
    posted, answer = crm.posted, crm.answer

    leads = [f"lead-lease-{n}" for n in range(5)]
    settings = {"crm_webhook_concurrency": 2, "crm_webhook_timeout_seconds": 4}
    async with crm_handoff(database_url, kafka_bootstrap, tmp_path, crm, **settings) as handoff:
        await handoff.score(*(scored(lead_id) for lead_id in leads))
        await eventually(lambda: len(posted), until=lambda n: n == 2, what="the first two in flight")
        pending = [d for d in await deliveries(handoff, status="pending") if d["lead_id"] in leads]
        answer.set()
        await eventually(lambda: len(posted), until=lambda n: n == 5, what="the other three")
    # Five at two at a time is three rounds of up to 4 s, plus 30 s of margin: until then no other
    # instance takes them, and none is sent twice.
    leased_until = {datetime.fromisoformat(d["next_attempt_at"]) for d in pending}
    assert leased_until == {handoff.clock.now() + timedelta(seconds=3 * 4 + 30)}
    assert len(pending) == 5 and sorted(posted) == sorted(leads)


async def test_a_gone_endpoint_fails_the_delivery_and_the_admin_sends_it_again(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    gone = True
    received: list[httpx.Request] = []

    def crm(request: httpx.Request) -> httpx.Response:
        if lead_of(request) != "lead-gone":
            return httpx.Response(204)
        received.append(request)
        return httpx.Response(410, text="webhook deleted") if gone else httpx.Response(200)

    async with crm_handoff(database_url, kafka_bootstrap, tmp_path, crm) as handoff:
        await handoff.score(scored("lead-gone"))
        (failed,) = await eventually(
            lambda: deliveries(handoff, status="failed", lead_id="lead-gone"),
            until=lambda d: len(d) == 1,
            what="the delivery failed",
        )
        detail = (await handoff.client.get(f"/v1/crm-webhook/deliveries/{failed['id']}")).json()
        gone = False  # the admin points the CRM at a live endpoint again
        recovered = await handoff.client.post("/v1/crm-webhook/deliveries/retry")  # no body: every failed one
        await eventually(
            lambda: deliveries(handoff, status="delivered", lead_id="lead-gone"),
            until=lambda d: len(d) == 1,
            what="sent again",
        )
        again = await handoff.client.post(f"/v1/crm-webhook/deliveries/{failed['id']}/retry")
        missing = await handoff.client.post("/v1/crm-webhook/deliveries/999999/retry")
        unauthorised = await handoff.client.get("/v1/crm-webhook/deliveries", headers={"Authorization": ""})
    assert failed["attempts"] == 1  # a 410 is not retried
    assert failed["last_error"].startswith("HTTP 410: webhook deleted")
    assert detail["payload"]["lead"]["lead_id"] == "lead-gone"
    assert recovered.json() == {"retried": 1, "superseded": 0}
    assert len(received) == 2
    assert received[0].headers["webhook-id"] == received[1].headers["webhook-id"] == failed["message_id"]
    assert all(verify(r) for r in received)
    assert again.status_code == 409
    assert again.json()["type"] == "https://baton.dev/problems/delivery-not-retryable"
    assert missing.status_code == 404
    assert unauthorised.status_code == 401


async def test_a_leads_deliveries_arrive_in_order_and_retry_after_is_honoured(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    busy = True
    received: list[dict[str, Any]] = []

    def crm(request: httpx.Request) -> httpx.Response:
        if lead_of(request) != "lead-order":
            return httpx.Response(204)
        if busy:
            return httpx.Response(503, headers={"Retry-After": "3600"})
        received.append(json.loads(request.content))
        return httpx.Response(204)

    async with crm_handoff(database_url, kafka_bootstrap, tmp_path, crm) as handoff:
        await handoff.score(scored("lead-order"))
        first_rep = (await handoff.lead("lead-order"))["rep_id"]
        (waiting,) = await eventually(
            lambda: deliveries(handoff, status="pending", lead_id="lead-order"),
            until=lambda d: len(d) == 1 and d[0]["attempts"] == 1,
            what="the first try answered 503",
        )
        moved = await handoff.client.post("/v1/leads/lead-order/reassign", json={"reason": "rep on leave"})
        busy = False
        handoff.clock.advance(timedelta(minutes=30))  # the schedule's wait (5 s) is long past, Retry-After's is not
        await asyncio.sleep(2.5)  # two passes of the sender: the reassignment must wait behind the assignment
        held = list(received)
        handoff.clock.advance(timedelta(minutes=31))
        await eventually(lambda: len(received), until=lambda n: n == 2, what="both deliveries")
    assert moved.status_code == 200, moved.text
    assert waiting["last_error"] == "HTTP 503"
    assert waiting["next_attempt_at"] == (T0 + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert held == []
    assert [(r["type"], r["assignee"]["rep_id"] == first_rep) for r in received] == [
        ("lead.assigned", True),
        ("lead.assigned", False),
    ]


async def test_an_assigned_lead_disqualified_under_its_rep_is_withdrawn_in_the_crm(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    received: list[dict[str, Any]] = []

    def crm(request: httpx.Request) -> httpx.Response:
        if lead_of(request) in ("lead-withdrawn", "lead-never-assigned"):
            received.append(json.loads(request.content))
        return httpx.Response(204)

    # The sender polls only every minute here (for due retries): each new delivery goes out because
    # its commit wakes the sender.
    async with crm_handoff(database_url, kafka_bootstrap, tmp_path, crm, poll_seconds=60) as handoff:
        await handoff.score(scored("lead-withdrawn"))
        rep = (await handoff.lead("lead-withdrawn"))["rep_id"]
        await eventually(lambda: len(received), until=lambda n: n == 1, what="the assignment")
        # A later score finds a negative indicator (the contact is a student): out of the rep's hands.
        await handoff.score(
            scored("lead-withdrawn", disqualifiers=["student"]),
            scored("lead-never-assigned", disqualifiers=["student"]),
        )
        await eventually(lambda: len(received), until=lambda n: n == 2, what="the withdrawal")
        await asyncio.sleep(0.3)  # room for a wrong post about the lead nobody held
        lead = await handoff.lead("lead-withdrawn")
    assert lead["state"] == "disqualified"
    assigned, withdrawn = received
    LeadDisqualified.model_validate(withdrawn)  # the body matches its published schema (schemas/json)
    assert (assigned["type"], withdrawn["type"]) == ("lead.assigned", "lead.disqualified")
    assert withdrawn["previous_assignee"]["rep_id"] == rep
    assert withdrawn["lead"]["state"] == "disqualified"
    assert withdrawn["disqualifiers"] == ["student"]
    assert "student" in withdrawn["reason"]
    assert withdrawn["event_id"] == lead["timeline"][-1]["event_id"]
    assert [d["event_type"] for d in lead["crm_deliveries"]] == ["lead.assigned", "lead.disqualified"]


async def test_a_failed_assignment_is_not_sent_again_over_the_withdrawal_that_followed_it(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    received: list[str] = []

    def crm(request: httpx.Request) -> httpx.Response:
        if lead_of(request) != "lead-stale":
            return httpx.Response(204)
        packet = json.loads(request.content)
        received.append(packet["type"])
        return httpx.Response(410) if packet["type"] == "lead.assigned" else httpx.Response(204)

    async with crm_handoff(database_url, kafka_bootstrap, tmp_path, crm) as handoff:
        await handoff.score(scored("lead-stale"))
        (failed,) = await eventually(
            lambda: deliveries(handoff, status="failed", lead_id="lead-stale"), until=lambda d: len(d) == 1
        )
        await handoff.score(scored("lead-stale", disqualifiers=["competitor"]))
        await eventually(
            lambda: deliveries(handoff, status="delivered", lead_id="lead-stale"), until=lambda d: len(d) == 1
        )
        one = await handoff.client.post(f"/v1/crm-webhook/deliveries/{failed['id']}/retry")
        every = await handoff.client.post("/v1/crm-webhook/deliveries/retry", json={"lead_id": "lead-stale"})
        await asyncio.sleep(1.5)  # a pass of the sender: nothing more may go out
    assert received == ["lead.assigned", "lead.disqualified"]
    assert one.status_code == 409
    assert "would undo it" in one.json()["detail"]
    assert every.json() == {"retried": 0, "superseded": 1}


async def test_a_failed_assignment_is_not_sent_again_while_the_withdrawal_after_it_is_on_its_way(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Sent now, it would reach the CRM after the withdrawal once that one gets through."""

    def crm(request: httpx.Request) -> httpx.Response:
        if lead_of(request) != "lead-waiting":
            return httpx.Response(204)
        return httpx.Response(410 if json.loads(request.content)["type"] == "lead.assigned" else 503)

    async with crm_handoff(database_url, kafka_bootstrap, tmp_path, crm) as handoff:
        await handoff.score(scored("lead-waiting"))
        (failed,) = await eventually(
            lambda: deliveries(handoff, status="failed", lead_id="lead-waiting"), until=lambda d: len(d) == 1
        )
        await handoff.score(scored("lead-waiting", disqualifiers=["competitor"]))  # withdrawal: the CRM says 503
        await eventually(
            lambda: deliveries(handoff, status="pending", lead_id="lead-waiting"),
            until=lambda d: len(d) == 1 and d[0]["attempts"] >= 1,
        )
        one = await handoff.client.post(f"/v1/crm-webhook/deliveries/{failed['id']}/retry")
    assert one.status_code == 409
    assert "on its way" in one.json()["detail"]


async def test_one_garbled_answer_does_not_keep_a_pass_from_recording_the_others(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A NUL in a body (PostgreSQL text refuses it) and a Retry-After longer than a timedelta holds: the
    pass records every answer, so the delivered one is not sent again after the lease."""
    sent: Counter[str] = Counter()

    def crm(request: httpx.Request) -> httpx.Response:
        lead = lead_of(request)
        sent[lead] += 1
        if lead == "lead-garbled":
            return httpx.Response(500, content=b"oops\x00trace", headers={"Retry-After": "100000000000000"})
        return httpx.Response(204)

    async with crm_handoff(database_url, kafka_bootstrap, tmp_path, crm) as handoff:
        await handoff.score(scored("lead-garbled"), scored("lead-fine"))
        (garbled,) = await eventually(
            lambda: deliveries(handoff, lead_id="lead-garbled"), until=lambda d: len(d) == 1 and d[0]["attempts"] >= 1
        )
        (fine,) = await eventually(
            lambda: deliveries(handoff, status="delivered", lead_id="lead-fine"), until=lambda d: len(d) == 1
        )
    assert (sent["lead-fine"], fine["attempts"]) == (1, 1)
    assert garbled["status"] == "pending" and garbled["last_error"] == "HTTP 500: oopstrace"


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
