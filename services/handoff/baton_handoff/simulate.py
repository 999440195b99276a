"""What a candidate definitions file would do in the handoff: which leads would be MQLs, who would get
them, and how many of them sales would likely accept. Reads the database, never writes it.

Each lead is taken as the handoff holds it now (its latest `lead.scored`, profile and first source,
its account as the account's latest score shows it) and put through the qualification gate and the
router of both definitions as if it were new. The router sees each lead at the moment it was last
scored, in that order: the rotations start afresh, and a rep's daily and weekly caps count the leads
the replay has given them in their own local day and week, so a capped rep's overflow goes to the
others as it would have; working hours and out-of-office are read at that moment too. Account
owners, routing rules, teams, weights and inactive reps all count. The roster is the live one (API
edits kept), plus any team or rep the definitions add, as at start-up (`seed_roster`).

Acceptance is forecast from sales' own decisions in the period: each fit grade's acceptance rate,
or the overall rate for a grade with fewer than `MIN_DECIDED` decisions.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts.definitions import LoadedDefinitions
from baton_contracts.definitions.routing import WorkingHours
from baton_contracts.events import LeadScored, LeadState
from baton_handoff.models import Lead, Rep
from baton_handoff.qualification.rules import Outcome, qualify
from baton_handoff.qualification.service import kept_score
from baton_handoff.reports import service as reports
from baton_handoff.reports.rules import MIN_DECIDED, NONE, GroupBy
from baton_handoff.reports.rules import acceptance as acceptance_rows
from baton_handoff.routing.rules import (
    AccountRecord,
    LeadFacts,
    RepState,
    TeamState,
    day_and_week_start,
    match_account,
    route,
)
from baton_handoff.routing.service import RoutingContext, known_accounts, lead_facts, prefetch_sources, rep_state

QUEUE = "(queue)"
"""Where a lead nobody could take goes, in the per-rep counts."""


@dataclass(frozen=True)
class SimulatedLead:
    """A lead as the simulation takes it: what scoring last said, and what routing reads."""

    scored: LeadScored
    facts: LeadFacts


@dataclass(frozen=True)
class Outcomes:
    """What one definitions file does with the leads."""

    version: str
    qualified: dict[str, str]  # lead -> the qualification rule that made it an MQL
    routed: dict[str, str]  # lead -> rep (`QUEUE` when nobody could take it)
    by_fit_grade: dict[str, int]
    by_team: dict[str, int]
    by_route: dict[str, int]  # how: account_owner, rule:<name>, default_team, fallback_queue
    expected_acceptance: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "mqls": len(self.qualified),
            "by_fit_grade": self.by_fit_grade,
            "by_rule": _counted(self.qualified.values()),
            "by_team": self.by_team,
            "by_rep": _counted(self.routed.values()),
            "by_route": self.by_route,
            "expected_acceptance": self.expected_acceptance,
        }


@dataclass(frozen=True)
class Override:
    """A rep the candidate definitions describe otherwise than the live roster, which wins."""

    rep_id: str
    field: str
    live: object
    definitions: object


@dataclass(frozen=True)
class HandoffSimulation:
    leads: int
    at: datetime
    current: Outcomes
    candidate: Outcomes
    overrides: list[Override]
    rescored: int = 0  # leads the candidate side took with scoring's candidate score instead of the kept one

    @property
    def gained(self) -> list[str]:
        return sorted(self.candidate.qualified.keys() - self.current.qualified.keys())

    @property
    def lost(self) -> list[str]:
        return sorted(self.current.qualified.keys() - self.candidate.qualified.keys())

    @property
    def moved(self) -> list[tuple[str, str, str]]:
        """MQLs under both whose rep would change: (lead, current rep, candidate rep)."""
        both = sorted(self.current.routed.keys() & self.candidate.routed.keys())
        return [
            (lead, self.current.routed[lead], self.candidate.routed[lead])
            for lead in both
            if self.current.routed[lead] != self.candidate.routed[lead]
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "leads": self.leads,
            "at": self.at.isoformat(),
            "current": self.current.as_dict(),
            "candidate": self.candidate.as_dict(),
            "gained": self.gained,
            "lost": self.lost,
            "moved": [{"lead_id": lead, "current": was, "candidate": now} for lead, was, now in self.moved],
            "roster_overrides": [override.__dict__ for override in self.overrides],
            "rescored_by_candidate_scoring": self.rescored,
        }


def simulate(
    leads: Sequence[SimulatedLead],
    *,
    current: LoadedDefinitions,
    candidate: LoadedDefinitions,
    roster: Sequence[RepState],
    accounts: Sequence[AccountRecord],
    acceptance: Mapping[str, tuple[int, int]],
    at: datetime,
    candidate_scores: Mapping[str, LeadScored] | None = None,
) -> HandoffSimulation:
    """Both definitions over the same leads, roster, accounts and sales history. Pure.

    With `candidate_scores` (scoring's `simulate --scores-out`: each lead's score under the candidate),
    the candidate side reads those in place of the kept scores, each at the moment the lead was last
    scored, so a scoring change shows in MQLs, acceptance and routing too."""
    ordered = sorted(_with_latest_accounts(leads), key=lambda lead: (lead.scored.scored_at, lead.scored.lead_id))
    rescored = ordered
    if candidate_scores:
        rescored = [
            replace(lead, scored=score.model_copy(update={"scored_at": lead.scored.scored_at}))
            if (score := candidate_scores.get(lead.scored.lead_id)) is not None
            else lead
            for lead in ordered
        ]
    return HandoffSimulation(
        leads=len(leads),
        at=at,
        current=outcomes(ordered, current, roster=roster, accounts=accounts, acceptance=acceptance, at=at),
        candidate=outcomes(rescored, candidate, roster=roster, accounts=accounts, acceptance=acceptance, at=at),
        overrides=overrides(roster, candidate),
        rescored=sum(new is not old for new, old in zip(rescored, ordered, strict=True)),
    )


OVERRIDABLE = ("team_id", "weight", "timezone", "daily_cap", "weekly_cap", "working_hours")
"""What the definitions say of a rep that the live roster keeps as the API last set it."""


def overrides(live: Sequence[RepState], definitions: LoadedDefinitions) -> list[Override]:
    """Where the definitions' reps differ from the live roster. Start-up adds new reps but keeps the
    live ones as they are (the API edits them), so such a change needs `PUT /v1/reps/{rep_id}`."""
    by_id = {rep.rep_id: rep for rep in live}
    found: list[Override] = []
    for rep in _defined_reps(definitions):
        held = by_id.get(rep.rep_id)
        if held is None:
            continue
        for name in OVERRIDABLE:
            live_value, wanted = _plain(getattr(held, name)), _plain(getattr(rep, name))
            if live_value != wanted:
                found.append(Override(rep.rep_id, name, live_value, wanted))
    return found


def _plain(value: object) -> object:
    """A value as the report prints it (working hours as a dict)."""
    return value.model_dump() if isinstance(value, WorkingHours) else value


def outcomes(
    leads: Sequence[SimulatedLead],
    definitions: LoadedDefinitions,
    *,
    roster: Sequence[RepState],
    accounts: Sequence[AccountRecord],
    acceptance: Mapping[str, tuple[int, int]],
    at: datetime,
) -> Outcomes:
    """Qualify each lead as if new and route the MQLs in order, each at the moment it was scored,
    through fresh rotations and the caps the replay has filled so far."""
    rules, routing = definitions.definitions.qualification, definitions.definitions.routing
    reps = {rep.rep_id: replace(rep, pass_value=0.0) for rep in _roster(roster, definitions)}
    given: dict[str, list[datetime]] = {rep_id: [] for rep_id in reps}  # each rep's leads, by when
    virtual_times: dict[str, float] = {}
    qualified: dict[str, str] = {}
    routed: dict[str, str] = {}
    fit_grades: Counter[str] = Counter()
    teams: Counter[str] = Counter()
    routes: Counter[str] = Counter()
    for lead in leads:
        decision = qualify(state=LeadState.KNOWN, scored=lead.scored, rules=rules, now=at)
        if decision.outcome != Outcome.MQL:
            continue
        lead_id = lead.scored.lead_id
        qualified[lead_id] = decision.rule
        fit_grades[lead.scored.fit_grade or NONE] += 1
        account = match_account(
            domain=lead.facts.domain, company=lead.facts.company, accounts=accounts, config=routing.account_matching
        )
        when = lead.scored.scored_at
        now_reps = {rep_id: _with_counts(rep, given[rep_id], when) for rep_id, rep in reps.items()}
        team_states = {
            team_id: TeamState(team_id, virtual_times.get(team_id, 0.0), tuple(members))
            for team_id, members in _by_team(now_reps.values()).items()
        }
        decided, pick = route(
            lead.facts, definitions=routing, account=account, reps_by_id=now_reps, teams=team_states, now=when
        )
        if pick is not None and decided.team_id is not None:
            for rep_id, lifted in pick.lifted.items():
                reps[rep_id] = replace(reps[rep_id], pass_value=lifted)
            reps[pick.rep_id] = replace(reps[pick.rep_id], pass_value=pick.pass_after)
            virtual_times[decided.team_id] = max(virtual_times.get(decided.team_id, 0.0), pick.virtual_time)
        if decided.rep_id is not None:
            given[decided.rep_id].append(when)
        routed[lead_id] = decided.rep_id or QUEUE
        teams[decided.team_id or NONE] += 1
        routes[decided.rule] += 1
    return Outcomes(
        version=definitions.version,
        qualified=qualified,
        routed=routed,
        by_fit_grade=dict(sorted(fit_grades.items())),
        by_team=dict(sorted(teams.items())),
        by_route=dict(sorted(routes.items())),
        expected_acceptance=forecast(fit_grades, acceptance),
    )


def forecast(mqls_by_fit_grade: Mapping[str, int], acceptance: Mapping[str, tuple[int, int]]) -> float | None:
    """The share of these MQLs sales would accept, at each fit grade's past rate (accepted, decided);
    a grade with fewer than `MIN_DECIDED` decisions takes the overall rate. None without any history."""
    accepted = sum(a for a, _ in acceptance.values())
    decided = sum(d for _, d in acceptance.values())
    total = sum(mqls_by_fit_grade.values())
    if not decided or not total:
        return None
    overall = accepted / decided

    def rate(grade: str) -> float:
        a, d = acceptance.get(grade, (0, 0))
        return a / d if d >= MIN_DECIDED else overall

    return sum(n * rate(grade) for grade, n in mqls_by_fit_grade.items()) / total


def _with_counts(rep: RepState, given: list[datetime], when: datetime) -> RepState:
    """`rep` at `when`, with the leads the replay gave them in their local day and week so far."""
    if rep.daily_cap is None and rep.weekly_cap is None:
        return rep
    day, week = day_and_week_start(rep.timezone, when)
    return replace(
        rep,
        assigned_today=len(given) - bisect_left(given, day),
        assigned_this_week=len(given) - bisect_left(given, week),
    )


def _defined_reps(definitions: LoadedDefinitions) -> list[RepState]:
    """The definitions' reps as `seed_roster` would add them."""
    return [
        RepState(
            r.id,
            r.team,
            r.weight,
            timezone=r.timezone,
            daily_cap=r.daily_cap,
            weekly_cap=r.weekly_cap,
            working_hours=r.working_hours,
        )
        for r in definitions.definitions.routing.reps
    ]


def _roster(live: Sequence[RepState], definitions: LoadedDefinitions) -> list[RepState]:
    """The live roster, plus the definitions' reps it does not have yet (as `seed_roster` would add them)."""
    known = {rep.rep_id for rep in live}
    return [*live, *(rep for rep in _defined_reps(definitions) if rep.rep_id not in known)]


def _by_team(reps: Iterable[RepState]) -> dict[str, list[RepState]]:
    teams: dict[str, list[RepState]] = {}
    for rep in reps:
        teams.setdefault(rep.team_id, []).append(rep)
    return teams


def _counted(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


# --- reading the handoff's database ---------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    leads: list[SimulatedLead]
    roster: list[RepState]
    accounts: list[AccountRecord]
    acceptance: dict[str, tuple[int, int]]  # fit grade -> (accepted, decided)


async def load(
    session: AsyncSession,
    *,
    definitions: LoadedDefinitions,
    since: datetime | None,
    until: datetime,
    acceptance_since: datetime,
) -> Stored:
    """The leads last scored in [since, until] (all before `until` without `since`), the roster, the
    accounts, and sales' decisions in [acceptance_since, until) by fit grade."""
    rows = [
        lead
        for lead in await session.scalars(select(Lead).order_by(Lead.lead_id))
        if lead.scoring and _in_window(datetime.fromisoformat(lead.scoring["scored_at"]), since, until)
    ]
    ctx = RoutingContext(definitions=definitions)
    await prefetch_sources(session, ctx, [lead.lead_id for lead in rows])
    leads = [SimulatedLead(kept_score(lead), await lead_facts(session, lead, ctx)) for lead in rows]
    roster = [rep_state(rep) for rep in await session.scalars(select(Rep).order_by(Rep.rep_id))]
    decisions = await reports.decisions(session, since=acceptance_since, until=until)
    by_fit_grade = {row.group: (row.accepted, row.decided) for row in acceptance_rows(decisions, by=GroupBy.FIT_GRADE)}
    return Stored(leads, roster, await known_accounts(session, ctx), by_fit_grade)


def _in_window(moment: datetime, since: datetime | None, until: datetime) -> bool:
    return moment <= until and (since is None or moment >= since)


def _with_latest_accounts(leads: Sequence[SimulatedLead]) -> list[SimulatedLead]:
    """Each lead with its account as the account's most recent score shows it: a buying committee is the
    account's, whichever of its leads was scored last (as the live service qualifies them)."""
    latest: dict[str, LeadScored] = {}
    for lead in leads:
        account = lead.scored.account
        if account is not None:
            seen = latest.get(account.account_key)
            if seen is None or lead.scored.scored_at >= seen.scored_at:
                latest[account.account_key] = lead.scored
    return [
        replace(lead, scored=lead.scored.model_copy(update={"account": latest[account.account_key].account}))
        if (account := lead.scored.account) is not None
        else lead
        for lead in leads
    ]
