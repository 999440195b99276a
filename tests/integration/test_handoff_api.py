"""The handoff API in-process on SQLite and PostgreSQL: qualification recorded and shown, the CRM
contract, idempotency keys, API-key scopes, routing through the roster API."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update
from test_handoff_harness import ICP_PROFILE, T0, Handoff, running_handoff, scored

from baton_handoff.models import IdempotencyRecord, Lead
from baton_kit.db import transaction


@pytest.fixture
async def handoff(database_url: str, kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[Handoff]:
    async with running_handoff(database_url=database_url, kafka_bootstrap=kafka_bootstrap, tmp_path=tmp_path) as h:
        yield h


async def test_qualified_lead_is_assigned_and_get_shows_why_with_the_definitions_version(handoff: Handoff) -> None:
    await handoff.score(scored("lead-1"))
    lead = await handoff.lead("lead-1")
    assert lead["state"] == "assigned"
    assert [(t["from_state"], t["to_state"]) for t in lead["timeline"]] == [
        (None, "known"),
        ("known", "mql"),
        ("mql", "assigned"),
    ]
    mql = lead["timeline"][1]
    assert mql["details"]["rule"] == "matrix"
    assert mql["details"]["fit_grade"] == "A"
    assert lead["qualification"]["outcome"] == "mql"
    assert lead["qualification"]["definitions_version"].startswith("sha256:")
    assert lead["rep_id"]
    assert lead["segment"] == "mid_market"


async def test_reads_do_not_wait_for_a_write_in_progress(handoff: Handoff) -> None:
    """A GET reads a snapshot and takes no write lock: on SQLite (one writer per process) a CRM's poll,
    a dashboard or a report never queues behind ingestion, nor ingestion behind them."""
    await handoff.score(scored("lead-read"))
    async with transaction(handoff.app.state.runtime.sessions) as session:
        await session.execute(update(Lead).where(Lead.lead_id == "lead-read").values(score=1.0))
        async with asyncio.timeout(5):  # before, on SQLite: every one of these waited for the commit
            lead = await handoff.lead("lead-read")
            answers = [
                await handoff.client.get(path)
                for path in ("/v1/leads", "/v1/reps", "/v1/reports/acceptance", "/v1/reports/conversion")
            ]
    assert lead["score"] == 80  # the snapshot: the write in progress is not seen
    assert [a.status_code for a in answers] == [200, 200, 200, 200]


async def test_accept_then_second_accept_is_409_with_current_state(handoff: Handoff) -> None:
    await handoff.score(scored("lead-2"))
    rep = (await handoff.lead("lead-2"))["rep_id"]
    first = await handoff.client.post("/v1/leads/lead-2/accept", json={"rep_id": rep})
    assert first.status_code == 200, first.text
    again = await handoff.client.post("/v1/leads/lead-2/accept", json={"rep_id": rep})
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["current_state"] == "sal"


async def test_idempotency_key_replay_returns_the_first_response_without_a_second_effect(handoff: Handoff) -> None:
    await handoff.score(scored("lead-3"))
    headers = {"Idempotency-Key": "k-1"}
    first = await handoff.client.post("/v1/leads/lead-3/accept", json={}, headers=headers)
    replay = await handoff.client.post("/v1/leads/lead-3/accept", json={}, headers=headers)
    assert (first.status_code, replay.status_code) == (200, 200)
    assert replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    assert len((await handoff.lead("lead-3"))["timeline"]) == 4
    other_body = await handoff.client.post("/v1/leads/lead-3/accept", json={"rep_id": "x"}, headers=headers)
    assert other_body.status_code == 422


async def test_reject_needs_a_reason_from_the_taxonomy_and_other_needs_a_note(handoff: Handoff) -> None:
    await handoff.score(scored("lead-4"))
    unknown = await handoff.client.post("/v1/leads/lead-4/reject", json={"reason": "meh"})
    assert unknown.status_code == 422
    assert "no_fit" in unknown.json()["allowed"]
    no_sub = await handoff.client.post("/v1/leads/lead-4/reject", json={"reason": "no_fit"})
    assert no_sub.status_code == 422
    assert no_sub.json()["errors"][0]["field"] == "sub_reason"
    no_note = await handoff.client.post("/v1/leads/lead-4/reject", json={"reason": "other"})
    assert no_note.status_code == 422
    ok = await handoff.client.post(
        "/v1/leads/lead-4/reject", json={"reason": "bad_timing", "recycle_on": "2027-01-01T00:00:00Z"}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["state"] == "recycled"
    assert ok.json()["timeline"][-2]["details"]["reason"] == "bad_timing"


def stakeholder(lead_id: str, engaged: int, *, account: str = "committee.example", fit_grade: str = "C") -> Any:
    """A fit lead below the engagement bar (C needs band 3), at an account with `engaged` engaged people."""
    return scored(
        lead_id,
        score=25,
        fit_grade=fit_grade,
        engagement_band=1,
        grade=f"{fit_grade}1",
        profile={**ICP_PROFILE, "email": f"{lead_id}@{account}"},
        account={"account_key": account, "engaged_stakeholders": engaged, "engagement_score": 12.0 * engaged},
    )


async def test_a_buying_committee_qualifies_the_accounts_earlier_stakeholders_too(handoff: Handoff) -> None:
    await handoff.score(stakeholder("bc-1", 1))
    await handoff.score(stakeholder("bc-2", 2), stakeholder("bc-d", 2, fit_grade="D"))
    await handoff.score(stakeholder("elsewhere", 1, account="elsewhere.example"))
    before = {lead_id: (await handoff.lead(lead_id))["state"] for lead_id in ("bc-1", "bc-2", "bc-d")}
    await handoff.score(stakeholder("bc-3", 3))  # the third engaged person: the committee forms
    leads = {lead_id: await handoff.lead(lead_id) for lead_id in ("bc-1", "bc-2", "bc-3", "bc-d", "elsewhere")}
    assert before == {"bc-1": "known", "bc-2": "known", "bc-d": "known"}
    for lead_id in ("bc-1", "bc-2", "bc-3"):
        lead = leads[lead_id]
        assert lead["state"] == "assigned", lead_id
        assert lead["qualification"]["rule"] == "buying_committee"
        assert lead["qualification"]["details"]["engaged_stakeholders"] == 3
        assert lead["qualification"]["details"]["account"] == "committee.example"
    # bc-1 and bc-2 were qualified by bc-3's score: the decision names it as its cause
    cause = leads["bc-3"]["qualification"]["cause_event_id"]
    assert leads["bc-1"]["qualification"]["cause_event_id"] == cause
    assert leads["bc-2"]["qualification"]["cause_event_id"] == cause
    assert leads["bc-d"]["state"] == "known"  # fit D is below the fit bar, committee or not
    assert leads["elsewhere"]["state"] == "known"  # another account's committee has not formed


async def test_a_buying_committee_in_one_batch_qualifies_every_stakeholder_whatever_the_order(
    handoff: Handoff,
) -> None:
    # The newest score (the committee formed) first, the older ones, which do not show it, after.
    await handoff.score(
        stakeholder("bo-3", 3, account="batch.example"),
        stakeholder("bo-1", 1, account="batch.example"),
        stakeholder("bo-2", 2, account="batch.example"),
    )
    states = {lead_id: (await handoff.lead(lead_id))["state"] for lead_id in ("bo-1", "bo-2", "bo-3")}
    assert states == {"bo-1": "assigned", "bo-2": "assigned", "bo-3": "assigned"}


async def test_recycled_lead_does_not_requalify_before_its_cooldown(handoff: Handoff) -> None:
    await handoff.score(scored("lead-5"))
    await handoff.client.post(
        "/v1/leads/lead-5/reject", json={"reason": "bad_timing", "recycle_on": "2027-01-01T00:00:00Z"}
    )
    await handoff.score(scored("lead-5", engagement_band=4))
    lead = await handoff.lead("lead-5")
    assert lead["state"] == "recycled"
    assert lead["qualification"]["rule"] == "recycle_cooldown"


async def test_first_response_keeps_the_earliest(handoff: Handoff) -> None:
    await handoff.score(scored("lead-6"))
    late = {"channel": "email", "occurred_at": "2026-11-23T16:00:00Z"}
    early = {"channel": "call", "occurred_at": "2026-11-23T15:30:00Z", "external_activity_id": "t-1"}
    assert (await handoff.client.post("/v1/leads/lead-6/first-response", json=late)).status_code == 200
    assert (await handoff.client.post("/v1/leads/lead-6/first-response", json=early)).status_code == 200
    again = await handoff.client.post("/v1/leads/lead-6/first-response", json=late)
    assert again.json()["first_response"]["channel"] == "call"
    await handoff.score(scored("lead-6b", fit_grade="D", grade="D3"))  # known: nobody holds it
    unheld = await handoff.client.post("/v1/leads/lead-6b/first-response", json=late)
    assert unheld.status_code == 409
    assert unheld.json()["current_state"] == "known"
    assert "first response is recorded once a rep holds it" in unheld.json()["detail"]


async def test_lifecycle_through_won(handoff: Handoff) -> None:
    await handoff.score(scored("lead-7"))
    for step in ("accept", "sql", "opportunity", "won"):
        response = await handoff.client.post(f"/v1/leads/lead-7/{step}", json={})
        assert response.status_code == 200, (step, response.text)
    assert (await handoff.lead("lead-7"))["state"] == "won"
    lost = await handoff.client.post("/v1/leads/lead-7/lost", json={})
    assert lost.status_code == 409
    assert lost.json()["current_state"] == "won"


async def test_reassign_skips_every_previous_assignee_then_refuses(handoff: Handoff) -> None:
    await handoff.score(scored("lead-8", profile={"email": "x@free.example", "company": "Zeta", "country": "US"}))
    seen = {(await handoff.lead("lead-8"))["rep_id"]}
    for _ in range(3):
        response = await handoff.client.post("/v1/leads/lead-8/reassign", json={"reason": "test"})
        assert response.status_code == 200, response.text
        seen.add(response.json()["rep_id"])
    assert len(seen) == 4
    nobody = await handoff.client.post("/v1/leads/lead-8/reassign", json={"reason": "test"})
    assert nobody.status_code == 409


async def test_account_owner_gets_the_lead_by_domain_and_by_fuzzy_name(handoff: Handoff) -> None:
    imported = await handoff.client.post(
        "/v1/accounts/import",
        json={
            "accounts": [
                {
                    "account_id": "acme",
                    "name": "Acme Corporation",
                    "domain": "acme.example",
                    "owner_rep_id": "dev.patel",
                },
                {"account_id": "globex", "name": "Globex GmbH", "owner_rep_id": "chloe.martin"},
            ]
        },
    )
    assert imported.json() == {"created": 2, "updated": 0}
    await handoff.score(scored("lead-9"))
    await handoff.score(
        scored("lead-10", profile={"email": "h@gmail.example", "company": "Globex, Inc.", "country": "DE"})
    )
    assert (await handoff.lead("lead-9"))["rep_id"] == "dev.patel"
    fuzzy = await handoff.lead("lead-10")
    assert fuzzy["rep_id"] == "chloe.martin"
    assert fuzzy["timeline"][-1]["details"]["account"]["method"] == "fuzzy_name"


async def test_an_import_naming_an_owner_not_on_the_roster_imports_nothing(handoff: Handoff) -> None:
    rows = [
        {"account_id": "ok", "name": "Okay Co", "owner_rep_id": "dev.patel"},
        {"account_id": "ghost", "name": "Ghost Co", "owner_rep_id": "nobody"},
    ]
    refused = await handoff.client.post("/v1/accounts/import", json={"accounts": rows})
    listed = (await handoff.client.get("/v1/accounts")).json()
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["accounts.1.owner_rep_id"]
    assert listed == []


async def _put_rep(handoff: Handoff, rep_id: str, **changes: Any) -> None:
    reps = {rep["rep_id"]: rep for rep in (await handoff.client.get("/v1/reps")).json()}
    rep = reps.get(rep_id, {"name": rep_id, "email": f"{rep_id}@example.com", "team_id": "default", "weight": 1.0})
    body = {k: rep[k] for k in ("name", "email", "team_id", "weight")} | {"timezone": "UTC"} | changes
    assert (await handoff.client.put(f"/v1/reps/{rep_id}", json=body)).status_code == 200


async def test_a_rep_who_moves_team_starts_at_the_new_teams_place(handoff: Handoff) -> None:
    await handoff.score(*(scored(f"busy-{n}") for n in range(24)))  # the default team's rotation moves on
    before = {rep["rep_id"]: rep for rep in (await handoff.client.get("/v1/reps")).json()}
    await _put_rep(handoff, "eve.emea", team_id="emea")
    await _put_rep(handoff, "ana.ortiz", team_id="emea")
    after = {rep["rep_id"]: rep for rep in (await handoff.client.get("/v1/reps")).json()}
    assert before["ana.ortiz"]["pass_value"] > 0
    # Her place in the default team's rotation means nothing in emea's: she starts where eve does.
    assert after["ana.ortiz"]["pass_value"] == after["eve.emea"]["pass_value"]


async def test_a_rep_with_an_unknown_time_zone_or_holiday_country_is_refused_naming_the_field(
    handoff: Handoff,
) -> None:
    rep = (await handoff.client.get("/v1/reps")).json()[0]
    body = {k: rep[k] for k in ("name", "email", "team_id", "weight", "timezone")}
    answers = {
        field: await handoff.client.put(f"/v1/reps/{rep['rep_id']}", json=body | {field: value})
        for field, value in [("timezone", "Mars/Olympus"), ("country", "us")]
    }
    after = next(r for r in (await handoff.client.get("/v1/reps")).json() if r["rep_id"] == rep["rep_id"])
    for field, answer in answers.items():
        assert answer.status_code == 422, answer.text
        assert [error["field"] for error in answer.json()["errors"]] == [field]
    assert (after["timezone"], after.get("country")) == (rep["timezone"], rep.get("country"))


async def test_nobody_eligible_queues_the_lead_and_it_is_routed_when_a_rep_returns(handoff: Handoff) -> None:
    reps = (await handoff.client.get("/v1/reps")).json()
    for rep in reps:
        body = {k: rep[k] for k in ("name", "email", "team_id", "weight", "timezone")} | {"active": False}
        assert (await handoff.client.put(f"/v1/reps/{rep['rep_id']}", json=body)).status_code == 200
    await handoff.score(scored("lead-11"))
    lead = await handoff.lead("lead-11")
    assert lead["state"] == "mql"
    assert lead["queued_at"] is not None
    queued = (await handoff.client.get("/v1/leads", params={"queued": True})).json()
    assert queued["total"] == 1
    back = reps[0]
    body = {k: back[k] for k in ("name", "email", "team_id", "weight", "timezone")} | {"active": True}
    await handoff.client.put(f"/v1/reps/{back['rep_id']}", json=body)
    from baton_handoff.routing.service import drain_queue
    from baton_kit.db import transaction

    runtime = handoff.app.state.runtime
    async with transaction(runtime.sessions) as session:
        assert (
            await drain_queue(
                session, definitions=handoff.app.state.definitions, outbox=runtime.outbox, now=handoff.clock.now()
            )
            == 1
        )
    assert (await handoff.lead("lead-11"))["rep_id"] == back["rep_id"]


def _with_rule(
    rule: dict[str, Any], database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> AbstractAsyncContextManager[Handoff]:
    """The handoff with `rule` as its definitions' one routing rule."""
    definitions = {"routing": {"rules": [rule]}}
    return running_handoff(
        database_url=database_url, kafka_bootstrap=kafka_bootstrap, tmp_path=tmp_path, definitions=definitions
    )


async def test_leads_nobody_can_take_do_not_hold_up_the_queue_and_a_lead_that_leaves_it_is_off_the_list(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    from baton_handoff.routing.service import drain_queue

    ghost = {"name": "fr", "when": {"countries": ["FR"]}, "team": "ghost"}
    async with _with_rule(ghost, database_url, kafka_bootstrap, tmp_path) as handoff:
        paris = {**ICP_PROFILE, "country": "FR"}
        for n in range(3):  # a team with no reps: these wait for good
            await handoff.score(scored(f"fr-{n}", profile=paris))
            handoff.clock.advance(timedelta(minutes=1))
        reps = (await handoff.client.get("/v1/reps")).json()
        for rep in reps:
            await _put_rep(handoff, rep["rep_id"], active=False)
        await handoff.score(scored("us-waiting"), scored("us-student"))
        await handoff.score(scored("us-student", disqualifiers=["student"]))  # leaves the queue, disqualified
        await _put_rep(handoff, reps[0]["rep_id"], active=True)
        runtime = handoff.app.state.runtime
        drained = []
        for _ in range(3):  # two at a time, as a busy queue is drained a page at a time
            handoff.clock.advance(timedelta(minutes=1))
            async with transaction(runtime.sessions) as session:
                drained.append(
                    await drain_queue(
                        session,
                        definitions=handoff.app.state.definitions,
                        outbox=runtime.outbox,
                        now=handoff.clock.now(),
                        limit=2,
                    )
                )
        waiting = await handoff.lead("us-waiting")
        queued = (await handoff.client.get("/v1/leads", params={"queued": True})).json()
    assert waiting["state"] == "assigned" and sum(drained) == 1
    assert sorted(item["lead_id"] for item in queued["items"]) == ["fr-0", "fr-1", "fr-2"]


async def test_a_rule_whose_rep_cannot_take_the_lead_gives_it_to_a_teammate(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    vip = {"name": "vip-de", "when": {"countries": ["DE"]}, "rep": "chloe.martin"}
    async with _with_rule(vip, database_url, kafka_bootstrap, tmp_path) as handoff:
        await _put_rep(handoff, "eve.emea", team_id="emea")
        await _put_rep(handoff, "chloe.martin", team_id="emea", active=False)  # away, and in a team no rule names
        await handoff.score(scored("de-1", profile={**ICP_PROFILE, "country": "DE"}))
        lead = await handoff.lead("de-1")
    assert (lead["state"], lead["rep_id"]) == ("assigned", "eve.emea")


async def test_api_keys_scopes_and_rep_bound_keys(handoff: Handoff) -> None:
    await handoff.score(scored("lead-12"), scored("lead-13"))
    mine = (await handoff.lead("lead-12"))["rep_id"]
    other = (await handoff.lead("lead-13"))["rep_id"]
    assert mine != other
    created = await handoff.client.post("/v1/api-keys", json={"name": "rep", "scopes": ["crm", "read"], "rep_id": mine})
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    as_rep = {"Authorization": f"Bearer {key}"}
    # Another rep's lead answers as one that does not exist: lead ids derive from emails, and a 403
    # would tell a rep's key that a person is in the system.
    for lead_id in ("lead-13", "lead-nobody"):
        read = await handoff.client.get(f"/v1/leads/{lead_id}", headers=as_rep)
        accept = await handoff.client.post(f"/v1/leads/{lead_id}/accept", json={}, headers=as_rep)
        assert [(r.status_code, r.json()["detail"]) for r in (read, accept)] == [(404, f"no lead '{lead_id}'")] * 2
    unbound = await handoff.client.post("/v1/api-keys", json={"name": "e", "scopes": ["read"], "rep_id": ""})
    assert unbound.status_code == 422  # an empty binding would read as none: a key that sees every lead
    listed = (await handoff.client.get("/v1/leads", headers=as_rep)).json()
    assert {item["rep_id"] for item in listed["items"]} == {mine}
    assert (await handoff.client.post("/v1/leads/lead-12/accept", json={}, headers=as_rep)).status_code == 200
    assert (await handoff.client.get("/v1/reps", headers={"X-API-Key": "bk_nope"})).status_code == 401
    assert (await handoff.client.get("/v1/leads", headers={"Authorization": ""})).status_code == 401
    assert (
        await handoff.client.post("/v1/api-keys", json={"name": "n", "scopes": ["read"]}, headers=as_rep)
    ).status_code == 403
    revoked = await handoff.client.post(f"/v1/api-keys/{created.json()['key_id']}/revoke")
    assert revoked.status_code == 200
    assert (await handoff.client.get("/v1/leads/lead-12", headers=as_rep)).status_code == 401


async def test_a_revoked_bootstrap_admin_key_stays_revoked_after_a_restart_until_a_new_one_is_set(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    same = {"database_url": database_url, "kafka_bootstrap": kafka_bootstrap, "tmp_path": tmp_path}
    async with running_handoff(**same) as first:
        assert (await first.client.post("/v1/api-keys/bootstrap-admin/revoke")).status_code == 200
    async with running_handoff(**same) as restarted:
        still_revoked = await restarted.client.get("/v1/api-keys")
    new_key = "bk_admin_" + "n" * 32
    async with running_handoff(**same, env={"admin_api_key": new_key}) as rotated:
        with_new = await rotated.client.get("/v1/api-keys", headers={"Authorization": f"Bearer {new_key}"})
    assert still_revoked.status_code == 401
    assert with_new.status_code == 200


async def _funnel(handoff: Handoff) -> Counter[tuple[str, ...]]:
    """The funnel counters on `/metrics`: (to_state, from_state, segment), ("fit grade", to_state, grade)
    and ("rejection reason", reason)."""
    text = (await handoff.client.get("/metrics")).text
    counts: Counter[tuple[str, ...]] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "baton_handoff_lead_transitions_total":
                labels = sample.labels
                counts[labels["to_state"], labels["from_state"], labels["segment"]] += int(sample.value)
                counts["fit grade", labels["to_state"], labels["fit_grade"]] += int(sample.value)
            elif sample.name == "baton_handoff_leads_rejected_total":
                counts["rejection reason", sample.labels["reason"]] += int(sample.value)
    return counts


async def test_metrics_count_the_funnel_once_per_committed_transition(handoff: Handoff) -> None:
    before = await _funnel(handoff)  # the registry is the process's: other tests' leads are counted too
    await handoff.score(scored("lead-f1"), scored("lead-f2"))
    assert (await handoff.client.post("/v1/leads/lead-f1/accept", json={})).status_code == 200
    assert (await handoff.client.post("/v1/leads/lead-f1/accept", json={})).status_code == 409
    rejected = await handoff.client.post(
        "/v1/leads/lead-f2/reject", json={"reason": "bad_timing", "recycle_on": "2027-01-01T00:00:00Z"}
    )
    assert rejected.status_code == 200, rejected.text
    segment = (await handoff.lead("lead-f1"))["segment"]

    counted = await _funnel(handoff)
    counted.subtract(before)
    by_step = Counter[tuple[str, str]]()
    for key, n in counted.items():
        if key[0] not in ("rejection reason", "fit grade") and n:
            by_step[key[0], key[1]] += n
    assert by_step == {
        ("known", "none"): 2,
        ("mql", "known"): 2,
        ("assigned", "mql"): 2,
        ("sal", "assigned"): 1,  # the refused second accept counts nothing
        ("rejected", "assigned"): 1,
        ("recycled", "rejected"): 1,
    }
    assert segment == "mid_market"
    assert counted["mql", "known", segment] == 2  # known at qualification, so the MQL event carries it too
    assert counted["sal", "assigned", segment] == 1
    assert counted["rejection reason", "bad_timing"] == 1
    assert (counted["fit grade", "mql", "A"], counted["fit grade", "sal", "A"]) == (2, 1)
    assert counted["fit grade", "known", "none"] == 2  # created before its first score is kept


async def test_acceptance_report_groups_sales_decisions_by_how_the_lead_qualified(handoff: Handoff) -> None:
    a_leads, b_leads = ["rep-a1", "rep-a2", "rep-a3"], ["rep-b1", "rep-b2"]
    await handoff.score(*(scored(lead) for lead in a_leads))
    await handoff.score(*(scored(lead, fit_grade="B", engagement_band=4, grade="B4") for lead in b_leads))
    await handoff.score(scored("rep-undecided"))
    for lead in ["rep-a1", "rep-a2", "rep-b2"]:
        assert (await handoff.client.post(f"/v1/leads/{lead}/accept", json={})).status_code == 200
    rejections = {
        "rep-a3": {"reason": "bad_timing", "recycle_on": "2027-01-01T00:00:00Z"},
        "rep-b1": {"reason": "no_fit", "sub_reason": "company_too_small"},
    }
    for lead, body in rejections.items():
        assert (await handoff.client.post(f"/v1/leads/{lead}/reject", json=body)).status_code == 200
    handoff.clock.advance(timedelta(minutes=1))  # the default period ends now, exclusive

    report = await handoff.client.get("/v1/reports/acceptance", params={"group_by": "fit_grade"})
    assert report.status_code == 200, report.text
    body = report.json()
    rows = {row["group"]: row for row in body["rows"]}
    assert [(g, r["decided"], r["accepted"], r["rejected"]) for g, r in rows.items()] == [
        ("A", 3, 2, 1),
        ("B", 2, 1, 1),
    ]
    assert rows["A"]["rejection_reasons"] == {"bad_timing": 1}
    assert rows["B"]["rejection_reasons"] == {"no_fit": 1}
    assert rows["A"]["verdict"] == "too_few"
    assert (body["total"]["decided"], body["total"]["acceptance_rate"]) == (5, 0.6)
    by_grade = (await handoff.client.get("/v1/reports/acceptance", params={"group_by": "grade"})).json()
    assert [row["group"] for row in by_grade["rows"]] == ["A3", "B4"]

    lead = await handoff.lead("rep-a1")
    mine = await handoff.client.post("/v1/api-keys", json={"name": "rep", "scopes": ["read"], "rep_id": lead["rep_id"]})
    as_rep = {"Authorization": f"Bearer {mine.json()['key']}"}
    own = (await handoff.client.get("/v1/reports/acceptance", params={"group_by": "rep"}, headers=as_rep)).json()
    assert [row["group"] for row in own["rows"]] == [lead["rep_id"]]

    # A team's key counts what its reps decided, even for a lead that has since moved to another team.
    async with transaction(handoff.app.state.runtime.sessions) as session:
        await session.execute(update(Lead).where(Lead.lead_id == "rep-a1").values(team_id="emea"))
    decided = {}
    for team in (lead["team_id"], "emea"):
        created = await handoff.client.post("/v1/api-keys", json={"name": team, "scopes": ["read"], "team_id": team})
        as_team = {"Authorization": f"Bearer {created.json()['key']}"}
        report = await handoff.client.get("/v1/reports/acceptance", params={"group_by": "rep"}, headers=as_team)
        decided[team] = report.json()["total"]["decided"] if report.json()["total"] else 0
    assert decided == {lead["team_id"]: 5, "emea": 0}

    earlier = await handoff.client.get("/v1/reports/acceptance", params={"until": "2026-01-01T00:00:00Z"})
    assert earlier.json()["rows"] == [] and earlier.json()["total"] is None
    backwards = await handoff.client.get(
        "/v1/reports/acceptance", params={"since": "2026-12-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"}
    )
    assert backwards.status_code == 422
    assert backwards.headers["content-type"] == "application/problem+json"


async def test_conversion_report_follows_each_mql_through_the_stages_the_crm_reports(handoff: Handoff) -> None:
    await handoff.caught_up()  # other tests' leads on the shared broker qualify at an earlier moment
    handoff.clock.advance(timedelta(days=1))
    period = {"since": handoff.clock.now().isoformat()}
    await handoff.score(*(scored(f"conv-a{n}") for n in range(3)))
    await handoff.score(*(scored(f"conv-b{n}", fit_grade="B", engagement_band=2, grade="B2") for n in range(2)))
    crm_reports = {
        "conv-a0": [("accept", {}), ("sql", {}), ("opportunity", {}), ("won", {"amount": 42000})],
        "conv-a1": [("accept", {}), ("sql", {}), ("opportunity", {}), ("lost", {"note": "went with a rival"})],
        "conv-a2": [("accept", {})],
        "conv-b0": [("accept", {}), ("sql", {})],
        "conv-b1": [("reject", {"reason": "no_fit", "sub_reason": "company_too_small"})],
    }
    for lead, calls in crm_reports.items():
        for call, body in calls:
            answer = await handoff.client.post(f"/v1/leads/{lead}/{call}", json=body)
            assert answer.status_code == 200, (lead, call, answer.text)
    handoff.clock.advance(timedelta(minutes=1))

    report = await handoff.client.get("/v1/reports/conversion", params={"group_by": "fit_grade", **period})
    assert report.status_code == 200, report.text
    body = report.json()
    stages = ("mqls", "sal", "sql", "opportunity", "won", "lost", "rejected")
    assert [(row["group"], *(row[stage] for stage in stages)) for row in body["rows"]] == [
        ("A", 3, 3, 2, 2, 1, 1, 0),
        ("B", 2, 1, 1, 0, 0, 0, 1),
    ]
    a_row = body["rows"][0]
    assert (a_row["win_rate"], a_row["won_amount"], a_row["lift"]) == (0.5, 42000, pytest.approx((2 / 3) / (2 / 5)))
    assert body["total"]["opportunity_rate"] == 0.4
    assert body["calibration"] == {"metric": "opportunity_rate", "compared": [], "inversions": [], "verdict": "too_few"}

    lead = await handoff.lead("conv-a0")
    mine = await handoff.client.post("/v1/api-keys", json={"name": "rep", "scopes": ["read"], "rep_id": lead["rep_id"]})
    as_rep = {"Authorization": f"Bearer {mine.json()['key']}"}
    own = (
        await handoff.client.get("/v1/reports/conversion", params={"group_by": "rep", **period}, headers=as_rep)
    ).json()
    assert [row["group"] for row in own["rows"]] == [lead["rep_id"]]
    by_segment = (await handoff.client.get("/v1/reports/conversion", params={"group_by": "segment", **period})).json()
    assert by_segment["calibration"] is None and sum(row["mqls"] for row in by_segment["rows"]) == 5

    before = await handoff.client.get("/v1/reports/conversion", params={"until": "2026-01-01T00:00:00Z"})
    assert before.json()["rows"] == [] and before.json()["total"] is None


async def test_simulate_reads_the_handoffs_database_and_says_what_a_candidate_would_change(
    handoff: Handoff, tmp_path: Path
) -> None:
    # Scored and decided at a moment of their own: other tests' leads on the shared broker fall outside.
    at = T0 + timedelta(days=3, minutes=17)
    handoff.clock.advance(at - T0)
    paris = {**ICP_PROFILE, "country": "FR"}
    await handoff.score(*(scored(f"sim-us{n}", scored_at=at) for n in range(4)))
    await handoff.score(*(scored(f"sim-fr{n}", profile=paris, scored_at=at) for n in range(2)))
    b2 = {"fit_grade": "B", "engagement_band": 2, "grade": "B2", "scored_at": at}
    await handoff.score(*(scored(f"sim-b{n}", **b2) for n in range(2)))
    assert (await handoff.client.post("/v1/leads/sim-us0/accept", json={})).status_code == 200
    document = yaml.safe_load((tmp_path / "definitions.yaml").read_text())
    document["qualification"]["matrix"] = {"A": 2, "B": 3, "C": 3}
    document["routing"]["teams"].append({"id": "emea", "name": "EMEA"})
    document["routing"]["rules"] = [{"name": "emea", "when": {"countries": ["FR"]}, "team": "emea"}]
    document["routing"]["reps"].append({"id": "eva.kowalski", "name": "Eva", "email": "eva@x.example", "team": "emea"})
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(yaml.safe_dump(document))

    command = [sys.executable, "-m", "baton_handoff", "simulate", "--candidate", str(candidate)]
    command += ["--current", str(tmp_path / "definitions.yaml")]
    command += ["--since", at.isoformat(), "--until", (at + timedelta(hours=1)).isoformat()]
    env = {**os.environ, "DATABASE_URL": handoff.app.state.runtime.settings.database_url}
    done = await asyncio.to_thread(subprocess.run, [*command, "--json"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["leads"] == 8
    assert (report["current"]["mqls"], report["candidate"]["mqls"]) == (8, 6)
    assert report["lost"] == ["sim-b0", "sim-b1"] and report["gained"] == []
    assert report["candidate"]["by_team"] == {"default": 4, "emea": 2}
    assert report["candidate"]["by_rep"]["eva.kowalski"] == 2
    assert report["current"]["expected_acceptance"] == 1.0  # one decision so far: an accept
    text = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True)
    assert "MQLs: 8 -> 6 (gained 0, lost 2)" in text.stdout, text.stdout + text.stderr
    assert "team: default 8 -> 4, emea 0 -> 2" in text.stdout

    missing = await asyncio.to_thread(
        subprocess.run, [*command[:5], str(tmp_path / "nope.yaml")], env=env, capture_output=True, text=True
    )
    assert missing.returncode == 2 and "nope.yaml" in missing.stderr

    # Scoring's candidate scores (`baton_scoring simulate --scores-out`) in place of the kept ones: a
    # candidate that scores the B leads into band 3 keeps them MQLs under the stricter matrix.
    scores = tmp_path / "scores.jsonl"
    rescored = [scored(f"sim-b{n}", **{**b2, "engagement_band": 3, "grade": "B3"}) for n in range(2)]
    scores.write_text("".join(score.model_dump_json() + "\n" for score in rescored))
    chained = await asyncio.to_thread(
        subprocess.run, [*command, "--json", "--scores", str(scores)], env=env, capture_output=True, text=True
    )
    assert chained.returncode == 0, chained.stderr
    assert json.loads(chained.stdout)["lost"] == []
    assert json.loads(chained.stdout)["rescored_by_candidate_scoring"] == 2
    scores.write_text('{"lead_id": "sim-b0"}\n')
    broken = await asyncio.to_thread(
        subprocess.run, [*command, "--scores", str(scores)], env=env, capture_output=True, text=True
    )
    assert broken.returncode == 2 and "scores.jsonl" in broken.stderr and "score" in broken.stderr


async def test_admin_writes_replayed_with_their_idempotency_key_answer_the_first_response_once(
    handoff: Handoff,
) -> None:
    headers = {"Idempotency-Key": "create-crm-key"}
    body = {"name": "crm sync", "scopes": ["crm"]}
    first = await handoff.client.post("/v1/api-keys", json=body, headers=headers)
    replay = await handoff.client.post("/v1/api-keys", json=body, headers=headers)
    async with transaction(handoff.app.state.runtime.sessions) as session:
        kept = (await session.execute(select(IdempotencyRecord.body))).scalars().all()
    assert (first.status_code, replay.status_code) == (201, 201), first.text
    assert first.json()["key"].startswith("bk_")
    assert replay.json() == {**first.json(), "key": None}  # the same key's record; its secret is shown once
    assert first.json()["key"] not in json.dumps(kept)  # nor kept for replays
    assert replay.headers["idempotent-replayed"] == "true"
    keys = (await handoff.client.get("/v1/api-keys")).json()
    assert [k["name"] for k in keys].count("crm sync") == 1
    changed = await handoff.client.post("/v1/api-keys", json={**body, "scopes": ["read"]}, headers=headers)
    assert changed.status_code == 422

    team = {"Idempotency-Key": "rename-team"}
    renamed = await handoff.client.put("/v1/teams/emea", json={"name": "EMEA"}, headers=team)
    assert renamed.status_code == 200, renamed.text
    await handoff.client.put("/v1/teams/emea", json={"name": "Europe"})
    replayed = await handoff.client.put("/v1/teams/emea", json={"name": "EMEA"}, headers=team)
    assert replayed.json() == renamed.json()
    assert [t["name"] for t in (await handoff.client.get("/v1/teams")).json() if t["team_id"] == "emea"] == ["Europe"]


async def test_two_instances_share_one_fair_rotation_that_survives_a_restart(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    same = {"database_url": database_url, "kafka_bootstrap": kafka_bootstrap}
    async with (
        running_handoff(**same, tmp_path=tmp_path / "a") as a,
        running_handoff(**same, tmp_path=tmp_path / "b") as b,
    ):
        await asyncio.gather(
            *(
                (a if i % 2 else b).score(scored(f"pair-{i}", profile={"company": f"Co {i}", "country": "US"}))
                for i in range(40)
            )
        )
        listed = (await a.client.get("/v1/leads", params={"state": "assigned", "limit": 1000})).json()
    per_rep = Counter(item["rep_id"] for item in listed["items"])
    assert listed["total"] == 40
    assert max(per_rep.values()) - min(per_rep.values()) <= 1, per_rep
    # A restarted instance continues the rotation where it stood (virtual times are in the database).
    async with running_handoff(database_url=database_url, kafka_bootstrap=kafka_bootstrap, tmp_path=tmp_path) as c:
        for i in range(40, 44):
            await c.score(scored(f"pair-{i}", profile={"company": f"Co {i}", "country": "US"}))
        listed = (await c.client.get("/v1/leads", params={"state": "assigned", "limit": 1000})).json()
    per_rep = Counter(item["rep_id"] for item in listed["items"])
    assert set(per_rep.values()) == {11}, per_rep


async def test_the_definitions_in_force_and_every_version_run_with_are_readable(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with running_handoff(database_url=database_url, kafka_bootstrap=kafka_bootstrap, tmp_path=tmp_path) as h:
        await h.score(scored("lead-rules"))
        mql = (await h.lead("lead-rules"))["timeline"][1]
        first = (await h.client.get("/v1/definitions")).json()
        reasons = (await h.client.get("/v1/definitions/rejection-reasons")).json()
    first_text = (tmp_path / "definitions.yaml").read_text()

    taxonomy = {"rejection_reasons": [{"code": "not_now", "label": "Not now"}, {"code": "other", "label": "Other"}]}
    async with running_handoff(
        database_url=database_url, kafka_bootstrap=kafka_bootstrap, tmp_path=tmp_path, definitions={"crm": taxonomy}
    ) as h:
        second = (await h.client.get("/v1/definitions")).json()
        listed = (await h.client.get("/v1/definitions/versions")).json()
        old = (await h.client.get(f"/v1/definitions/versions/{first['version']}")).json()
        rejected = await h.client.post("/v1/leads/lead-rules/reject", json={"reason": "not_now"})
        unknown = await h.client.get("/v1/definitions/versions/sha256:0000")

    assert first["version"] == mql["definitions_version"]  # the decision names the version; the API has its text
    assert first["definitions"]["qualification"] and first["warnings"] == []
    assert [r["code"] for r in reasons["rejection_reasons"]][:2] == ["unable_to_reach", "inaccurate_data"]
    assert next(r for r in reasons["rejection_reasons"] if r["code"] == "no_fit")["sub_reasons"]
    assert second["version"] != first["version"]
    assert [r["code"] for r in second["definitions"]["crm"]["rejection_reasons"]] == ["not_now", "other"]
    assert [(v["version"], v["current"]) for v in listed] == [(second["version"], True), (first["version"], False)]
    assert old["text"] == first_text and not old["current"]
    assert rejected.status_code == 200, rejected.text
    assert unknown.status_code == 404
    assert unknown.json()["type"] == "https://baton.dev/problems/unknown-definitions-version"
