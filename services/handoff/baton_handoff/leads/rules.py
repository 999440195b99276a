"""The lifecycle state machine (DESIGN.md): which transitions are legal. Pure."""

from __future__ import annotations

from baton_contracts.events import LeadState as S

PRE_SAL = frozenset({S.KNOWN, S.MQL, S.ASSIGNED})

ALLOWED_TRANSITIONS: dict[S | None, frozenset[S]] = {
    None: frozenset({S.KNOWN}),
    S.KNOWN: frozenset({S.MQL, S.DISQUALIFIED}),
    S.MQL: frozenset({S.ASSIGNED, S.DISQUALIFIED}),
    # assigned → assigned is a reassignment to another rep (the CRM's `reassign`, or an SLA breach).
    S.ASSIGNED: frozenset({S.ASSIGNED, S.SAL, S.REJECTED, S.DISQUALIFIED}),
    S.SAL: frozenset({S.SQL}),
    S.SQL: frozenset({S.OPPORTUNITY}),
    S.OPPORTUNITY: frozenset({S.WON, S.LOST}),
    S.WON: frozenset(),
    S.LOST: frozenset(),
    S.REJECTED: frozenset({S.RECYCLED, S.DISQUALIFIED}),
    S.RECYCLED: frozenset({S.MQL, S.DISQUALIFIED}),
    S.DISQUALIFIED: frozenset(),
}


TERMINAL_DECISIONS = frozenset({S.SAL, S.REJECTED, S.DISQUALIFIED})
"""What can end an assignment: exactly one of these is recorded per assignment."""


def is_allowed(current: S | None, to: S) -> bool:
    return to in ALLOWED_TRANSITIONS[current]
