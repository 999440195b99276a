"""Store webhook events and queue them for scoring, in the request's transaction.

Idempotent on (source, external_id): the receipt insert is `ON CONFLICT DO NOTHING`, and only the
events it actually inserted get outbox rows. The 202 goes out after commit, so an accepted event
is durable (outbox), and reaches Kafka even if the broker is down at that moment.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts import Topic, new_event
from baton_contracts.events import EngagementRecorded, EventType, ProfileUpdated
from baton_handoff import SOURCE
from baton_handoff.models import WebhookReceipt
from baton_handoff.webhooks.rules import lead_id_from_email, normalise_email
from baton_handoff.webhooks.schemas import GenericEvent, IngestResult
from baton_kit.outbox import Outbox


async def ingest(
    session: AsyncSession, *, source: str, events: list[GenericEvent], outbox: Outbox, now: datetime
) -> IngestResult:
    unique = list({e.external_id: e for e in reversed(events)}.values())[::-1]  # first occurrence wins
    planned = [(event, event.lead_id or lead_id_from_email(event.email or ""), str(uuid.uuid4())) for event in unique]
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    inserted = set(
        (
            await session.execute(
                insert(WebhookReceipt)
                .values(
                    [
                        {
                            "source": source,
                            "external_id": e.external_id,
                            "event_id": event_id,
                            "lead_id": lead_id,
                            "received_at": now,
                        }
                        for e, lead_id, event_id in planned
                    ]
                )
                .on_conflict_do_nothing(index_elements=["source", "external_id"])
                .returning(WebhookReceipt.external_id)
            )
        ).scalars()
    )
    for event, lead_id, event_id in planned:
        if event.external_id in inserted:
            await _queue(session, event, lead_id=lead_id, event_id=event_id, source=source, outbox=outbox, now=now)
    return IngestResult(
        accepted=len(inserted),
        duplicates=len(events) - len(inserted),
        lead_ids=sorted({lead_id for _, lead_id, _ in planned}),
    )


async def _queue(
    session: AsyncSession,
    event: GenericEvent,
    *,
    lead_id: str,
    event_id: str,
    source: str,
    outbox: Outbox,
    now: datetime,
) -> None:
    email = normalise_email(event.email) if event.email else None
    if event.profile is not None:
        profile = ProfileUpdated(
            lead_id=lead_id, occurred_at=event.occurred_at, source=source, email=email, **event.profile.model_dump()
        )
        await outbox.add_event(
            session,
            topic=Topic.LEAD_ENGAGEMENT,
            now=now,
            cloud_event=new_event(
                event_type=EventType.PROFILE_UPDATED,
                source=SOURCE,
                subject=lead_id,
                data=profile,
                time=now,
                id=f"{event_id}:profile",
            ),
        )
    engagement = EngagementRecorded(
        lead_id=lead_id,
        activity=event.activity,
        occurred_at=event.occurred_at,
        source=source,
        external_id=event.external_id,
        email=email,
        properties=event.properties,
    )
    await outbox.add_event(
        session,
        topic=Topic.LEAD_ENGAGEMENT,
        now=now,
        cloud_event=new_event(
            event_type=EventType.ENGAGEMENT_RECORDED,
            source=SOURCE,
            subject=lead_id,
            data=engagement,
            time=now,
            id=event_id,
        ),
    )
