"""Pure SLA rules with frozen instants: policies, calendars, clocks, warnings, the ladder, pauses."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton_contracts.definitions import EXAMPLE_PATH, SlaDefinitions, SlaPolicy, load_definitions
from baton_contracts.definitions.sla import (
    BusinessCalendar,
    EscalationLadder,
    EscalationStep,
    PauseCondition,
    TargetOverride,
)
from baton_contracts.events import Assignee, LeadState, LifecycleChanged, SlaClockKind
from baton_kit.clock import FrozenClock
from baton_sla_monitor.reports import GroupBy, attainment, percentile
from baton_sla_monitor.rules import (
    ClockState,
    Milestone,
    Milestones,
    SlaClock,
    alerted_steps,
    calendar_for,
    consumed_seconds,
    decide_lifecycle,
    due_steps,
    fire,
    meet,
    pause,
    policy_for,
    record_milestone,
    remaining_business_seconds,
    remaining_seconds,
    resume,
    schedule,
    step_severity,
)

NY = ZoneInfo("America/New_York")
FRIDAY_1630 = datetime(2026, 11, 20, 16, 30, tzinfo=NY)
MONDAY_1000 = datetime(2026, 11, 23, 10, 0, tzinfo=NY)
HOUR = 3600

LADDER = EscalationLadder(
    steps=[
        EscalationStep(target="owner", after_seconds=0, channels=["slack"]),
        EscalationStep(target="manager", after_seconds=1800, channels=["slack", "webhook"]),
        EscalationStep(target="on_call", after_seconds=3600, channels=["pagerduty", "alertmanager"]),
    ],
    reassign_on_breach=True,
    reassign_after_seconds=600,
)
SLA = SlaDefinitions(
    acceptance=SlaPolicy(name="standard-acceptance", target_seconds=4 * HOUR, time="business"),
    assignment=SlaPolicy(name="system-assignment", target_seconds=60),
    first_response=SlaPolicy(name="standard-first-response", target_seconds=24 * HOUR, time="business"),
    targets=[
        TargetOverride(
            kind="first_response",
            intent="high",
            policy=SlaPolicy(name="high-intent-first-response", target_seconds=300, time="business"),
        ),
        TargetOverride(
            kind="acceptance",
            segment="enterprise",
            policy=SlaPolicy(name="enterprise-acceptance", target_seconds=2 * HOUR, time="business"),
        ),
    ],
    calendars={
        "default": BusinessCalendar(timezone="America/New_York", country="US"),
        "emea": BusinessCalendar(timezone="Europe/Paris", country="FR"),
        "apac": BusinessCalendar(timezone="Pacific/Auckland", country="NZ"),
    },
    team_calendars={"emea": "emea"},
    pauses=[PauseCondition(name="waiting", pause_reasons=["waiting_on_prospect"], resume_reasons=["prospect_replied"])],
    escalations={"default": LADDER},
)


def change(
    to_state: LeadState,
    *,
    at: datetime = FRIDAY_1630,
    from_state: LeadState | None = None,
    rep_id: str | None = "ana.ortiz",
    reason: str = "test",
    assignee: Assignee | None = None,
    segment: str | None = None,
    intent: str | None = None,
) -> LifecycleChanged:
    return LifecycleChanged(
        lead_id="lead-1",
        from_state=from_state,
        to_state=to_state,
        at=at,
        actor="system",
        reason=reason,
        definitions_version="sha256:000000000000",
        rep_id=rep_id,
        assignee=assignee,
        segment=segment,
        intent=intent,  # type: ignore[arg-type]
    )


def opened(kind: SlaClockKind, *, at: datetime = FRIDAY_1630, event_id: str = "evt-1", **kwargs: object) -> SlaClock:
    decision = decide_lifecycle(
        change=change(LeadState.ASSIGNED, at=at, **kwargs),
        event_id=event_id,  # type: ignore[arg-type]
        active=[],
        sla=SLA,
    )
    return next(c for c in decision.opened if c.kind == kind)


# --- policies and calendars ---------------------------------------------------------------------


def test_targets_pick_a_policy_by_intent_and_segment_else_the_kind_default() -> None:
    assert policy_for(SlaClockKind.FIRST_RESPONSE, SLA, intent="high").name == "high-intent-first-response"  # type: ignore[union-attr]
    assert policy_for(SlaClockKind.FIRST_RESPONSE, SLA, intent="standard").name == "standard-first-response"  # type: ignore[union-attr]
    assert policy_for(SlaClockKind.ACCEPTANCE, SLA, segment="enterprise").name == "enterprise-acceptance"  # type: ignore[union-attr]
    assert policy_for(SlaClockKind.ACCEPTANCE, SLA, segment="smb").name == "standard-acceptance"  # type: ignore[union-attr]


def test_calendar_precedence_rep_calendar_then_team_then_default_with_reps_own_zone() -> None:
    policy = SLA.acceptance
    assert calendar_for(policy, SLA, None).timezone == "America/New_York"  # type: ignore[union-attr]
    assert calendar_for(policy, SLA, Assignee(rep_id="c", team_id="emea")).timezone == "Europe/Paris"  # type: ignore[union-attr]
    assert calendar_for(policy, SLA, Assignee(rep_id="c", team_id="emea", calendar="apac")).timezone == (  # type: ignore[union-attr]
        "Pacific/Auckland"
    )
    own = calendar_for(policy, SLA, Assignee(rep_id="d", timezone="Europe/London", country="GB"))
    assert (own.timezone, own.country) == ("Europe/London", "GB")  # type: ignore[union-attr]
    # a country without public holidays in the `holidays` library keeps the calendar's own: the clock still runs
    unknown = calendar_for(policy, SLA, Assignee(rep_id="e", timezone="Europe/London", country="ZZ"))
    assert (unknown.timezone, unknown.country) == ("Europe/London", calendar_for(policy, SLA, None).country)  # type: ignore[union-attr]
    assert calendar_for(SLA.assignment, SLA, None) is None  # type: ignore[arg-type]


def test_a_rep_who_states_no_zone_counts_on_the_team_calendar_after_the_event_travels_as_json() -> None:
    """Fields a sender left out are all set once an event has been serialised and read back: the rep's
    zone must be None there, not a default that would replace the team calendar's."""
    travelled = Assignee.model_validate_json(Assignee(rep_id="c", team_id="emea").model_dump_json())
    assert calendar_for(SLA.acceptance, SLA, travelled).timezone == "Europe/Paris"  # type: ignore[union-attr]
    for unknown in ("Mars/Olympus", "america/new_york"):  # kept on the calendar's zone, not dead-lettered
        odd = Assignee(rep_id="d", team_id="emea", timezone=unknown)
        assert calendar_for(SLA.acceptance, SLA, odd).timezone == "Europe/Paris"  # type: ignore[union-attr]


def test_the_example_definitions_load_with_every_sla_section() -> None:
    sla = load_definitions(EXAMPLE_PATH).definitions.sla
    assert sla.warnings_percent == [80, 95]
    assert sla.escalations["fast-track"].reassign_on_breach
    assert {t.kind for t in sla.targets} >= {"first_response", "acceptance"}


def test_definitions_refuse_a_ladder_or_calendar_that_does_not_exist() -> None:
    with pytest.raises(ValueError, match="no calendar named"):
        SlaDefinitions(acceptance=SlaPolicy(name="a", target_seconds=1, calendar="nope"))
    with pytest.raises(ValueError, match="no escalation ladder"):
        SlaDefinitions(acceptance=SlaPolicy(name="a", target_seconds=1, escalation="nope"))
    with pytest.raises(ValueError, match="between 1 and 99"):
        SlaDefinitions(acceptance=SlaPolicy(name="a", target_seconds=1), warnings_percent=[100])


# --- opening and stopping clocks ----------------------------------------------------------------


def test_acceptance_clock_opened_friday_1630_with_4_business_hours_is_due_monday_1230() -> None:
    clock = opened(SlaClockKind.ACCEPTANCE)
    assert clock.due_at == datetime(2026, 11, 23, 12, 30, tzinfo=NY)
    assert clock.next_step == "warning_80"


def test_assignment_clock_opens_on_mql_in_wall_time_and_is_met_by_assignment() -> None:
    decision = decide_lifecycle(change=change(LeadState.MQL, rep_id=None), event_id="evt-mql", active=[], sla=SLA)
    (clock,) = decision.opened
    assert clock.kind == SlaClockKind.ASSIGNMENT
    assert clock.due_at == FRIDAY_1630 + timedelta(seconds=60)
    later = FRIDAY_1630 + timedelta(seconds=20)
    decision = decide_lifecycle(change=change(LeadState.ASSIGNED, at=later), event_id="evt-a", active=[clock], sla=SLA)
    assert [(c.kind, c.state, c.met_late) for c in decision.stopped] == [
        (SlaClockKind.ASSIGNMENT, ClockState.MET, False)
    ]
    assert {c.kind for c in decision.opened} == {SlaClockKind.ACCEPTANCE, SlaClockKind.FIRST_RESPONSE}


def test_an_assignment_applied_after_the_acceptance_it_led_to_opens_no_clock_nothing_would_meet() -> None:
    """Events out of order (a dead letter redriven): `sal` at 10:05 was applied, then `assigned` at 10:00."""
    accepted = Milestones(assigned_at=None, sal_at=MONDAY_1000 + timedelta(minutes=5))
    decision = decide_lifecycle(
        change=change(LeadState.ASSIGNED, at=MONDAY_1000), event_id="evt-a", active=[], sla=SLA, reached=accepted
    )
    assert {c.kind for c in decision.opened} == {SlaClockKind.FIRST_RESPONSE}  # acceptance: met already
    responded = Milestones(first_response_at=MONDAY_1000 - timedelta(minutes=1))  # before this cycle: counts not
    cycle = decide_lifecycle(
        change=change(LeadState.ASSIGNED, at=MONDAY_1000), event_id="evt-b", active=[], sla=SLA, reached=responded
    )
    assert {c.kind for c in cycle.opened} == {SlaClockKind.ACCEPTANCE, SlaClockKind.FIRST_RESPONSE}


def test_a_clock_kind_dropped_from_the_definitions_stops_its_running_clocks_as_before_and_opens_none() -> None:
    """Else an assignment clock opened before the change would never be met and escalate forever."""
    (running,) = decide_lifecycle(
        change=change(LeadState.MQL, rep_id=None), event_id="evt-mql", active=[], sla=SLA
    ).opened
    without = SLA.model_copy(update={"assignment": None})
    later = FRIDAY_1630 + timedelta(seconds=20)
    assigned = decide_lifecycle(
        change=change(LeadState.ASSIGNED, at=later), event_id="evt-a", active=[running], sla=without
    )
    assert [(c.kind, c.state) for c in assigned.stopped] == [(SlaClockKind.ASSIGNMENT, ClockState.MET)]
    again = decide_lifecycle(change=change(LeadState.MQL, rep_id=None), event_id="evt-mql-2", active=[], sla=without)
    assert again.opened == ()


def test_high_intent_first_response_is_5_business_minutes() -> None:
    clock = opened(SlaClockKind.FIRST_RESPONSE, intent="high")
    assert clock.policy == "high-intent-first-response"
    assert clock.due_at == datetime(2026, 11, 20, 16, 35, tzinfo=NY)


def test_replayed_assignment_opens_nothing() -> None:
    first = decide_lifecycle(change=change(LeadState.ASSIGNED), event_id="evt-1", active=[], sla=SLA)
    again = decide_lifecycle(change=change(LeadState.ASSIGNED), event_id="evt-1", active=list(first.opened), sla=SLA)
    assert (again.opened, again.stopped, again.changed) == ((), (), ())


def test_reassignment_restarts_acceptance_for_the_new_rep_and_keeps_first_response_running() -> None:
    first = decide_lifecycle(change=change(LeadState.ASSIGNED), event_id="evt-1", active=[], sla=SLA)
    response = next(c for c in first.opened if c.kind == SlaClockKind.FIRST_RESPONSE)
    again = decide_lifecycle(
        change=change(
            LeadState.ASSIGNED,
            from_state=LeadState.ASSIGNED,
            at=MONDAY_1000,
            rep_id="ben.carter",
            assignee=Assignee(rep_id="ben.carter", manager_id="mia"),
        ),
        event_id="evt-2",
        active=list(first.opened),
        sla=SLA,
    )
    assert [(c.kind, c.state) for c in again.stopped] == [(SlaClockKind.ACCEPTANCE, ClockState.CANCELLED)]
    (new_acceptance,) = again.opened
    assert (new_acceptance.rep_id, new_acceptance.started_at) == ("ben.carter", MONDAY_1000)
    assert new_acceptance.due_at == datetime(2026, 11, 23, 14, 0, tzinfo=NY)
    (kept,) = again.changed
    assert (kept.clock_id, kept.rep_id, kept.manager_id, kept.due_at) == (
        response.clock_id,
        "ben.carter",
        "mia",
        response.due_at,
    )
    # The first assignment delivered again after it (a dead letter redriven): older than ben's clocks,
    # it cancels nothing and takes nothing back from him.
    running = [new_acceptance, kept]
    stale = decide_lifecycle(change=change(LeadState.ASSIGNED), event_id="evt-1", active=running, sla=SLA)
    assert (stale.stopped, stale.opened, stale.changed) == ((), (), ())


def test_first_response_reason_meets_the_first_response_clock_and_records_the_milestone() -> None:
    first = decide_lifecycle(change=change(LeadState.ASSIGNED), event_id="evt-1", active=[], sla=SLA)
    responded = decide_lifecycle(
        change=change(LeadState.ASSIGNED, from_state=LeadState.ASSIGNED, at=MONDAY_1000, reason="first_response"),
        event_id="evt-2",
        active=list(first.opened),
        sla=SLA,
    )
    assert [(c.kind, c.state) for c in responded.stopped] == [(SlaClockKind.FIRST_RESPONSE, ClockState.MET)]
    assert responded.milestones == (Milestone.FIRST_RESPONSE,)
    # an acceptance that reports the first response reaches both milestones
    both = decide_lifecycle(
        change=change(LeadState.SAL, from_state=LeadState.ASSIGNED, at=MONDAY_1000, reason="first_response"),
        event_id="evt-3",
        active=list(first.opened),
        sla=SLA,
    )
    assert both.milestones == (Milestone.FIRST_RESPONSE, Milestone.SAL)


def test_acceptance_keeps_first_response_running_and_disqualification_cancels_both() -> None:
    first = decide_lifecycle(change=change(LeadState.ASSIGNED), event_id="evt-1", active=[], sla=SLA)
    accepted = decide_lifecycle(
        change=change(LeadState.SAL, from_state=LeadState.ASSIGNED, at=MONDAY_1000),
        event_id="evt-2",
        active=list(first.opened),
        sla=SLA,
    )
    assert [c.kind for c in accepted.stopped] == [SlaClockKind.ACCEPTANCE]
    dropped = decide_lifecycle(
        change=change(LeadState.DISQUALIFIED, from_state=LeadState.ASSIGNED, at=MONDAY_1000),
        event_id="evt-3",
        active=list(first.opened),
        sla=SLA,
    )
    assert {(c.kind, c.state) for c in dropped.stopped} == {
        (SlaClockKind.ACCEPTANCE, ClockState.CANCELLED),
        (SlaClockKind.FIRST_RESPONSE, ClockState.CANCELLED),
    }


def test_record_milestone_keeps_the_earliest_time() -> None:
    once = record_milestone(Milestones(), Milestone.SAL, at=MONDAY_1000)
    assert record_milestone(once, Milestone.SAL, at=MONDAY_1000 + timedelta(hours=1)).sal_at == MONDAY_1000


# --- warnings, breach, ladder -------------------------------------------------------------------


def test_warnings_at_80_and_95_percent_then_breach_then_ladder_with_its_delays() -> None:
    clock = opened(SlaClockKind.ACCEPTANCE)
    steps = {s.name: s for s in schedule(clock)}
    monday = datetime(2026, 11, 23, 0, 0, tzinfo=NY)
    # 4 business hours from Fri 16:30: 30 min Friday, then Monday from 09:00.
    assert steps["warning_80"].due_at == monday + timedelta(hours=11, minutes=42)  # 80% = 3h12m
    assert steps["warning_95"].due_at == monday + timedelta(hours=12, minutes=18)  # 95% = 3h48m
    assert steps["breach"].due_at == monday + timedelta(hours=12, minutes=30)
    assert steps["escalation_1"].due_at == steps["breach"].due_at
    assert steps["escalation_2"].due_at == steps["breach"].due_at + timedelta(minutes=30)
    assert steps["escalation_3"].due_at == steps["breach"].due_at + timedelta(minutes=90)
    assert steps["reassign"].due_at == steps["breach"].due_at + timedelta(minutes=10)
    assert [s.severity for s in schedule(clock)][:5] == ["warning", "warning", "error", "error", "info"]
    assert steps["escalation_3"].severity == "critical"
    assert step_severity(clock.plan, "escalation_3") == "critical"


def test_each_step_fires_once_in_order_and_breach_marks_the_clock_breached() -> None:
    clock = opened(SlaClockKind.ACCEPTANCE)
    frozen = FrozenClock(datetime(2026, 11, 23, 11, 42, tzinfo=NY))
    (warning,) = due_steps(clock, now=frozen.now())
    clock = fire(clock, warning, now=frozen.now())
    assert clock.next_step == "warning_95"
    assert due_steps(clock, now=frozen.now()) == []
    with pytest.raises(ValueError, match="already fired"):
        fire(clock, warning, now=frozen.now())
    frozen.set(datetime(2026, 11, 23, 12, 30, tzinfo=NY))
    for step in due_steps(clock, now=frozen.now()):
        clock = fire(clock, step, now=frozen.now())
    assert clock.fired == ("warning_80", "warning_95", "breach", "escalation_1")
    assert clock.state == ClockState.BREACHED
    assert clock.breached_at == datetime(2026, 11, 23, 12, 30, tzinfo=NY)
    assert clock.next_step == "reassign"


def test_a_monitor_down_for_hours_fires_every_missed_step_on_its_first_pass() -> None:
    clock = opened(SlaClockKind.ACCEPTANCE)
    late = datetime(2026, 11, 23, 18, 0, tzinfo=NY)
    names = [s.name for s in due_steps(clock, now=late)]
    assert names == ["warning_80", "warning_95", "breach", "escalation_1", "reassign", "escalation_2", "escalation_3"]


def test_met_late_after_breach_lists_every_alert_to_resolve() -> None:
    clock = opened(SlaClockKind.ACCEPTANCE)
    now = datetime(2026, 11, 23, 13, 0, tzinfo=NY)
    for step in due_steps(clock, now=now):
        clock = fire(clock, step, now=now)
    met = meet(clock, at=now)
    assert (met.state, met.met_late, met.next_due_at) == (ClockState.MET, True, None)
    assert "reassign" in met.fired
    assert alerted_steps(met) == ("warning_80", "warning_95", "breach", "escalation_1", "escalation_2")


def test_met_before_due_is_on_time() -> None:
    clock = opened(SlaClockKind.ACCEPTANCE)
    assert meet(clock, at=MONDAY_1000).met_late is False


def test_an_acceptance_before_the_due_time_is_on_time_even_when_the_breach_fired_first() -> None:
    """A lagging consumer applies the `sal` after the timer fired the breach: the clock was met on time."""
    clock = opened(SlaClockKind.ACCEPTANCE)
    for step in due_steps(clock, now=clock.due_at + timedelta(minutes=1)):
        clock = fire(clock, step, now=clock.due_at + timedelta(minutes=1))
    assert clock.state == ClockState.BREACHED
    assert meet(clock, at=clock.due_at - timedelta(minutes=1)).met_late is False
    assert meet(clock, at=clock.due_at + timedelta(minutes=1)).met_late is True


# --- pauses -------------------------------------------------------------------------------------


def test_waiting_on_prospect_pauses_first_response_and_prospect_replied_resumes_it() -> None:
    clock = opened(SlaClockKind.FIRST_RESPONSE, at=MONDAY_1000)
    assert clock.due_at == datetime(2026, 11, 26, 10, 0, tzinfo=NY) + timedelta(days=1)  # Thanksgiving skipped
    paused = decide_lifecycle(
        change=change(
            LeadState.ASSIGNED,
            from_state=LeadState.ASSIGNED,
            at=MONDAY_1000 + timedelta(hours=2),
            reason="waiting_on_prospect",
        ),
        event_id="evt-p",
        active=[clock],
        sla=SLA,
    ).changed[0]
    assert (paused.is_paused, paused.next_due_at, paused.consumed_seconds) == (True, None, 2 * HOUR)
    resumed_at = datetime(2026, 11, 24, 10, 0, tzinfo=NY)
    resumed = decide_lifecycle(
        change=change(LeadState.ASSIGNED, from_state=LeadState.ASSIGNED, at=resumed_at, reason="prospect_replied"),
        event_id="evt-r",
        active=[paused],
        sla=SLA,
    ).changed[0]
    assert not resumed.is_paused
    assert resumed.paused_seconds == (resumed_at - paused.paused_at).total_seconds()  # type: ignore[operator]
    # 22 business hours left from Tue 10:00: Tue 7h, Wed 8h, (Thu holiday), Fri 7h → Fri 16:00.
    assert resumed.due_at == datetime(2026, 11, 27, 16, 0, tzinfo=NY)
    assert remaining_business_seconds(resumed, now=resumed_at) == 22 * HOUR


def test_a_paused_clock_resumes_on_any_change_of_the_leads_state() -> None:
    clock = opened(SlaClockKind.FIRST_RESPONSE, at=MONDAY_1000)
    waiting = change(
        LeadState.ASSIGNED,
        from_state=LeadState.ASSIGNED,
        at=MONDAY_1000 + timedelta(hours=1),
        reason="waiting_on_prospect",
    )
    paused = decide_lifecycle(change=waiting, event_id="evt-p", active=[clock], sla=SLA).changed[0]
    accepted = change(
        LeadState.SAL, from_state=LeadState.ASSIGNED, at=MONDAY_1000 + 2 * timedelta(hours=1), reason="accepted"
    )
    decision = decide_lifecycle(change=accepted, event_id="evt-s", active=[paused], sla=SLA)
    resumed = next(c for c in decision.changed if c.clock_id == clock.clock_id)
    assert paused.is_paused and not resumed.is_paused  # the prospect answered: the lead moved on


def test_a_paused_clock_fires_nothing() -> None:
    clock = pause(opened(SlaClockKind.ACCEPTANCE, at=MONDAY_1000), at=MONDAY_1000 + timedelta(minutes=5))
    later = MONDAY_1000 + timedelta(days=30)
    assert due_steps(clock, now=later) == []
    # not "overdue" while paused: its due time moves when it resumes; what is left is business time
    assert remaining_seconds(clock, now=later) is None
    assert remaining_business_seconds(clock, now=later) == 4 * HOUR - 5 * 60


@settings(max_examples=60, deadline=None)
@given(gaps=st.lists(st.integers(min_value=60, max_value=20 * HOUR), min_size=1, max_size=6))
def test_pauses_never_make_a_clock_due_sooner_and_never_count_paused_time(gaps: list[int]) -> None:
    clock = opened(SlaClockKind.ACCEPTANCE, at=MONDAY_1000)
    original_due = clock.due_at
    at = MONDAY_1000
    for index, gap in enumerate(gaps):
        at += timedelta(seconds=gap)
        clock = pause(clock, at=at) if index % 2 == 0 else resume(clock, at=at)
    assert consumed_seconds(clock, at=at) <= (at - MONDAY_1000).total_seconds()
    assert clock.due_at >= original_due or clock.is_paused


# --- attainment ---------------------------------------------------------------------------------


def test_attainment_per_rep_with_p50_and_p90() -> None:
    base = opened(SlaClockKind.ACCEPTANCE, at=MONDAY_1000)
    clocks = [meet(replace(base, clock_id=f"c{i}"), at=MONDAY_1000 + timedelta(minutes=10 * i)) for i in range(1, 11)]
    clocks.append(meet(replace(base, clock_id="late", rep_id="ben"), at=MONDAY_1000 + timedelta(hours=6)))
    rows = {r.group: r for r in attainment(clocks, group_by=GroupBy.REP, now=MONDAY_1000 + timedelta(days=1))}
    assert (rows["ana.ortiz"].clocks, rows["ana.ortiz"].attainment) == (10, 1.0)
    assert rows["ana.ortiz"].p50_business_seconds == 50 * 60
    assert rows["ana.ortiz"].p90_business_seconds == 90 * 60
    assert (rows["ben"].late, rows["ben"].attainment) == (1, 0.0)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0], 90) == 2.0


def test_instants_are_timezone_aware() -> None:
    assert opened(SlaClockKind.ACCEPTANCE).due_at.tzinfo is not None
    assert datetime.now(UTC).tzinfo is UTC
