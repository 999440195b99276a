"""The handoff's `simulate`, pure: MQLs under both definitions, who would get them, expected acceptance."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from baton_contracts.definitions import EXAMPLE_PATH, LoadedDefinitions, parse_definitions
from baton_contracts.definitions.routing import WorkingHours
from baton_contracts.events import AccountSnapshot, LeadScored
from baton_handoff.reports.rules import MIN_DECIDED
from baton_handoff.routing.rules import AccountRecord, LeadFacts, RepState
from baton_handoff.simulate import QUEUE, SimulatedLead, forecast, simulate

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday: 04:00 in New York, 10:00 in Paris


def definitions(**sections: dict[str, Any]) -> LoadedDefinitions:
    document = yaml.safe_load(EXAMPLE_PATH.read_text())
    for section, values in sections.items():
        document[section] = {**document[section], **values}
    return parse_definitions(yaml.safe_dump(document).encode())


CURRENT = definitions()
TIMEZONES = {rep.id: rep.timezone for rep in CURRENT.definitions.routing.reps}


def rep(rep_id: str, weight: float = 1.0, **details: Any) -> RepState:
    """A live roster row as the example seeds it (team default, the example's time zone), with `details`."""
    return RepState(rep_id, "default", weight, timezone=TIMEZONES[rep_id], **details)


ROSTER = [rep("ana.ortiz"), rep("ben.carter"), rep("chloe.martin"), rep("dev.patel")]


def lead(
    n: int,
    fit_grade: str = "A",
    band: int = 3,
    *,
    country: str = "US",
    domain: str | None = None,
    at: datetime | None = None,
) -> SimulatedLead:
    lead_id = f"lead-{n:03d}"
    scored = LeadScored(
        lead_id=lead_id,
        score=80,
        fit_grade=fit_grade,  # type: ignore[arg-type]
        engagement_band=band,
        grade=f"{fit_grade}{band}",
        profile={"email": f"{lead_id}@acme.example", "company": "Acme", "country": country},  # type: ignore[arg-type]
        scored_at=at or T0 + timedelta(minutes=n),
        definitions_version="sha256:scoring",
    )
    return SimulatedLead(scored, LeadFacts(lead_id, country=country, domain=domain or f"co{n}.example", company="Acme"))


def run(leads: list[SimulatedLead], candidate: LoadedDefinitions, **kwargs: Any) -> Any:
    options: dict[str, Any] = {"roster": ROSTER, "accounts": [], "acceptance": {}, "at": T0 + timedelta(days=1)}
    return simulate(leads, current=CURRENT, candidate=candidate, **{**options, **kwargs})


def test_a_stricter_matrix_loses_the_leads_below_it_and_counts_mqls_by_fit_grade() -> None:
    leads = [lead(1, "A", 2), lead(2, "B", 2), lead(3, "B", 3), lead(4, "C", 3), lead(5, "D", 4)]
    stricter = definitions(qualification={"matrix": {"A": 2, "B": 3, "C": 4}})
    report = run(leads, stricter)
    assert report.current.by_fit_grade == {"A": 1, "B": 2, "C": 1}  # D never qualifies in the example
    assert report.candidate.by_fit_grade == {"A": 1, "B": 1}
    assert (report.gained, report.lost) == ([], ["lead-002", "lead-004"])
    assert report.as_dict()["candidate"]["by_rule"] == {"matrix": 2}


def test_the_rotation_shares_mqls_by_weight_and_skips_inactive_reps() -> None:
    leads = [lead(n) for n in range(12)]
    roster = [rep("ana.ortiz", 2.0), rep("ben.carter"), rep("chloe.martin"), rep("dev.patel", active=False)]
    report = run(leads, CURRENT, roster=roster)
    assert report.current.as_dict()["by_rep"] == {"ana.ortiz": 6, "ben.carter": 3, "chloe.martin": 3}
    assert report.moved == []  # same definitions, same leads in the same order: the same reps


def test_a_new_rule_and_team_take_their_leads_and_the_live_roster_overrides_the_candidates_reps() -> None:
    leads = [lead(n, country="FR" if n % 2 else "US") for n in range(8)]
    routing = yaml.safe_load(EXAMPLE_PATH.read_text())["routing"]
    reps = [{**rep, "team": "emea"} if rep["id"] == "chloe.martin" else rep for rep in routing["reps"]]
    reps.append({"id": "eva.kowalski", "name": "Eva Kowalski", "email": "eva@northwind.example", "team": "emea"})
    candidate = definitions(
        routing={
            "teams": [*routing["teams"], {"id": "emea", "name": "EMEA"}],
            "rules": [{"name": "emea", "when": {"countries": ["FR", "DE"]}, "team": "emea"}],
            "reps": reps,
        }
    )
    report = run(leads, candidate)
    assert report.candidate.by_team == {"default": 4, "emea": 4}
    assert report.candidate.by_route == {"default_team": 4, "rule:emea": 4}
    by_rep = report.candidate.as_dict()["by_rep"]
    assert by_rep["eva.kowalski"] == 4, "the live roster keeps chloe.martin in default; only the new rep is in emea"
    assert {(o.rep_id, o.field, o.live, o.definitions) for o in report.overrides} == {
        ("chloe.martin", "team_id", "default", "emea")
    }
    assert {lead_id for lead_id, _, now in report.moved if now == "eva.kowalski"} == {
        f"lead-{n:03d}" for n in range(1, 8, 2)
    }


def test_account_owners_get_their_accounts_leads_and_a_team_without_reps_queues() -> None:
    owned = lead(1, domain="lumenstack.io")
    accounts = [AccountRecord("acc-1", "Lumenstack", "lumenstack.io", owner_rep_id="ben.carter")]
    nobody = definitions(routing={"default_team": "nobody", "teams": [{"id": "nobody", "name": "Empty"}]})
    report = run([owned, lead(2)], nobody, accounts=accounts)
    assert report.candidate.routed == {"lead-001": "ben.carter", "lead-002": QUEUE}
    assert report.candidate.by_route == {"account_owner": 1, "fallback_queue": 1}


def test_expected_acceptance_weighs_each_fit_grades_rate_by_the_mqls_of_that_grade() -> None:
    history = {"A": (27, 30), "B": (15, 30), "C": (1, 2)}  # overall 43 of 62
    assert forecast({"A": 10}, history) == pytest.approx(0.9)
    assert forecast({"A": 10, "B": 10}, history) == pytest.approx(0.7)
    assert forecast({"C": 4}, history) == pytest.approx(43 / 62), f"fewer than {MIN_DECIDED}: the overall rate"
    assert forecast({"A": 3}, {}) is None
    assert forecast({}, history) is None
    report = run([lead(1, "A"), lead(2, "B", 2)], CURRENT, acceptance=history)
    assert report.current.expected_acceptance == pytest.approx(0.7)


def test_a_capped_reps_overflow_goes_to_the_others_until_their_own_next_day() -> None:
    monday = [lead(n) for n in range(12)]  # 09:00-09:11 UTC: Monday in Chicago too
    tuesday = [lead(100 + n, at=T0 + timedelta(days=1, minutes=n)) for n in range(4)]
    roster = [rep("ana.ortiz"), rep("ben.carter", daily_cap=2), rep("chloe.martin"), rep("dev.patel")]
    routed = run([*monday, *tuesday], CURRENT, roster=roster).current.routed
    given_to_ben = [lead_id for lead_id, rep_id in routed.items() if rep_id == "ben.carter"]
    assert len(given_to_ben) == 3, given_to_ben
    assert sum(lead_id.startswith("lead-1") for lead_id in given_to_ben) == 1, "a new day in Chicago: one more"
    assert len(routed) == 16 and QUEUE not in routed.values()


def test_working_hours_and_leave_are_read_when_each_lead_was_scored() -> None:
    office = WorkingHours(start="09:00", end="17:00")
    leave = ((T0 - timedelta(days=1), T0 + timedelta(hours=1)),)
    roster = [
        rep("ana.ortiz", working_hours=office),  # 04:00 in New York: not yet
        rep("ben.carter", out_of_office=leave),  # back at 10:00 UTC
        rep("chloe.martin", working_hours=office),  # 10:00 in Paris
        rep("dev.patel"),
    ]
    early = [lead(n) for n in range(6)]
    late = [lead(50 + n, at=T0 + timedelta(hours=6, minutes=n)) for n in range(9)]  # 10:00 in New York
    routed = run([*early, *late], CURRENT, roster=roster).current.routed
    assert {routed[lead.scored.lead_id] for lead in early} == {"chloe.martin", "dev.patel"}
    assert {routed[lead.scored.lead_id] for lead in late} == {"ana.ortiz", "ben.carter", "chloe.martin", "dev.patel"}


def test_caps_and_hours_a_candidate_sets_apply_to_the_reps_it_adds_and_are_noted_for_the_others() -> None:
    routing = yaml.safe_load(EXAMPLE_PATH.read_text())["routing"]
    reps = [{**r, "daily_cap": 1} if r["id"] == "ana.ortiz" else r for r in routing["reps"]]
    newcomer = {"id": "eva.kowalski", "name": "Eva Kowalski", "email": "eva@northwind.example", "team": "default"}
    candidate = definitions(routing={"reps": [*reps, {**newcomer, "daily_cap": 1}]})
    report = run([lead(n) for n in range(10)], candidate)
    by_rep = report.candidate.as_dict()["by_rep"]
    assert by_rep["eva.kowalski"] == 1, "a rep the file adds starts with the file's cap"
    assert by_rep["ana.ortiz"] > 1, "the live roster keeps ana.ortiz uncapped"
    assert [(o.rep_id, o.field, o.live, o.definitions) for o in report.overrides] == [
        ("ana.ortiz", "daily_cap", None, 1)
    ]


def test_a_buying_committee_counts_for_every_lead_of_its_account_as_its_latest_score_shows_it() -> None:
    def stakeholder(n: int, engaged: int, account: str = "acme.example") -> SimulatedLead:
        simulated = lead(n, "C", 1)  # fit C below its engagement bar (band 3)
        view = AccountSnapshot(account_key=account, engaged_stakeholders=engaged, engagement_score=10.0 * engaged)
        return replace(simulated, scored=simulated.scored.model_copy(update={"account": view}))

    # lead-001 was scored when one person at Acme was engaged, lead-002 when two were
    leads = [stakeholder(1, 1), stakeholder(2, 2), stakeholder(3, 1, account="other.example")]
    report = run(leads, definitions(qualification={"buying_committee": {"min_engaged_stakeholders": 2}}))
    assert report.current.qualified == {}  # the example asks for three
    assert report.gained == ["lead-001", "lead-002"]
    assert report.as_dict()["candidate"]["by_rule"] == {"buying_committee": 2}


def test_scoring_candidate_scores_replace_the_kept_ones_on_the_candidate_side_only() -> None:
    """What a scoring change does downstream: the same definitions on both sides, but the candidate
    side reads each lead as scoring's candidate would score it."""
    leads = [lead(1, "A", 1), lead(2, "A", 3)]  # lead-001 below the A bar (band 2), lead-002 above
    rescored = {
        "lead-001": leads[0].scored.model_copy(update={"engagement_band": 2, "grade": "A2", "scored_at": T0}),
        "lead-002": leads[1].scored.model_copy(update={"engagement_band": 1, "grade": "A1", "scored_at": T0}),
        "lead-999": leads[1].scored.model_copy(update={"lead_id": "lead-999"}),  # scoring has it, the handoff not
    }
    report = run(leads, CURRENT, candidate_scores=rescored)
    assert (report.gained, report.lost) == (["lead-001"], ["lead-002"])
    assert report.rescored == 2
    assert report.as_dict()["rescored_by_candidate_scoring"] == 2
