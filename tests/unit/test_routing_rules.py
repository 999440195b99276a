"""Routing, pure: account matching, ordered rules, eligibility, and the weighted rotation's
fairness (hypothesis: over 10,000 assignments each eligible rep's share is within 2% of its
weight, and an ineligible rep never gets a lead)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from baton_contracts.definitions import RoutingDefinitions
from baton_contracts.definitions.routing import AccountMatching, WorkingHours
from baton_handoff.routing.rules import (
    AccountRecord,
    LeadFacts,
    RepState,
    TeamState,
    ineligibility,
    match_account,
    normalise_company,
    pick_weighted,
    route,
    segment_of,
)

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday 10:00 New York, 16:00 Paris
CONFIG = AccountMatching()

ROUTING = RoutingDefinitions.model_validate(
    yaml.safe_load("""
teams: [{id: default, name: Default}, {id: emea, name: EMEA}]
rules:
  - {name: enterprise-owner, when: {segments: [enterprise]}, rep: ana}
  - {name: emea, when: {countries: [FR, DE]}, team: emea}
  - {name: webinar-source, when: {sources: [webinar-tool]}, team: emea}
  - {name: observability, when: {products: [observability]}, rep: ben}
default_team: default
""")
)


def rep(rep_id: str, team: str = "default", **values: object) -> RepState:
    return RepState(rep_id=rep_id, team_id=team, **values)  # type: ignore[arg-type]


def rotate(reps: list[RepState], n: int, *, now: datetime = NOW) -> Counter[str]:
    """Run the rotation `n` times, persisting virtual times as the service does."""
    state = {r.rep_id: r for r in reps}
    virtual_time = 0.0
    got: Counter[str] = Counter()
    for i in range(n):
        pick = pick_weighted(list(state.values()), lead_id=f"lead-{i}", virtual_time=virtual_time, now=now)
        assert pick is not None
        for rep_id, lifted in pick.lifted.items():
            state[rep_id] = replace(state[rep_id], pass_value=lifted)
        state[pick.rep_id] = replace(state[pick.rep_id], pass_value=pick.pass_after)
        virtual_time = max(virtual_time, pick.virtual_time)
        got[pick.rep_id] += 1
    return got


# --- account matching ---


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("Acme, Inc.", "acme"),
        ("ACME Corporation", "acme"),
        ("Société Générale SA", "societe generale"),
        ("Smith & Sons Ltd", "smith and sons"),
        ("Group", "group"),
        ("Acme B.V.", "acme"),  # dotted initials are one word
        ("Acme L.L.C.", "acme"),
        ("Initech S.A", "initech"),
        ("Acme.io", "acme io"),  # a word, not initials
    ],
)
def test_company_names_are_normalised(raw: str, normalised: str) -> None:
    assert normalise_company(raw, suffixes=CONFIG.legal_suffixes) == normalised


def test_configured_suffixes_are_read_like_names() -> None:
    assert normalise_company("Globex GmbH", suffixes=["Inc", "GmbH", "S.A."]) == "globex"
    assert normalise_company("Initech S.A.", suffixes=["Inc", "GmbH", "S.A."]) == "initech"


@pytest.mark.parametrize(
    "hours", [{"start": "22:00", "end": "06:00"}, {"start": "09:00", "end": "09:00"}, {"days": []}]
)
def test_working_hours_that_can_never_match_are_refused(hours: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="working hours"):
        WorkingHours.model_validate(hours)


ACCOUNTS = [
    AccountRecord("acme", "Acme Corporation", "acme.example", "ana", 900),
    AccountRecord("acme-dup", "ACME Inc", None, None, 50),
    AccountRecord("globex", "Globex GmbH", "globex.example", "ben", 200),
]


def test_email_domain_matches_exactly_first() -> None:
    match = match_account(domain="globex.example", company="Acme", accounts=ACCOUNTS, config=CONFIG)
    assert match is not None
    assert (match.account_id, match.method) == ("globex", "domain")


def test_fuzzy_name_ties_go_to_the_owned_account() -> None:
    match = match_account(domain="gmail.example", company="Acme Inc.", accounts=ACCOUNTS, config=CONFIG)
    assert match is not None
    assert (match.account_id, match.method, match.owner_rep_id) == ("acme", "fuzzy_name", "ana")


def test_names_below_the_threshold_do_not_match() -> None:
    assert match_account(domain=None, company="Acne Pharma", accounts=ACCOUNTS, config=CONFIG) is None


# --- rules and segments ---


@pytest.mark.parametrize(
    ("employees", "segment"),
    [(None, None), (10, "smb"), (200, "mid_market"), (1999, "mid_market"), (2000, "enterprise")],
)
def test_segments_by_company_size(employees: int | None, segment: str | None) -> None:
    assert segment_of(employees, ROUTING.segments) == segment


def _route(facts: LeadFacts, reps: list[RepState], account: object = None) -> tuple[str | None, str]:
    teams = {t: TeamState(t, 0.0, tuple(r for r in reps if r.team_id == t)) for t in ("default", "emea")}
    decision, _ = route(
        facts,
        definitions=ROUTING,
        account=account,  # type: ignore[arg-type]
        reps_by_id={r.rep_id: r for r in reps},
        teams=teams,
        now=NOW,
    )
    return decision.rep_id, decision.rule


REPS = [rep("ana"), rep("ben"), rep("chloe", "emea"), rep("dev", "emea")]


@pytest.mark.parametrize(
    ("facts", "expected_rule", "expected_reps"),
    [
        (LeadFacts("l", employees=5000), "rule:enterprise-owner", {"ana"}),
        (LeadFacts("l", country="fr"), "rule:emea", {"chloe", "dev"}),
        (LeadFacts("l", source="webinar-tool"), "rule:webinar-source", {"chloe", "dev"}),
        (LeadFacts("l", products=frozenset({"observability"})), "rule:observability", {"ben"}),
        (LeadFacts("l", country="US"), "default_team", {"ana", "ben"}),
    ],
)
def test_first_matching_rule_routes(facts: LeadFacts, expected_rule: str, expected_reps: set[str]) -> None:
    rep_id, rule = _route(facts, REPS)
    assert rule == expected_rule
    assert rep_id in expected_reps


def test_rule_rep_who_is_away_falls_back_to_their_team() -> None:
    reps = [rep("ana", out_of_office=((NOW - timedelta(days=1), NOW + timedelta(days=1)),)), rep("ben")]
    assert _route(LeadFacts("l", employees=5000), reps) == ("ben", "rule:enterprise-owner")


def test_account_owner_wins_over_rules_when_eligible() -> None:
    from baton_handoff.routing.rules import AccountMatch

    owned = AccountMatch("acme", "domain", 100, "dev")
    assert _route(LeadFacts("l", country="US"), REPS, owned) == ("dev", "account_owner")
    inactive = [*REPS[:3], rep("dev", "emea", active=False)]
    assert _route(LeadFacts("l", country="US"), inactive, owned)[1] == "default_team"


def test_nobody_eligible_goes_to_the_fallback_queue() -> None:
    assert _route(LeadFacts("l"), [rep("ana", active=False), rep("ben", daily_cap=2, assigned_today=2)]) == (
        None,
        "fallback_queue",
    )


# --- eligibility ---


@pytest.mark.parametrize(
    ("state", "why"),
    [
        (rep("a"), None),
        (rep("a", active=False), "inactive"),
        (rep("a", out_of_office=((NOW, NOW + timedelta(hours=1)),)), "out_of_office"),
        (rep("a", out_of_office=((NOW - timedelta(hours=1), NOW),)), None),
        (rep("a", daily_cap=3, assigned_today=3), "daily_cap"),
        (rep("a", weekly_cap=10, assigned_this_week=10, assigned_today=0), "weekly_cap"),
        (rep("a", timezone="America/New_York", working_hours=WorkingHours()), None),  # 10:00 Monday
        (rep("a", timezone="Asia/Tokyo", working_hours=WorkingHours()), "outside_working_hours"),  # 00:00
        (
            rep("a", timezone="Europe/Paris", working_hours=WorkingHours(start="09:00", end="16:00")),
            "outside_working_hours",
        ),
    ],
)
def test_eligibility(state: RepState, why: str | None) -> None:
    assert ineligibility(state, now=NOW) == why


def test_previous_assignees_are_skipped() -> None:
    assert ineligibility(rep("a"), now=NOW, excluded=frozenset({"a"})) == "previous_assignee"


# --- the rotation ---


def test_equal_weights_take_turns() -> None:
    got = rotate([rep("a"), rep("b"), rep("c")], 300)
    assert got == Counter({"a": 100, "b": 100, "c": 100})


def test_ties_are_not_won_by_roster_order() -> None:
    starters: Counter[str] = Counter()
    for i in range(300):
        pick = pick_weighted([rep("a"), rep("b"), rep("c")], lead_id=f"x-{i}", virtual_time=0.0, now=NOW)
        assert pick is not None
        starters[pick.rep_id] += 1
    assert min(starters.values()) > 60, starters  # each ~100 of 300 first picks


def test_returning_rep_gets_no_burst() -> None:
    # "c" was away while a and b took 1,000 leads; on return c competes at the team's virtual time.
    away = [rep("a", pass_value=500.0), rep("b", pass_value=500.0), rep("c", pass_value=0.0)]
    pick = pick_weighted(away, lead_id="l", virtual_time=500.0, now=NOW)
    assert pick is not None
    assert pick.lifted.get("c", 500.0) == 500.0
    state = {r.rep_id: r for r in away}
    virtual_time, got = 500.0, Counter[str]()
    for i in range(30):
        pick = pick_weighted(list(state.values()), lead_id=f"l{i}", virtual_time=virtual_time, now=NOW)
        assert pick is not None
        for rep_id, lifted in pick.lifted.items():
            state[rep_id] = replace(state[rep_id], pass_value=lifted)
        state[pick.rep_id] = replace(state[pick.rep_id], pass_value=pick.pass_after)
        virtual_time = max(virtual_time, pick.virtual_time)
        got[pick.rep_id] += 1
    assert got == Counter({"a": 10, "b": 10, "c": 10})


@settings(max_examples=25, deadline=None)
@given(
    weights=st.lists(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]), min_size=2, max_size=6),
    ineligible=st.lists(st.sampled_from(["inactive", "out_of_office", "daily_cap"]), max_size=3),
)
def test_shares_follow_weights_within_2_percent_and_ineligible_reps_get_nothing(
    weights: list[float], ineligible: list[str]
) -> None:
    reps = [rep(f"r{i}", weight=w) for i, w in enumerate(weights)]
    blocked: dict[str, str] = {}
    for i, why in enumerate(ineligible[: len(reps) - 1]):
        rep_id = f"r{len(reps) - 1 - i}"
        blocked[rep_id] = why
        change = {
            "inactive": {"active": False},
            "out_of_office": {"out_of_office": ((NOW, NOW + timedelta(days=1)),)},
            "daily_cap": {"daily_cap": 1, "assigned_today": 1},
        }[why]
        reps[len(reps) - 1 - i] = replace(reps[len(reps) - 1 - i], **change)  # type: ignore[arg-type]
    got = rotate(reps, 10_000)
    assert not set(got) & set(blocked)
    eligible = [r for r in reps if r.rep_id not in blocked]
    total_weight = sum(r.weight for r in eligible)
    for r in eligible:
        assert abs(got[r.rep_id] / 10_000 - r.weight / total_weight) <= 0.02, (r, got)
