"""Routing I/O: load the roster, match the account, decide (pure `rules.route`), persist.

Inside the caller's transaction. The team row is locked (`FOR UPDATE`; SQLite serialises writers
with `BEGIN IMMEDIATE`) before the rotation is read, so two handoff instances never hand out the
same turn, and the reps' virtual times are written in the same transaction as the assignment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts import Topic, new_event
from baton_contracts.definitions import LoadedDefinitions
from baton_contracts.definitions.routing import WorkingHours
from baton_contracts.events import Assignee, EventType, LeadProfile, LeadRoutingQueued, LeadState
from baton_handoff import SOURCE
from baton_handoff.crm.delivery import CrmWake, queue_delivery
from baton_handoff.crm.packets import context_packet
from baton_handoff.leads.service import Change, transition
from baton_handoff.models import Account, Assignment, Lead, Rep, Team, WebhookReceipt
from baton_handoff.routing.rules import (
    AccountRecord,
    LeadFacts,
    RepState,
    Route,
    TeamState,
    day_and_week_start,
    email_domain,
    match_account,
    route,
)
from baton_kit.db import after_commit, upsert_insert
from baton_kit.outbox import Outbox

log = structlog.get_logger(__name__)


class RoutingMetrics:
    def __init__(self) -> None:
        self.assigned = Counter("baton_handoff_leads_assigned_total", "Leads assigned to a rep.", ["rule"])
        self.queued = Counter(
            "baton_handoff_routing_queued_total", "MQLs no one was eligible for (alert): sent to the fallback queue."
        )


@cache
def routing_metrics() -> RoutingMetrics:
    return RoutingMetrics()


SOURCES_PER_QUERY = 500
"""Lead ids in one `IN` list (SQLite limits a statement's parameters)."""


@dataclass
class RoutingContext:
    """What one transaction has loaded about the roster; reused across a consumer batch."""

    definitions: LoadedDefinitions
    crm_webhook: CrmWake = None
    accounts: list[AccountRecord] | None = None
    reps: dict[str, Rep] = field(default_factory=dict)
    locked_teams: dict[str, Team] = field(default_factory=dict)
    sources: dict[str, str | None] = field(default_factory=dict)  # lead → first ingestion source, prefetched


async def prefetch_sources(session: AsyncSession, ctx: RoutingContext, lead_ids: list[str]) -> None:
    """Each lead's first ingestion source, for a whole batch in one query per `SOURCES_PER_QUERY` leads."""
    for start in range(0, len(lead_ids), SOURCES_PER_QUERY):
        chunk = lead_ids[start : start + SOURCES_PER_QUERY]
        first = (
            select(WebhookReceipt.lead_id, func.min(WebhookReceipt.id).label("first_id"))
            .where(WebhookReceipt.lead_id.in_(chunk))
            .group_by(WebhookReceipt.lead_id)
            .subquery()
        )
        rows = await session.execute(
            select(WebhookReceipt.lead_id, WebhookReceipt.source).join(first, WebhookReceipt.id == first.c.first_id)
        )
        ctx.sources.update({lead_id: None for lead_id in chunk})
        ctx.sources.update({lead_id: source for lead_id, source in rows})


async def seed_roster(session: AsyncSession, *, definitions: LoadedDefinitions, now: datetime) -> None:
    """Add the definitions' teams and reps that the roster does not have yet (API edits are kept).

    `ON CONFLICT DO NOTHING`, so instances starting together do not trip over each other.
    """
    routing = definitions.definitions.routing
    insert = upsert_insert(session.get_bind().dialect.name)
    teams = {t.id: t.name for t in routing.teams} | {
        r.team: r.team for r in routing.reps if r.team not in {t.id for t in routing.teams}
    }
    for team_id, name in teams.items():
        await session.execute(
            insert(Team).values(team_id=team_id, name=name, virtual_time=0.0, updated_at=now).on_conflict_do_nothing()
        )
    for rep in routing.reps:
        await session.execute(
            insert(Rep)
            .values(
                rep_id=rep.id,
                name=rep.name,
                email=rep.email,
                team_id=rep.team,
                weight=rep.weight,
                active=True,
                timezone=rep.timezone,
                country=rep.country,
                calendar=rep.calendar,
                manager_id=rep.manager_id,
                daily_cap=rep.daily_cap,
                weekly_cap=rep.weekly_cap,
                working_hours=rep.working_hours.model_dump() if rep.working_hours else None,
                out_of_office=[],
                pass_value=0.0,
                updated_at=now,
            )
            .on_conflict_do_nothing()
        )


def assignee_of(rep: Rep) -> Assignee:
    """The rep as lifecycle events carry it. A rep's zone is UTC until one is set: that default is sent
    as no zone, so the SLA clock counts on the rep's team (or the default) calendar's zone instead."""
    return Assignee(
        rep_id=rep.rep_id,
        team_id=rep.team_id,
        timezone=rep.timezone if rep.timezone != "UTC" else None,
        country=rep.country,
        calendar=rep.calendar,
        manager_id=rep.manager_id,
    )


async def _lock_team(session: AsyncSession, ctx: RoutingContext, team_id: str) -> Team | None:
    if team_id not in ctx.locked_teams:
        team = await session.scalar(select(Team).where(Team.team_id == team_id).with_for_update())
        if team is None:
            return None
        ctx.locked_teams[team_id] = team
        for rep in await session.scalars(select(Rep).where(Rep.team_id == team_id)):
            ctx.reps[rep.rep_id] = rep
    return ctx.locked_teams[team_id]


async def _rep(session: AsyncSession, ctx: RoutingContext, rep_id: str) -> Rep | None:
    if rep_id not in ctx.reps:
        rep = await session.get(Rep, rep_id)
        if rep is None:
            return None
        ctx.reps[rep_id] = rep
    return ctx.reps[rep_id]


async def _rep_states(session: AsyncSession, reps: list[Rep], *, now: datetime) -> dict[str, RepState]:
    """Rep rows as `RepState`, with today's and this week's assignment counts for reps with caps."""
    counts: dict[str, tuple[int, int]] = {}
    capped = [r for r in reps if r.daily_cap is not None or r.weekly_cap is not None]
    if capped:
        await session.flush()  # count the assignments this transaction has made too
    for rep in capped:
        day, week = day_and_week_start(rep.timezone, now)
        rows = await session.execute(
            select(
                func.count().filter(Assignment.at >= day),
                func.count(),
            ).where(Assignment.rep_id == rep.rep_id, Assignment.at >= week)
        )
        today, this_week = rows.one()
        counts[rep.rep_id] = (int(today or 0), int(this_week or 0))
    return {r.rep_id: rep_state(r, counts.get(r.rep_id, (0, 0))) for r in reps}


def rep_state(rep: Rep, counts: tuple[int, int] = (0, 0)) -> RepState:
    """A rep row as routing reads it, with `counts` (today's and this week's assignments)."""
    return RepState(
        rep_id=rep.rep_id,
        team_id=rep.team_id,
        weight=rep.weight,
        active=rep.active,
        timezone=rep.timezone,
        pass_value=rep.pass_value,
        daily_cap=rep.daily_cap,
        weekly_cap=rep.weekly_cap,
        assigned_today=counts[0],
        assigned_this_week=counts[1],
        working_hours=WorkingHours.model_validate(rep.working_hours) if rep.working_hours else None,
        out_of_office=tuple(
            (datetime.fromisoformat(start), datetime.fromisoformat(end)) for start, end in rep.out_of_office or []
        ),
    )


async def known_accounts(session: AsyncSession, ctx: RoutingContext) -> list[AccountRecord]:
    if ctx.accounts is None:
        rows = await session.execute(
            select(Account.account_id, Account.name, Account.domain, Account.owner_rep_id, Account.employees)
        )
        ctx.accounts = [AccountRecord(*row) for row in rows]
    return ctx.accounts


async def lead_facts(session: AsyncSession, lead: Lead, ctx: RoutingContext) -> LeadFacts:
    profile = LeadProfile.model_validate(lead.profile) if lead.profile else LeadProfile()
    if lead.lead_id not in ctx.sources:
        await prefetch_sources(session, ctx, [lead.lead_id])
    source = ctx.sources[lead.lead_id]
    products = frozenset(
        str(c["rule"]).split(":", 1)[1]
        for c in lead.score_explanation or []
        if str(c.get("rule", "")).startswith("product:")
    )
    return LeadFacts(
        lead_id=lead.lead_id,
        country=profile.country,
        employees=profile.employees,
        products=products,
        source=source,
        domain=(profile.domain or email_domain(profile.email)),
        company=profile.company,
    )


async def decide(
    session: AsyncSession, lead: Lead, *, ctx: RoutingContext, now: datetime, excluded: frozenset[str] = frozenset()
) -> tuple[Route, Any]:
    routing = ctx.definitions.definitions.routing
    facts = await lead_facts(session, lead, ctx)
    account = match_account(
        domain=facts.domain,
        company=facts.company,
        accounts=await known_accounts(session, ctx),
        config=routing.account_matching,
    )
    named = [await _rep(session, ctx, rep_id) for rep_id in sorted({r.rep for r in routing.rules if r.rep})]
    if account is not None and account.owner_rep_id is not None:
        await _rep(session, ctx, account.owner_rep_id)
    # Lock every team a rule could send this lead to (a rule's named rep's team too: its teammates take
    # the lead when the rep cannot), in a stable order (no deadlock between instances).
    teams_of_named = {rep.team_id for rep in named if rep is not None}
    for team_id in sorted({routing.default_team, *(r.team for r in routing.rules if r.team), *teams_of_named}):
        await _lock_team(session, ctx, team_id)
    reps_by_id = await _rep_states(session, list(ctx.reps.values()), now=now)
    teams = {
        team_id: TeamState(
            team_id=team_id,
            virtual_time=team.virtual_time,
            reps=tuple(s for s in reps_by_id.values() if s.team_id == team_id),
        )
        for team_id, team in ctx.locked_teams.items()
    }
    return route(
        facts,
        definitions=routing,
        account=account,
        reps_by_id=reps_by_id,
        teams=teams,
        now=now,
        excluded=excluded,
    )


async def route_lead(
    session: AsyncSession,
    lead: Lead,
    *,
    ctx: RoutingContext,
    outbox: Outbox,
    change: Change,
    excluded: frozenset[str] = frozenset(),
) -> str | None:
    """Assign `lead` (mql, or assigned when reassigning) to the chosen rep, or queue it. The rep id or None."""
    now = change.at
    decision, pick = await decide(session, lead, ctx=ctx, now=now, excluded=excluded)
    lead.segment = decision.details.get("segment")  # type: ignore[assignment]
    account = decision.details.get("account")
    lead.account_id = account["account_id"] if isinstance(account, dict) else None
    if decision.rep_id is None:
        await _queue(session, lead, decision, ctx=ctx, outbox=outbox, change=change)
        return None
    if pick is not None:
        team = ctx.locked_teams[decision.team_id or ""]
        for rep_id, lifted in pick.lifted.items():
            ctx.reps[rep_id].pass_value = lifted
        ctx.reps[pick.rep_id].pass_value = pick.pass_after
        team.virtual_time = max(team.virtual_time, pick.virtual_time)
        team.updated_at = now
    rep = ctx.reps[decision.rep_id]
    lead.team_id = rep.team_id
    session.add(Assignment(lead_id=lead.lead_id, rep_id=rep.rep_id, team_id=rep.team_id, at=now))
    details = {**(change.details or {}), "routing_rule": decision.rule, **decision.details}
    event_id = await transition(
        session,
        lead,
        LeadState.ASSIGNED,
        outbox=outbox,
        rep_id=rep.rep_id,
        assignee=assignee_of(rep),
        change=Change(
            actor=change.actor,
            reason=f"{change.reason}: {decision.reason}" if change.reason else decision.reason,
            definitions_version=change.definitions_version,
            at=now,
            cause_event_id=change.cause_event_id,
            details=details,
        ),
    )
    after_commit(session, routing_metrics().assigned.labels(rule=decision.rule.split(":", 1)[0]).inc)
    if ctx.crm_webhook is not None:
        packet = context_packet(lead, rep=rep, decision=decision, at=now, event_id=event_id)
        queue_delivery(session, packet, at=now, wake=ctx.crm_webhook)
    return rep.rep_id


async def _queue(
    session: AsyncSession, lead: Lead, decision: Route, *, ctx: RoutingContext, outbox: Outbox, change: Change
) -> None:
    lead.team_id = decision.team_id
    lead.updated_at = change.at
    first_time = lead.queued_at is None
    if first_time:
        lead.queued_at = change.at
    lead.qualification = {
        **(lead.qualification or {}),
        "routing": {"rule": decision.rule, "reason": decision.reason, "details": _jsonable(decision.details)},
    }
    if not first_time:
        return
    after_commit(session, routing_metrics().queued.inc)
    log.warning("no eligible rep: lead queued", lead_id=lead.lead_id, team=decision.team_id)
    await outbox.add_event(
        session,
        topic=Topic.LEAD_LIFECYCLE,
        cloud_event=new_event(
            event_type=EventType.LEAD_ROUTING_QUEUED,
            source=SOURCE,
            subject=lead.lead_id,
            time=change.at,
            data=LeadRoutingQueued(
                lead_id=lead.lead_id,
                at=change.at,
                queue=ctx.definitions.definitions.routing.fallback_queue,
                team_id=decision.team_id,
                reason=decision.reason,
                definitions_version=ctx.definitions.version,
                details=_jsonable(decision.details),
            ),
        ),
        now=change.at,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def previous_assignees(session: AsyncSession, lead_id: str) -> frozenset[str]:
    await session.flush()
    return frozenset(await session.scalars(select(Assignment.rep_id).where(Assignment.lead_id == lead_id)))


async def drain_queue(
    session: AsyncSession,
    *,
    definitions: LoadedDefinitions,
    outbox: Outbox,
    now: datetime,
    limit: int = 100,
    crm_webhook: CrmWake = None,
) -> int:
    """Try again to route queued MQLs, the least recently tried first (each try that fails moves the lead
    to the back, so leads nobody can take never hold the others up); returns how many were assigned."""
    leads = list(
        await session.scalars(
            select(Lead)
            .where(Lead.queued_at.is_not(None), Lead.state.in_([LeadState.MQL, LeadState.ASSIGNED]))
            .order_by(Lead.updated_at, Lead.queued_at, Lead.lead_id)
            .limit(limit)
            .with_for_update()
        )
    )
    ctx = RoutingContext(definitions=definitions, crm_webhook=crm_webhook)
    assigned = 0
    for lead in leads:
        excluded = await previous_assignees(session, lead.lead_id) if lead.state == LeadState.ASSIGNED else frozenset()
        rep_id = await route_lead(
            session,
            lead,
            ctx=ctx,
            outbox=outbox,
            excluded=excluded,
            change=Change(
                actor="system", reason="routed from the fallback queue", definitions_version=definitions.version, at=now
            ),
        )
        assigned += rep_id is not None
    return assigned
