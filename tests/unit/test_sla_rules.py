from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from baton_contracts.definitions import SlaDefinitions, SlaPolicy
from baton_contracts.events import LeadState, LifecycleChanged, SlaClockKind
from baton_sla_monitor.rules import (
    ClockState,
    Milestone,
    Milestones,
    SlaClock,
    breach,
    decide_lifecycle,
    is_due,
    meet,
    record_milestone,
    remaining_seconds,
)

ASSIGNED_AT = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
FOUR_HOURS = timedelta(hours=4)
SLA = SlaDefinitions(acceptance=SlaPolicy(name="standard-acceptance", target_seconds=int(FOUR_HOURS.total_seconds())))


def change(to_state: LeadState, *, at: datetime = ASSIGNED_AT, rep_id: str | None = "ana.ortiz",
           lead_id: str = "lead-1") -> LifecycleChanged:
    return LifecycleChanged(lead_id=lead_id, from_state=None, to_state=to_state, at=at, actor="system",
                            reason="test", definitions_version="sha256:000000000000", rep_id=rep_id)


def acceptance_clock(*, rep_id: str = "ana.ortiz", cause: str = "evt-assigned",
                     state: ClockState = ClockState.RUNNING) -> SlaClock:
    return SlaClock(clock_id=f"lead-1:acceptance:{cause}", lead_id="lead-1", kind=SlaClockKind.ACCEPTANCE,
                    policy="standard-acceptance", rep_id=rep_id, started_at=ASSIGNED_AT,
                    due_at=ASSIGNED_AT + FOUR_HOURS, state=state)


def breached_clock() -> SlaClock:
    return breach(acceptance_clock(), now=ASSIGNED_AT + FOUR_HOURS + timedelta(minutes=1))


def test_assignment_opens_an_acceptance_clock_due_after_the_policy_target() -> None:
    decision = decide_lifecycle(change=change(LeadState.ASSIGNED), event_id="evt-assigned", active=[], sla=SLA)

    assert decision.milestone is Milestone.ASSIGNED
    assert decision.stopped == ()
    assert decision.opened == (acceptance_clock(),)
    assert decision.opened[0].due_at == datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


def test_clock_id_names_the_lead_kind_and_causing_event() -> None:
    decision = decide_lifecycle(change=change(LeadState.ASSIGNED), event_id="evt-assigned", active=[], sla=SLA)

    assert decision.opened[0].clock_id == "lead-1:acceptance:evt-assigned"


def test_replayed_assignment_opens_no_second_clock() -> None:
    decision = decide_lifecycle(change=change(LeadState.ASSIGNED), event_id="evt-assigned",
                                active=[acceptance_clock()], sla=SLA)

    assert decision.opened == ()
    assert decision.stopped == ()


def test_reassignment_to_another_rep_cancels_the_running_clock_and_opens_one_for_the_new_rep() -> None:
    at = ASSIGNED_AT + timedelta(hours=1)
    decision = decide_lifecycle(change=change(LeadState.ASSIGNED, at=at, rep_id="ben.carter"),
                                event_id="evt-reassigned", active=[acceptance_clock()], sla=SLA)

    (cancelled,) = decision.stopped
    assert cancelled.state is ClockState.CANCELLED
    assert cancelled.stopped_at == at
    assert cancelled.met_late is None
    (opened,) = decision.opened
    assert opened.rep_id == "ben.carter"
    assert opened.due_at == at + FOUR_HOURS


def test_reassignment_to_the_same_rep_keeps_the_running_clock() -> None:
    decision = decide_lifecycle(change=change(LeadState.ASSIGNED, at=ASSIGNED_AT + timedelta(hours=1)),
                                event_id="evt-again", active=[acceptance_clock()], sla=SLA)

    assert decision.opened == ()
    assert decision.stopped == ()


def test_accepted_before_due_time_is_met_on_time() -> None:
    at = ASSIGNED_AT + timedelta(hours=2)
    decision = decide_lifecycle(change=change(LeadState.SAL, at=at), event_id="evt-sal",
                                active=[acceptance_clock()], sla=SLA)

    assert decision.milestone is Milestone.SAL
    (met,) = decision.stopped
    assert (met.state, met.met_late, met.stopped_at) == (ClockState.MET, False, at)
    assert met.breached_at is None
    assert decision.opened == ()


def test_handled_exactly_at_due_time_is_met_on_time() -> None:
    met = meet(acceptance_clock(), at=ASSIGNED_AT + FOUR_HOURS)

    assert met.met_late is False


def test_handled_after_due_time_is_met_late() -> None:
    met = meet(acceptance_clock(), at=ASSIGNED_AT + FOUR_HOURS + timedelta(seconds=1))

    assert (met.state, met.met_late) == (ClockState.MET, True)


def test_rejection_meets_the_acceptance_clock() -> None:
    decision = decide_lifecycle(change=change(LeadState.REJECTED, at=ASSIGNED_AT + timedelta(minutes=30)),
                                event_id="evt-rejected", active=[acceptance_clock()], sla=SLA)

    assert decision.milestone is Milestone.REJECTED
    assert [c.state for c in decision.stopped] == [ClockState.MET]


def test_handled_breached_clock_is_met_late_and_keeps_its_breach_time() -> None:
    clock = breached_clock()
    at = ASSIGNED_AT + FOUR_HOURS + timedelta(minutes=5)

    decision = decide_lifecycle(change=change(LeadState.SAL, at=at), event_id="evt-sal", active=[clock], sla=SLA)

    (met,) = decision.stopped
    assert (met.state, met.met_late) == (ClockState.MET, True)
    assert met.breached_at == clock.breached_at  # set: the service resolves the alert


def test_breached_clock_is_late_even_if_the_handling_time_is_before_due() -> None:
    met = meet(breached_clock(), at=ASSIGNED_AT + timedelta(hours=1))

    assert met.met_late is True


def test_leaving_assigned_without_acceptance_cancels_the_clock() -> None:
    decision = decide_lifecycle(change=change(LeadState.DISQUALIFIED, at=ASSIGNED_AT + timedelta(hours=1)),
                                event_id="evt-dq", active=[acceptance_clock()], sla=SLA)

    assert decision.milestone is None
    assert [c.state for c in decision.stopped] == [ClockState.CANCELLED]


def test_acceptance_without_a_running_clock_only_records_the_milestone() -> None:
    decision = decide_lifecycle(change=change(LeadState.SAL), event_id="evt-sal", active=[], sla=SLA)

    assert decision.milestone is Milestone.SAL
    assert (decision.stopped, decision.opened) == ((), ())


def test_mql_records_its_milestone_and_touches_no_clock() -> None:
    decision = decide_lifecycle(change=change(LeadState.MQL), event_id="evt-mql", active=[], sla=SLA)

    assert decision.milestone is Milestone.MQL
    assert (decision.stopped, decision.opened) == ((), ())


def test_milestone_keeps_the_earliest_time() -> None:
    first = record_milestone(Milestones(), Milestone.SAL, at=ASSIGNED_AT)

    assert record_milestone(first, Milestone.SAL, at=ASSIGNED_AT + timedelta(hours=1)).sal_at == ASSIGNED_AT
    assert record_milestone(first, Milestone.SAL, at=ASSIGNED_AT - timedelta(hours=1)).sal_at == (
        ASSIGNED_AT - timedelta(hours=1)
    )


def test_running_clock_is_due_from_its_due_time() -> None:
    clock = acceptance_clock()

    assert not is_due(clock, now=clock.due_at - timedelta(microseconds=1))
    assert is_due(clock, now=clock.due_at)


def test_breached_clock_is_not_due_again() -> None:
    clock = breached_clock()

    assert not is_due(clock, now=clock.due_at + timedelta(days=1))
    with pytest.raises(ValueError, match="cannot breach"):
        breach(clock, now=clock.due_at + timedelta(days=1))


def test_breach_records_when_it_was_seen() -> None:
    now = ASSIGNED_AT + FOUR_HOURS + timedelta(seconds=3)

    breached = breach(acceptance_clock(), now=now)

    assert (breached.state, breached.breached_at, breached.stopped_at) == (ClockState.BREACHED, now, None)


def test_remaining_seconds_is_negative_when_overdue() -> None:
    clock = breached_clock()

    assert remaining_seconds(clock, now=clock.due_at + timedelta(minutes=10)) == -600.0


def test_remaining_seconds_counts_down_while_running() -> None:
    assert remaining_seconds(acceptance_clock(), now=ASSIGNED_AT + timedelta(hours=3)) == 3600.0


def test_remaining_seconds_is_none_once_stopped() -> None:
    met = meet(acceptance_clock(), at=ASSIGNED_AT + timedelta(hours=1))

    assert remaining_seconds(met, now=ASSIGNED_AT + timedelta(hours=2)) is None
