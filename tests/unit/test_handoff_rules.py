"""Pure rules of the handoff service: the lifecycle state machine (qualification and routing have their own files)."""

from __future__ import annotations

import pytest

from baton_contracts.events import LeadState as S
from baton_handoff.leads.rules import ALLOWED_TRANSITIONS, is_allowed
from baton_handoff.webhooks.rules import lead_id_from_email


@pytest.mark.parametrize(
    ("current", "to"),
    [
        (None, S.KNOWN),
        (S.KNOWN, S.MQL),
        (S.MQL, S.ASSIGNED),
        (S.ASSIGNED, S.SAL),
        (S.SAL, S.SQL),
        (S.SQL, S.OPPORTUNITY),
        (S.ASSIGNED, S.REJECTED),
        (S.REJECTED, S.RECYCLED),
        (S.RECYCLED, S.MQL),
        (S.KNOWN, S.DISQUALIFIED),
        (S.MQL, S.DISQUALIFIED),
        (S.ASSIGNED, S.DISQUALIFIED),
        (S.ASSIGNED, S.ASSIGNED),
        (S.OPPORTUNITY, S.WON),
        (S.OPPORTUNITY, S.LOST),
    ],
)
def test_design_transitions_are_allowed(current: S | None, to: S) -> None:
    assert is_allowed(current, to)


@pytest.mark.parametrize(
    ("current", "to"),
    [
        (S.KNOWN, S.ASSIGNED),
        (S.KNOWN, S.SAL),
        (S.MQL, S.SAL),
        (S.SAL, S.SAL),
        (S.SAL, S.DISQUALIFIED),
        (S.DISQUALIFIED, S.MQL),
        (S.OPPORTUNITY, S.KNOWN),
        (S.SAL, S.ASSIGNED),
        (None, S.MQL),
        (S.WON, S.LOST),
    ],
)
def test_transitions_that_skip_or_reverse_a_stage_are_refused(current: S | None, to: S) -> None:
    assert not is_allowed(current, to)


def test_every_state_has_a_rule_and_terminal_states_lead_nowhere() -> None:
    assert set(ALLOWED_TRANSITIONS) == {None, *S}
    assert ALLOWED_TRANSITIONS[S.DISQUALIFIED] == frozenset()
    assert ALLOWED_TRANSITIONS[S.WON] == frozenset()
    assert ALLOWED_TRANSITIONS[S.LOST] == frozenset()


def test_lead_id_from_email_ignores_case_and_whitespace_and_hides_the_address() -> None:
    lead_id = lead_id_from_email("  Maria.Lopez@Acme.example ")
    assert lead_id == lead_id_from_email("maria.lopez@acme.example")
    assert "acme" not in lead_id
