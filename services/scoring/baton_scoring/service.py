"""Store engagement and profile events, rescore the leads they touch, emit `lead.scored`.

Runs inside the caller's transaction (the consumer's batch, or the decay worker's); never commits.
One batch costs a fixed number of statements whatever its size: insert events, read the touched
leads' stored events, profiles and rows, write the rows, read the accounts, write history and outbox.

Correctness under redelivery and disorder comes from recomputing each touched lead from *all* its
stored events (inserted `ON CONFLICT DO NOTHING` on the event id and on the sender's
(source, external_id)): a duplicate adds nothing, a late event falls into its place.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from prometheus_client import Counter
from pydantic import TypeAdapter
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts import CloudEvent, Topic
from baton_contracts.definitions import LoadedDefinitions, ScoringDefinitions
from baton_contracts.events import (
    AccountSnapshot,
    EventType,
    LeadProfile,
    LeadScored,
    ProfileFields,
    ScoreContribution,
)
from baton_kit.outbox import Outbox
from baton_scoring.models import EngagementEvent, Lead, ProfileUpdate, ScoreHistory
from baton_scoring.rules import Activity, Scorecard, account_key, classify, next_review_at, normalise_email, scorecard

SOURCE = "/baton/scoring"
Reason = Literal["event", "decay"]

UNKNOWN_ACTIVITIES = Counter(
    "baton_scoring_unknown_activities_total",
    "Engagement events whose activity no definitions rule scores (stored, 0 points).",
)
SCORES_EMITTED = Counter("baton_scoring_scores_emitted_total", "lead.scored events written to the outbox.", ["reason"])
PROFILE_FIELDS = tuple(ProfileFields.model_fields)
# What a qualification rule reads: a decay review emits only when one of these changes.
LEADS: sa.Table = Lead.__table__  # type: ignore[assignment]
ENGAGEMENT_EVENTS: sa.Table = EngagementEvent.__table__  # type: ignore[assignment]
PROFILE_UPDATES: sa.Table = ProfileUpdate.__table__  # type: ignore[assignment]
SCORE_HISTORY: sa.Table = ScoreHistory.__table__  # type: ignore[assignment]
SCORED_ENVELOPE = CloudEvent[LeadScored]
CONTRIBUTIONS = TypeAdapter(list[ScoreContribution])  # the explanation as dicts, one call per lead
SIGNATURE = ("fit_grade", "engagement_band", "demand_state", "high_intent", "disqualifiers")


def _is_postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if _is_postgresql(session) else sqlite.insert


async def apply_events(
    session: AsyncSession,
    events: list[CloudEvent[Any]],
    *,
    definitions: LoadedDefinitions,
    outbox: Outbox,
    now: datetime,
) -> None:
    """Store each engagement/profile event and rescore every lead they touch (one `lead.scored` per lead)."""
    engagements: list[dict[str, Any]] = []
    profiles: list[dict[str, Any]] = []
    causes: dict[str, str | None] = {}
    known = {activity for rule in definitions.definitions.scoring.engagement.rules for activity in rule.activities}
    for event in events:
        data = event.data
        if event.type == EventType.ENGAGEMENT_RECORDED:
            if data.activity not in known:
                UNKNOWN_ACTIVITIES.inc()
            engagements.append(
                {
                    "event_id": event.id,
                    "lead_id": data.lead_id,
                    "activity": data.activity,
                    "occurred_at": data.occurred_at,
                    "source": data.source,
                    "external_id": data.external_id,
                    "email": normalise_email(data.email) if data.email else None,
                    "properties": dict(data.properties),
                }
            )
        elif event.type == EventType.PROFILE_UPDATED:
            fields = {name: getattr(data, name) for name in PROFILE_FIELDS if getattr(data, name) is not None}
            profiles.append(
                {"event_id": event.id, "lead_id": data.lead_id, "occurred_at": data.occurred_at, "fields": fields}
            )
        else:
            continue
        causes[data.lead_id] = event.id
    if not causes:
        return
    insert = _insert(session)
    connection = await session.connection()  # Core statements: no ORM bookkeeping on the hot path
    if engagements:
        await connection.execute(insert(ENGAGEMENT_EVENTS).on_conflict_do_nothing(), engagements)
    if profiles:
        await connection.execute(insert(PROFILE_UPDATES).on_conflict_do_nothing(), profiles)
    await rescore(session, causes, definitions=definitions, outbox=outbox, now=now, reason="event")


@dataclass
class _Stored:
    activities: list[Activity]
    profile: dict[str, Any]
    last_event_at: datetime | None
    latest_email: str | None


async def _load(
    session: AsyncSession, lead_ids: Collection[str], *, scoring: ScoringDefinitions, now: datetime
) -> dict[str, _Stored]:
    since = now - timedelta(days=scoring.engagement.expire_after_days + 1)
    stored = {lead_id: _Stored([], {}, None, None) for lead_id in lead_ids}
    connection = await session.connection()
    events, updates = ENGAGEMENT_EVENTS.c, PROFILE_UPDATES.c
    rows = await connection.execute(
        sa.select(events.lead_id, events.event_id, events.activity, events.occurred_at, events.properties, events.email)
        .where(events.lead_id.in_(list(lead_ids)), events.occurred_at >= since)
        .order_by(events.occurred_at, events.event_id)
    )
    for lead_id, event_id, activity, occurred_at, properties, email in rows:
        lead = stored[lead_id]
        lead.activities.append(Activity(event_id, activity, occurred_at, properties or {}))
        lead.last_event_at = occurred_at
        lead.latest_email = email or lead.latest_email
    profile_rows = await connection.execute(
        sa.select(updates.lead_id, updates.fields)
        .where(updates.lead_id.in_(list(lead_ids)))
        .order_by(updates.occurred_at, updates.event_id)
    )
    for lead_id, fields in profile_rows:
        stored[lead_id].profile.update(fields)
    for lead in stored.values():
        if not lead.profile.get("email") and lead.latest_email:
            lead.profile["email"] = lead.latest_email
    return stored


async def rescore(
    session: AsyncSession,
    causes: dict[str, str | None],
    *,
    definitions: LoadedDefinitions,
    outbox: Outbox,
    now: datetime,
    reason: Reason,
) -> int:
    """Recompute `causes`' leads from their stored events and emit `lead.scored`; returns how many were emitted.

    `reason="event"` emits for every lead; `reason="decay"` (the scheduled review) emits only when
    something a qualification rule reads changed (grade, band, demand state, high intent, disqualifiers).
    """
    scoring = definitions.definitions.scoring
    lead_ids = list(causes)
    connection = await session.connection()
    query = sa.select(LEADS.c.lead_id, *(LEADS.c[c] for c in SIGNATURE)).where(LEADS.c.lead_id.in_(lead_ids))
    if _is_postgresql(session):
        query = query.with_for_update()
    before = {row[0]: tuple(row[1:]) for row in await connection.execute(query)}
    stored = await _load(session, lead_ids, scoring=scoring, now=now)

    rows: list[dict[str, Any]] = []
    cards: list[Scorecard] = []
    for lead_id in lead_ids:
        lead = stored[lead_id]
        classified = classify(lead.activities, scoring.engagement)
        card = scorecard(lead.profile, classified, scoring, now=now)
        email = lead.profile.get("email")
        row = {
            "lead_id": lead_id,
            "email": email,
            "account_key": account_key(email, free_mail_domains=scoring.free_mail_domains),
            "profile": lead.profile,
            "score": card.score,
            "fit_score": card.fit.score,
            "engagement_score": card.engagement.score,
            "fit_grade": card.fit.grade,
            "engagement_band": card.engagement.band,
            "grade": card.grade,
            "demand_state": card.engagement.demand_state,
            "high_intent": card.engagement.high_intent,
            "disqualifiers": card.fit.disqualifiers,
            "contributions": CONTRIBUTIONS.dump_python(card.contributions),
            "account": None,
            "definitions_version": definitions.version,
            "scored_at": now,
            "last_event_at": lead.last_event_at,
            "review_at": next_review_at(classified, scoring, now=now),
        }
        if reason == "event" or before.get(lead_id) != tuple(row[c] for c in SIGNATURE):
            rows.append(row)
            cards.append(card)
        else:  # a review that changes nothing a rule reads: keep the new numbers, emit nothing
            await session.execute(
                sa.update(Lead)
                .where(Lead.lead_id == lead_id)
                .values(**{k: v for k, v in row.items() if k != "account"})
            )
    if not rows:
        return 0
    statement = _insert(session)(LEADS)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[LEADS.c.lead_id], set_={c: statement.excluded[c] for c in rows[0] if c != "lead_id"}
        ),
        rows,
    )
    accounts = await account_snapshots(
        session,
        {row["account_key"] for row in rows if row["account_key"]},
        engaged_min=scoring.account.engaged_min_score,
    )
    if accounts:
        await connection.execute(
            sa.update(LEADS)
            .where(LEADS.c.lead_id == sa.bindparam("b_lead_id"))
            .values(account=sa.bindparam("b_account")),
            [
                {"b_lead_id": row["lead_id"], "b_account": accounts[row["account_key"]].model_dump()}
                for row in rows
                if row["account_key"] in accounts
            ],
        )
    history: list[dict[str, Any]] = []
    outgoing: list[CloudEvent[LeadScored]] = []
    for row, card in zip(rows, cards, strict=True):
        account = accounts.get(row["account_key"]) if row["account_key"] else None
        scored = LeadScored.model_construct(
            lead_id=row["lead_id"],
            score=card.score,
            fit_score=card.fit.score,
            engagement_score=card.engagement.score,
            fit_grade=card.fit.grade,
            engagement_band=card.engagement.band,
            grade=card.grade,
            demand_state=card.engagement.demand_state,
            disqualifiers=card.fit.disqualifiers,
            high_intent=card.engagement.high_intent,
            profile=LeadProfile.model_validate(row["profile"]),
            account=account,
            contributions=card.contributions,
            scored_at=now,
            definitions_version=definitions.version,
            cause_event_id=causes[row["lead_id"]],
        )
        # What `new_event` builds, without re-validating an envelope whose every field is ours.
        cloud_event = SCORED_ENVELOPE.model_construct(
            specversion="1.0",
            id=str(uuid.uuid4()),
            source=SOURCE,
            type=EventType.LEAD_SCORED,
            time=now,
            subject=row["lead_id"],
            datacontenttype="application/json",
            data=scored,
        )
        outgoing.append(cloud_event)
        history.append(
            {
                "lead_id": row["lead_id"],
                "event_id": cloud_event.id,
                "reason": reason,
                "score": card.score,
                "fit_score": card.fit.score,
                "engagement_score": card.engagement.score,
                "grade": card.grade,
                "demand_state": card.engagement.demand_state,
                "high_intent": card.engagement.high_intent,
                "cause_event_id": causes[row["lead_id"]],
                "definitions_version": definitions.version,
                "scored_at": now,
            }
        )
    await outbox.add_events(session, topic=Topic.LEAD_SCORED, cloud_events=outgoing, now=now)
    await connection.execute(sa.insert(SCORE_HISTORY), history)
    SCORES_EMITTED.labels(reason=reason).inc(len(rows))
    return len(rows)


async def account_snapshots(
    session: AsyncSession, keys: Iterable[str], *, engaged_min: float
) -> dict[str, AccountSnapshot]:
    """Per account: leads whose engagement reaches `engaged_min` (the buying committee) and the summed
    engagement of its leads, as of each lead's last scoring. One query for all `keys`."""
    keys = list(keys)
    if not keys:
        return {}
    rows = await session.execute(
        sa.select(
            Lead.account_key,
            sa.func.sum(sa.case((Lead.engagement_score >= engaged_min, 1), else_=0)),
            sa.func.sum(Lead.engagement_score),
        )
        .where(Lead.account_key.in_(keys))
        .group_by(Lead.account_key)
    )
    return {
        key: AccountSnapshot(account_key=key, engaged_stakeholders=int(engaged or 0), engagement_score=round(total, 2))
        for key, engaged, total in rows
    }


async def review_due(
    session: AsyncSession, *, definitions: LoadedDefinitions, outbox: Outbox, now: datetime, limit: int
) -> tuple[int, int]:
    """Rescore up to `limit` leads whose review time has come (decay may have dropped their band).

    Returns (reviewed, emitted). PostgreSQL: due rows are claimed `FOR UPDATE SKIP LOCKED`, so several
    instances share the work; SQLite serialises writers anyway.
    """
    query = sa.select(Lead.lead_id).where(Lead.review_at <= now).order_by(Lead.review_at).limit(limit)
    if _is_postgresql(session):
        query = query.with_for_update(skip_locked=True)
    due = list(await session.scalars(query))
    if not due:
        return 0, 0
    emitted = await rescore(
        session, dict.fromkeys(due), definitions=definitions, outbox=outbox, now=now, reason="decay"
    )
    return len(due), emitted
