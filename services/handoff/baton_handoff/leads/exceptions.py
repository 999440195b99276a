from __future__ import annotations

from baton_contracts.events import LeadState
from baton_kit.http import Problem


class LeadNotFound(Problem):
    status = 404
    title = "Lead not found"
    type = "https://baton.dev/problems/lead-not-found"


class IllegalTransition(Problem):
    status = 409
    title = "Illegal lifecycle transition"
    type = "https://baton.dev/problems/illegal-transition"

    def __init__(self, *, lead_id: str, current: LeadState, to: LeadState) -> None:
        super().__init__(
            f"lead {lead_id!r} is {current.value}; it cannot become {to.value}",
            extra={"current_state": current.value, "requested_state": to.value},
        )


class NoResponseYet(Problem):
    """A first response reported for a lead no rep holds: nobody could have responded to it yet."""

    status = 409
    title = "Lead not assigned"
    type = "https://baton.dev/problems/not-assigned"

    def __init__(self, *, lead_id: str, current: LeadState) -> None:
        super().__init__(
            f"lead {lead_id!r} is {current.value}; a first response is recorded once a rep holds it",
            extra={"current_state": current.value},
        )


class NotTheAssignedRep(Problem):
    status = 409
    title = "Lead is assigned to another rep"
    type = "https://baton.dev/problems/not-assigned-rep"

    def __init__(self, *, lead_id: str, assigned: str | None, caller: str) -> None:
        super().__init__(
            f"lead {lead_id!r} is assigned to {assigned!r}, not {caller!r}",
            extra={"assigned_rep_id": assigned},
        )
