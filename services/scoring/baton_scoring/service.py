"""Apply engagement events to lead scores. Runs inside the consumer's transaction; never commits."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts import CloudEvent, Topic, new_event
from baton_contracts.definitions import LoadedDefinitions
from baton_contracts.events import EngagementRecorded, EventType, LeadScored
from baton_kit.outbox import Outbox
from baton_scoring.models import EngagementEvent, LeadScore
from baton_scoring.rules import score_activities

SOURCE = "/baton/scoring"

UNKNOWN_ACTIVITIES = Counter(
    "baton_scoring_unknown_activities_total",
    "Engagement events whose activity the definitions do not score (kept, 0 points).",
)


async def apply_engagement(
    session: AsyncSession,
    events: list[CloudEvent[Any]],
    *,
    definitions: LoadedDefinitions,
    outbox: Outbox,
    now: datetime,
) -> None:
    """Record each engagement event, rescore each lead it touches and emit one `lead.scored` per lead.

    Events arrive de-duplicated (the inbox) and in partition order. Profile updates are accepted
    and not yet scored (fit scoring comes with the ICP rules).
    """
    by_lead: dict[str, list[CloudEvent[EngagementRecorded]]] = defaultdict(list)
    for event in events:
        if event.type == EventType.ENGAGEMENT_RECORDED:
            by_lead[event.subject].append(event)
    if not by_lead:
        return
    rows = {
        row.lead_id: row
        for row in (
            await session.scalars(select(LeadScore).where(LeadScore.lead_id.in_(list(by_lead))).with_for_update())
        )
    }
    known_activities = definitions.definitions.scoring.activity_points
    for lead_id, lead_events in by_lead.items():
        row = rows.get(lead_id)
        counts = dict(row.activity_counts) if row else {}
        for event in lead_events:
            data = event.data
            counts[data.activity] = counts.get(data.activity, 0) + 1
            if data.activity not in known_activities:
                UNKNOWN_ACTIVITIES.inc()
            session.add(
                EngagementEvent(
                    event_id=event.id,
                    lead_id=lead_id,
                    activity=data.activity,
                    occurred_at=data.occurred_at,
                    source=data.source,
                    properties=dict(data.properties),
                )
            )
        score, contributions = score_activities(counts, definitions.definitions.scoring)
        last_event_at = max(e.data.occurred_at for e in lead_events)
        explanation = [c.model_dump() for c in contributions]
        if row is None:
            row = LeadScore(lead_id=lead_id, last_event_at=last_event_at)
            session.add(row)
        row.activity_counts = counts
        row.score = score
        row.contributions = explanation
        row.definitions_version = definitions.version
        row.last_event_at = max(row.last_event_at, last_event_at)
        row.updated_at = now
        scored = LeadScored(
            lead_id=lead_id,
            score=score,
            engagement_score=score,
            contributions=contributions,
            scored_at=now,
            definitions_version=definitions.version,
            cause_event_id=lead_events[-1].id,
        )
        await outbox.add_event(
            session,
            topic=Topic.LEAD_SCORED,
            cloud_event=new_event(
                event_type=EventType.LEAD_SCORED, source=SOURCE, subject=lead_id, data=scored, time=now
            ),
            now=now,
        )
