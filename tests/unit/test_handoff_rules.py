"""Pure rules of the handoff service: lifecycle state machine, MQL gate, rotation."""

from __future__ import annotations

import pytest

from baton_contracts.definitions import QualificationDefinitions
from baton_contracts.events import LeadState as S
from baton_handoff.leads.rules import ALLOWED_TRANSITIONS, is_allowed
from baton_handoff.qualification.rules import qualify
from baton_handoff.routing.rules import next_in_rotation
from baton_handoff.webhooks.rules import lead_id_from_email

MQL_AT_50 = QualificationDefinitions(mql_threshold=50)


@pytest.mark.parametrize(
    ("current", "to"),
    [(None, S.KNOWN), (S.KNOWN, S.MQL), (S.MQL, S.ASSIGNED), (S.ASSIGNED, S.SAL), (S.SAL, S.SQL),
     (S.SQL, S.OPPORTUNITY), (S.ASSIGNED, S.REJECTED), (S.REJECTED, S.RECYCLED), (S.RECYCLED, S.MQL),
     (S.KNOWN, S.DISQUALIFIED), (S.MQL, S.DISQUALIFIED), (S.ASSIGNED, S.DISQUALIFIED)],
)
def test_design_transitions_are_allowed(current: S | None, to: S) -> None:
    assert is_allowed(current, to)


@pytest.mark.parametrize(
    ("current", "to"),
    [(S.KNOWN, S.ASSIGNED), (S.KNOWN, S.SAL), (S.MQL, S.SAL), (S.SAL, S.SAL), (S.SAL, S.DISQUALIFIED),
     (S.DISQUALIFIED, S.MQL), (S.OPPORTUNITY, S.KNOWN), (S.ASSIGNED, S.ASSIGNED), (None, S.MQL)],
)
def test_transitions_that_skip_or_reverse_a_stage_are_refused(current: S | None, to: S) -> None:
    assert not is_allowed(current, to)


def test_every_state_has_a_rule_and_terminal_states_lead_nowhere() -> None:
    assert set(ALLOWED_TRANSITIONS) == {None, *S}
    assert ALLOWED_TRANSITIONS[S.DISQUALIFIED] == frozenset()
    assert ALLOWED_TRANSITIONS[S.WON] == frozenset()
    assert ALLOWED_TRANSITIONS[S.LOST] == frozenset()


def test_known_lead_at_the_threshold_qualifies_and_says_why() -> None:
    decision = qualify(state=S.KNOWN, score=50, rules=MQL_AT_50)
    assert decision is not None
    assert decision.rule == "score_threshold"
    assert decision.details == {"score": 50, "threshold": 50}
    assert "50" in decision.reason


def test_lead_below_the_threshold_does_not_qualify() -> None:
    assert qualify(state=S.KNOWN, score=49.9, rules=MQL_AT_50) is None


@pytest.mark.parametrize("state", [S.MQL, S.ASSIGNED, S.SAL, S.DISQUALIFIED, S.REJECTED])
def test_lead_past_known_is_not_qualified_again(state: S) -> None:
    assert qualify(state=state, score=500, rules=MQL_AT_50) is None


def test_recycled_lead_can_qualify_again() -> None:
    assert qualify(state=S.RECYCLED, score=80, rules=MQL_AT_50) is not None


def test_rotation_hands_each_rep_a_turn_in_order_and_wraps() -> None:
    reps = ["ana", "ben", "chloe"]
    last = None
    turns = []
    for _ in range(7):
        last = next_in_rotation(reps, last_rep_id=last)
        turns.append(last)
    assert turns == ["ana", "ben", "chloe", "ana", "ben", "chloe", "ana"]


def test_adding_a_rep_does_not_reset_the_rotation() -> None:
    assert next_in_rotation(["ana", "ben", "chloe", "dev"], last_rep_id="ben") == "chloe"


def test_rotation_restarts_from_the_top_when_the_last_rep_left() -> None:
    assert next_in_rotation(["ana", "chloe"], last_rep_id="ben") == "ana"


def test_rotation_with_no_reps_is_an_error() -> None:
    with pytest.raises(ValueError, match="no reps"):
        next_in_rotation([], last_rep_id=None)


def test_lead_id_from_email_ignores_case_and_whitespace_and_hides_the_address() -> None:
    lead_id = lead_id_from_email("  Maria.Lopez@Acme.example ")
    assert lead_id == lead_id_from_email("maria.lopez@acme.example")
    assert "acme" not in lead_id
