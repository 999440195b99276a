"""The MQL gate, table-driven from definitions snippets, with a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from baton_contracts.definitions import QualificationDefinitions
from baton_contracts.events import AccountSnapshot, LeadProfile, LeadScored
from baton_contracts.events import LeadState as S
from baton_handoff.qualification.rules import Outcome, qualify

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

RULES = QualificationDefinitions.model_validate(
    yaml.safe_load("""
mql_threshold: 50
matrix: {A: 2, B: 2, C: 3}
fast_track: {signals: [demo_request, contact_sales, pricing_page_view+form_submit]}
buying_committee: {min_engaged_stakeholders: 3}
required_fields: [company, country]
ignore_disqualifiers: [personal_email]
recycle_cooldown_days: 30
""")
)

FIT = {"company": "Acme", "country": "US"}


def lead(**values: Any) -> LeadScored:
    base: dict[str, Any] = {
        "lead_id": "l",
        "score": 10,
        "scored_at": NOW,
        "definitions_version": "v",
        "profile": LeadProfile(**FIT),
    }
    base.update(values)
    return LeadScored(**base)


@pytest.mark.parametrize(
    ("scored", "outcome", "rule"),
    [
        (lead(fit_grade="A", engagement_band=2), Outcome.MQL, "matrix"),
        (lead(fit_grade="B", engagement_band=2), Outcome.MQL, "matrix"),
        (lead(fit_grade="B", engagement_band=1), Outcome.NOT_YET, "matrix"),
        (lead(fit_grade="C", engagement_band=2), Outcome.NOT_YET, "matrix"),
        (lead(fit_grade="C", engagement_band=3), Outcome.MQL, "matrix"),
        (lead(fit_grade="D", engagement_band=4), Outcome.NOT_YET, "fit_bar"),
        (lead(fit_grade="B", engagement_band=1, high_intent=["demo_request"]), Outcome.MQL, "fast_track"),
        (
            lead(fit_grade="A", engagement_band=1, high_intent=["pricing_page_view+form_submit"]),
            Outcome.MQL,
            "fast_track",
        ),
        (lead(fit_grade="D", engagement_band=1, high_intent=["demo_request"]), Outcome.NOT_YET, "fit_bar"),
        (lead(fit_grade="B", engagement_band=1, high_intent=["webinar_attended"]), Outcome.NOT_YET, "matrix"),
        (
            lead(
                fit_grade="B",
                engagement_band=1,
                account=AccountSnapshot(account_key="acme.example", engaged_stakeholders=3, engagement_score=90),
            ),
            Outcome.MQL,
            "buying_committee",
        ),
        (
            lead(
                fit_grade="B",
                engagement_band=1,
                account=AccountSnapshot(account_key="acme.example", engaged_stakeholders=2, engagement_score=90),
            ),
            Outcome.NOT_YET,
            "matrix",
        ),
        (
            lead(fit_grade="A", engagement_band=4, disqualifiers=["competitor_domain"]),
            Outcome.DISQUALIFY,
            "disqualifier",
        ),
        (lead(fit_grade="A", engagement_band=4, disqualifiers=["personal_email"]), Outcome.MQL, "matrix"),
        (lead(fit_grade="A", engagement_band=4, profile=LeadProfile(company="Acme")), Outcome.HOLD, "required_fields"),
        (lead(score=50, profile=None), Outcome.MQL, "score_threshold"),
        (lead(score=49.9, profile=None), Outcome.NOT_YET, "score_threshold"),
    ],
)
def test_gate_decides_by_the_definitions(scored: LeadScored, outcome: Outcome, rule: str) -> None:
    decision = qualify(state=S.KNOWN, scored=scored, rules=RULES, now=NOW)
    assert (decision.outcome, decision.rule) == (outcome, rule), decision.reason


def test_fast_track_is_high_intent_and_says_which_signal() -> None:
    decision = qualify(
        state=S.KNOWN,
        scored=lead(fit_grade="B", engagement_band=1, high_intent=["contact_sales"]),
        rules=RULES,
        now=NOW,
    )
    assert decision.intent == "high"
    assert decision.details["signals"] == ["contact_sales"]


@pytest.mark.parametrize("company", [None, "", "   "])  # spaces are no company either
def test_held_lead_names_the_missing_fields(company: str | None) -> None:
    decision = qualify(
        state=S.KNOWN,
        scored=lead(fit_grade="A", engagement_band=3, profile=LeadProfile(country="US", company=company)),
        rules=RULES,
        now=NOW,
    )
    assert decision.outcome == Outcome.HOLD
    assert decision.details["missing"] == ["company"]


@pytest.mark.parametrize("state", [S.MQL, S.ASSIGNED, S.SAL, S.SQL, S.DISQUALIFIED, S.WON])
def test_lead_past_the_gate_is_not_qualified_again(state: S) -> None:
    decision = qualify(state=state, scored=lead(fit_grade="A", engagement_band=4), rules=RULES, now=NOW)
    assert decision.outcome == Outcome.NOT_APPLICABLE


@pytest.mark.parametrize("state", [S.KNOWN, S.MQL, S.ASSIGNED, S.REJECTED, S.RECYCLED])
def test_disqualifier_disqualifies_any_pre_sal_lead(state: S) -> None:
    decision = qualify(state=state, scored=lead(disqualifiers=["student"]), rules=RULES, now=NOW)
    assert decision.outcome == Outcome.DISQUALIFY
    assert decision.details == {"disqualifiers": ["student"]}


@pytest.mark.parametrize("state", [S.SAL, S.SQL, S.OPPORTUNITY])
def test_disqualifier_never_undoes_an_accepted_lead(state: S) -> None:
    assert qualify(state=state, scored=lead(disqualifiers=["student"]), rules=RULES, now=NOW).outcome == (
        Outcome.NOT_APPLICABLE
    )


def test_recycled_lead_waits_out_its_cooldown_then_qualifies() -> None:
    until = NOW + timedelta(days=30)
    hot = lead(fit_grade="A", engagement_band=4)
    waiting = qualify(state=S.RECYCLED, scored=hot, rules=RULES, now=NOW, requalify_after=until)
    assert (waiting.outcome, waiting.rule) == (Outcome.NOT_YET, "recycle_cooldown")
    later = qualify(state=S.RECYCLED, scored=hot, rules=RULES, now=until, requalify_after=until)
    assert later.outcome == Outcome.MQL
