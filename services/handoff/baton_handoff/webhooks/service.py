"""Store webhook events and queue them for scoring, in the request's transaction.

Idempotent on (source, external_id): the receipt insert is `ON CONFLICT DO NOTHING`, and only the
events it actually inserted get outbox rows. The 202 goes out after commit, so an accepted event
is durable (outbox), and reaches Kafka even if the broker is down at that moment.

Every format (generic, HubSpot, Segment, Standard Webhooks, CloudEvents) arrives here as
`MappedEvent`s: an event with an activity becomes `EngagementRecorded`, one with profile fields
`ProfileUpdated` (both when it has both). This function never commits.

Identity: a lead is the sender's own id for the person when it has one (a HubSpot contact, a Segment
`userId`), else one derived from the normalised email. Each email address belongs to the first lead
seen with it (`lead_identities`), so an event that names only an email (a Marketo or generic call,
an anonymous form) joins the lead a sender's id started rather than starting a second one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts import Topic, new_event, random_event_id
from baton_contracts.events import EngagementRecorded, EventType, ProfileUpdated
from baton_handoff import SOURCE
from baton_handoff.models import LeadIdentity, WebhookReceipt
from baton_handoff.webhooks.mapping import MappedEvent
from baton_handoff.webhooks.rules import lead_id_from_email, normalise_email
from baton_handoff.webhooks.schemas import IngestResult
from baton_kit.db import after_commit, upsert_insert
from baton_kit.lru import Lru
from baton_kit.outbox import Outbox
from baton_kit.types import bind_time


class EmailOwners(Lru[str, str]):
    """Email owners this process has read or claimed (committed): a claim never changes, so they can be
    kept and the database asked only about addresses not seen yet. Least recently used out past `limit`."""

    def __init__(self, limit: int = 100_000) -> None:
        super().__init__(limit)

    def remember(self, owners: dict[str, str]) -> None:
        for email, lead_id in owners.items():
            self.put(email, lead_id)


async def ingest(
    session: AsyncSession,
    *,
    source: str,
    events: list[MappedEvent],
    outbox: Outbox,
    now: datetime,
    ignored: int = 0,
    known: EmailOwners | None = None,
) -> IngestResult:
    """`ignored`: events of the call the mapping skipped, reported back as such (they store nothing).
    `known`: the process's `EmailOwners` (without, every address is looked up)."""
    unique = list({e.external_id: e for e in reversed(events)}.values())[::-1]  # first occurrence wins
    if not unique:
        return IngestResult(accepted=0, duplicates=0, ignored=ignored, lead_ids=[])
    mailed = [(event, _email_of(event)) for event in unique]
    owners = await _email_owners(session, mailed, now=now, known=known or EmailOwners(limit=0))
    planned = [(event, _lead_of(event, email, owners), random_event_id()) for event, email in mailed]
    insert = upsert_insert(session.get_bind().dialect.name)
    # executemany with RETURNING ("insertmanyvalues"): one cached statement whatever the batch size
    inserted = set(
        (
            await session.execute(
                insert(WebhookReceipt)
                .on_conflict_do_nothing(index_elements=["source", "external_id"])
                .returning(WebhookReceipt.external_id),
                [
                    {
                        "source": source,
                        "external_id": e.external_id,
                        "event_id": event_id,
                        "lead_id": lead_id,
                        "received_at": now,
                    }
                    for e, lead_id, event_id in planned
                ],
            )
        ).scalars()
    )
    for event, lead_id, event_id in planned:
        if event.external_id in inserted:
            await _queue(session, event, lead_id=lead_id, event_id=event_id, source=source, outbox=outbox, now=now)
    return IngestResult(
        accepted=len(inserted),
        duplicates=len(events) - len(inserted),
        ignored=ignored,
        lead_ids=sorted({lead_id for _, lead_id, _ in planned}),
    )


def _email_of(event: MappedEvent) -> str | None:
    email = event.email or event.profile.get("email")
    return normalise_email(email) if isinstance(email, str) and email else None


def _lead_of(event: MappedEvent, email: str | None, owners: dict[str, str]) -> str:
    """The event's lead: its own, unless it names none but an email (`email`) that a lead already owns."""
    if email is not None and event.lead_id == lead_id_from_email(email):
        return owners.get(email, event.lead_id)
    return event.lead_id


async def _email_owners(
    session: AsyncSession, mailed: list[tuple[MappedEvent, str | None]], *, now: datetime, known: EmailOwners
) -> dict[str, str]:
    """Each email of `events` with the lead that owns it: the first seen with it (for a new one, a
    sender's own id over one derived from the email). Claimed with `ON CONFLICT DO NOTHING`, then read
    back, so two calls at once agree."""
    claims: dict[str, str] = {}
    for event, email in mailed:
        if email is not None and (email not in claims or claims[email] == lead_id_from_email(email)):
            claims[email] = event.lead_id
    cached = {email: owner for email in claims if (owner := known.get(email)) is not None}
    claims = {email: lead_id for email, lead_id in claims.items() if email not in cached}
    if not claims:
        return cached
    # Plain SQL: through the ORM's insertmanyvalues this one statement cost a third of a one-event call.
    connection = await session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        marks = ", ".join(f"(${3 * n + 1}, ${3 * n + 2}, ${3 * n + 3})" for n in range(len(claims)))
    else:
        marks = ", ".join(["(?, ?, ?)"] * len(claims))
    seen_at = bind_time(now, dialect=dialect)
    claimed = await connection.exec_driver_sql(
        f"INSERT INTO lead_identities (email, lead_id, first_seen_at) VALUES {marks} "
        "ON CONFLICT (email) DO NOTHING RETURNING email, lead_id",
        tuple(value for email, lead_id in claims.items() for value in (email, lead_id, seen_at)),
    )
    rows: Sequence[Any] = claimed.all()
    owners: dict[str, str] = {row[0]: row[1] for row in rows}
    taken = sorted(claims.keys() - owners.keys())  # owned already (or by a call that just claimed them)
    if taken:
        owned = await session.execute(
            select(LeadIdentity.email, LeadIdentity.lead_id).where(LeadIdentity.email.in_(taken))
        )
        owners.update({email: lead_id for email, lead_id in owned})
    after_commit(session, lambda: known.remember(owners))  # a claim rolled back was never made
    return {**cached, **owners}


async def _queue(
    session: AsyncSession,
    event: MappedEvent,
    *,
    lead_id: str,
    event_id: str,
    source: str,
    outbox: Outbox,
    now: datetime,
) -> None:
    if event.profile:
        fields = {**event.profile, "email": event.profile.get("email") or event.email}
        profile = ProfileUpdated(lead_id=lead_id, occurred_at=event.occurred_at, source=source, **fields)
        await _publish(session, outbox, EventType.PROFILE_UPDATED, profile, id=f"{event_id}:profile", now=now)
    if event.activity is None:
        return  # a profile-only event (HubSpot property change, Segment identify)
    engagement = EngagementRecorded(
        lead_id=lead_id,
        activity=event.activity,
        occurred_at=event.occurred_at,
        source=source,
        external_id=event.external_id,
        email=event.email,
        properties=event.properties,
    )
    await _publish(session, outbox, EventType.ENGAGEMENT_RECORDED, engagement, id=event_id, now=now)


async def _publish(
    session: AsyncSession,
    outbox: Outbox,
    event_type: EventType,
    data: ProfileUpdated | EngagementRecorded,
    *,
    id: str,
    now: datetime,
) -> None:
    """Queue one event about `data.lead_id` on the engagement topic."""
    await outbox.add_event(
        session,
        topic=Topic.LEAD_ENGAGEMENT,
        now=now,
        cloud_event=new_event(event_type=event_type, source=SOURCE, subject=data.lead_id, data=data, time=now, id=id),
    )
