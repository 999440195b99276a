"""Store engagement and profile events, rescore the leads they touch, emit `lead.scored`.

Runs inside the caller's transaction (the consumer's batch, or the decay worker's); never commits.
A batch costs a fixed number of statements whatever its size (`store.Store`): insert the events,
read what is stored of the touched leads, sum their accounts, upsert the leads, write history and outbox.

Correctness under redelivery and disorder: every event is inserted `ON CONFLICT DO NOTHING` (on the
event id and on the sender's (source, external_id)) and only the ones inserted now are applied, so a
duplicate changes nothing; a lead's score is a function of the *set* of its events
(`rules.Classified`), so a late event falls into its place.

Speed: each lead scored lately is kept in memory (`LeadMemory`: its classified events, merged
profile and fit), so an event costs one rescore of its lead, not a re-read of everything the lead
did. The memory is a cache of the database, trusted only while its `version` equals the row's
`state_version` (the count of the lead's stored events, read in the batch's own transaction, locked
on PostgreSQL). Anything else (another instance scored the lead, a batch rolled back after the
memory moved on, a restart, a rebalance) reloads the lead from its stored events.
"""

from __future__ import annotations

import asyncio
from bisect import insort
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson
import sqlalchemy as sa
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from baton_contracts import CloudEvent, Topic, random_event_id
from baton_contracts.definitions import LoadedDefinitions
from baton_contracts.definitions.scoring import ScoringDefinitions
from baton_contracts.events import EventType, ProfileFields
from baton_kit.lru import Lru
from baton_kit.outbox import Outbox
from baton_scoring.models import EngagementEvent, Lead, ProfileUpdate
from baton_scoring.rules import (
    Classified,
    FitResult,
    Line,
    Scorecard,
    account_key,
    epoch_us,
    from_epoch_us,
    normalise_email,
    score_fit,
    scorecard,
)
from baton_scoring.store import ENGAGEMENT_COLUMNS, PROFILE_COLUMNS, Store, StoredLead, json_text

SOURCE = "/baton/scoring"
Reason = Literal["event", "decay"]

UNKNOWN_ACTIVITIES = Counter(
    "baton_scoring_unknown_activities_total",
    "Engagement events whose activity no definitions rule scores (stored, 0 points).",
)
SCORES_EMITTED = Counter("baton_scoring_scores_emitted_total", "lead.scored events written to the outbox.", ["reason"])
MEMORY_MISSES = Counter(
    "baton_scoring_lead_memory_misses_total", "Leads loaded from their stored events (not held, or held out of date)."
)
PROFILE_FIELDS = tuple(ProfileFields.model_fields)
LEAD_SCORED = EventType.LEAD_SCORED.value  # read once: an enum member's `.value` is a property call
# What a qualification rule reads: a decay review emits only when one of these changes.
SIGNATURE = ("fit_grade", "engagement_band", "demand_state", "high_intent", "disqualifiers")
JSON_OPTIONS = orjson.OPT_UTC_Z
YIELD_EVERY = 8  # leads scored between yields to the event loop in `prepare` (≈ 0.4 ms)


@dataclass(slots=True)
class LeadMemory:
    """What scoring keeps of a lead between events: enough to rescore it without reading the database."""

    classified: Classified
    version: int = 0
    profile_updates: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)  # (µs, event id, fields)
    profile: dict[str, Any] = field(default_factory=dict)
    fit: FitResult | None = None  # of `merged_profile()`; None until needed again
    account_key: str | None = None  # of `merged_profile()`, set with `fit`
    fit_lines: bytes = b"[]"  # `fit`'s explanation lines as JSON, set with `fit`
    last_event_us: int | None = None
    latest_email: tuple[int, str] | None = None  # the newest engagement event's email (profile has none)

    def add_engagement(
        self, activity: str, occurred_at: datetime, properties: dict[str, Any], email: str | None
    ) -> None:
        at = epoch_us(occurred_at)
        self.classified.add_at(activity, at, properties)
        self.last_event_us = at if self.last_event_us is None else max(self.last_event_us, at)
        if email and (self.latest_email is None or at >= self.latest_email[0]):
            self.latest_email = (at, email)
            if not self.profile.get("email"):
                self.fit = None  # the fallback email (and so the email domain) may have changed

    def add_profile(self, event_id: str, occurred_at: datetime, fields: dict[str, Any]) -> None:
        """Merge an update in (occurred_at, event id) order, so a late one falls in its place."""
        insort(self.profile_updates, (epoch_us(occurred_at), event_id, fields), key=lambda u: (u[0], u[1]))
        if len(self.profile_updates) == 1:
            self.profile = fields  # the usual case, shared rather than copied (neither is ever mutated)
        else:
            merged: dict[str, Any] = {}
            for _, _, update in self.profile_updates:
                merged.update(update)
            self.profile = merged
        self.fit = None

    def refit(self, profile: dict[str, Any], scoring: ScoringDefinitions) -> FitResult:
        """Score `profile` (this lead's `merged_profile()`) for fit and hold the result with its account key."""
        free_mail = scoring.free_mail_domains
        fit = self.fit = score_fit(profile, scoring.fit, free_mail_domains=free_mail)
        self.account_key = account_key(profile.get("email"), free_mail_domains=free_mail)
        # A copy: orjson's output sits in a 4 KiB buffer, and this one is held as long as the lead is.
        self.fit_lines = bytes(memoryview(_lines_json(fit.contributions)))
        return fit

    def merged_profile(self) -> dict[str, Any]:
        """The profile, with the newest engagement email when no update gave one."""
        if not self.profile.get("email") and self.latest_email is not None:
            return {**self.profile, "email": self.latest_email[1]}
        return self.profile


class LeadMemories(Lru[str, LeadMemory]):
    """The leads held in memory, least recently scored dropped first beyond `limit`."""


@dataclass(slots=True)  # not frozen: one per event, and a frozen __init__ costs a setattr per field
class _Fresh:
    """An event of this batch, as its lead's memory takes it."""

    kind: Literal["engagement", "profile"]
    event_id: str
    occurred_at: datetime
    details: dict[str, Any]  # an engagement's properties, or a profile update's fields
    activity: str = ""  # engagement only
    email: str | None = None  # engagement only, normalised

    @staticmethod
    def of(event: CloudEvent[Any]) -> _Fresh | None:
        """An engagement or profile event as its lead's memory takes it; None for any other type."""
        data = event.data
        if event.type == EventType.ENGAGEMENT_RECORDED:
            email = normalise_email(data.email) if data.email else None
            return _Fresh("engagement", event.id, data.occurred_at, data.properties, data.activity, email)
        if event.type == EventType.PROFILE_UPDATED:
            return _Fresh("profile", event.id, data.occurred_at, _profile_fields(data))
        return None

    def apply_to(self, memory: LeadMemory) -> None:
        if self.kind == "engagement":
            memory.add_engagement(self.activity, self.occurred_at, self.details, self.email)
        else:
            memory.add_profile(self.event_id, self.occurred_at, self.details)


@dataclass(slots=True)
class _Scored:
    """One lead scored from its memory: what the batch's transaction writes for it."""

    lead_id: str
    version: int  # the lead's state_version once this batch is stored
    card: Scorecard
    profile: dict[str, Any]
    account_key: str | None
    contributions: bytes  # the explanation, as JSON
    last_event_us: int | None
    cause: str | None


@dataclass
class PreparedBatch:
    """A batch decoded, de-duplicated within itself, and scored from memory, outside any transaction.

    Scored on the guess that every event is new and every held lead is up to date; `apply` checks
    both against the database in the batch's transaction and rescores from the database any lead
    for which the guess was wrong (a redelivered event, another instance's write, a restart).
    """

    engagement_rows: list[tuple[Any, ...]]
    profile_rows: list[tuple[Any, ...]]
    events_by_lead: dict[str, list[_Fresh]]
    expected_versions: dict[str, int]  # what `leads.state_version` must be for the guess to hold
    scored: dict[str, _Scored]


class ScoringService:
    """Applies batches of `lead.engagement` events and runs decay reviews, with one `LeadMemories`."""

    def __init__(
        self, *, definitions: LoadedDefinitions, outbox: Outbox, dialect: str, memory_limit: int = 100_000
    ) -> None:
        self.definitions = definitions
        self.scoring = definitions.definitions.scoring
        self.outbox = outbox
        self.store = Store(dialect)
        self.memories = LeadMemories(memory_limit)
        self.known_activities = {a for rule in self.scoring.engagement.rules for a in rule.activities}

    async def apply_events(self, session: AsyncSession, events: Sequence[CloudEvent[Any]], *, now: datetime) -> int:
        """Store each engagement/profile event not stored before and rescore the leads they touch (one
        `lead.scored` per lead). Returns how many events were new."""
        return await self.apply(session, await self.prepare(events, now=now), now=now)

    async def prepare(self, events: Sequence[CloudEvent[Any]], *, now: datetime) -> PreparedBatch:
        """The CPU-heavy half of a batch, with no database: row values, and every touched lead scored
        from memory (a lead not held starts empty, on the guess that it is new).

        Yields to the event loop every few leads, so that the previous batch's transaction, waiting on
        the database, moves on meanwhile (the consumer prepares the next batch while one commits).
        """
        store = self.store
        engagement_rows: list[tuple[Any, ...]] = []
        profile_rows: list[tuple[Any, ...]] = []
        events_by_lead: dict[str, list[_Fresh]] = {}
        seen: set[str] = set()
        for event in events:
            if event.id in seen:
                continue  # a repeat inside one batch applies once
            fresh = _Fresh.of(event)
            if fresh is None:
                continue
            data = event.data
            if fresh.kind == "engagement":
                engagement_rows.append(
                    (
                        event.id,
                        data.lead_id,
                        data.activity,
                        store.time(data.occurred_at),
                        data.source,
                        data.external_id,
                        fresh.email,
                        json_text(data.properties),
                    )
                )
            else:
                profile_rows.append((event.id, data.lead_id, store.time(data.occurred_at), json_text(fresh.details)))
            seen.add(event.id)
            events_by_lead.setdefault(data.lead_id, []).append(fresh)
        expected: dict[str, int] = {}
        scored: dict[str, _Scored] = {}
        for n, (lead_id, applied) in enumerate(events_by_lead.items(), 1):
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            memory = self.memories.get(lead_id)
            if memory is None:
                memory = LeadMemory(Classified(self.scoring.engagement))
                self.memories.put(lead_id, memory)
            expected[lead_id] = memory.version
            for fresh in applied:
                fresh.apply_to(memory)
            memory.version += len(applied)
            scored[lead_id] = self._score(lead_id, memory, cause=applied[-1].event_id, now=now)
        return PreparedBatch(engagement_rows, profile_rows, events_by_lead, expected, scored)

    async def apply(self, session: AsyncSession, batch: PreparedBatch, *, now: datetime) -> int:
        """Store `batch` in the caller's transaction; returns how many of its events were new."""
        connection = await session.connection()
        store = self.store
        fresh_ids = await store.insert_new(connection, "engagement_events", ENGAGEMENT_COLUMNS, batch.engagement_rows)
        fresh_ids |= await store.insert_new(connection, "profile_updates", PROFILE_COLUMNS, batch.profile_rows)
        if not batch.events_by_lead:
            return 0
        stored = await store.stored_leads(connection, list(batch.events_by_lead))
        scored: list[_Scored] = []
        guessed_wrong: dict[str, list[_Fresh]] = {}
        for lead_id, applied in batch.events_by_lead.items():
            new = [fresh for fresh in applied if fresh.event_id in fresh_ids]
            if len(new) == len(applied) and _version(stored, lead_id) == batch.expected_versions[lead_id]:
                scored.append(batch.scored[lead_id])
            else:
                self.memories.discard(lead_id)  # it holds events the database does not, or lacks some
                if new:
                    guessed_wrong[lead_id] = new
        if guessed_wrong:  # reloaded with this batch's events, which are stored already
            versions = {lead_id: _version(stored, lead_id) + len(new) for lead_id, new in guessed_wrong.items()}
            for lead_id, memory in (await self._reload(connection, versions, now=now)).items():
                scored.append(self._score(lead_id, memory, cause=guessed_wrong[lead_id][-1].event_id, now=now))
        UNKNOWN_ACTIVITIES.inc(
            sum(
                1
                for applied in batch.events_by_lead.values()
                for fresh in applied
                if fresh.kind == "engagement"
                and fresh.event_id in fresh_ids
                and fresh.activity not in self.known_activities
            )
        )
        await self._write(session, scored, stored, now=now, reason="event")
        return len(fresh_ids)

    async def review_on_new_definitions(self, session: AsyncSession, *, now: datetime) -> int:
        """Make every lead scored under other definitions due for review now: a changed file rescores
        them all (the decay review works through them), not each at a review time the old file set."""
        moved = await session.execute(
            sa.update(Lead).where(Lead.definitions_version != self.definitions.version).values(review_at=now)
        )
        return int(moved.rowcount)  # type: ignore[attr-defined]

    async def review_due(self, session: AsyncSession, *, now: datetime, limit: int) -> tuple[int, int]:
        """Rescore up to `limit` leads whose review time has come (decay may have dropped their band).

        Returns (reviewed, emitted). PostgreSQL: due rows are claimed `FOR UPDATE SKIP LOCKED`, so several
        instances share the work; SQLite serialises writers anyway.
        """
        query = sa.select(Lead.lead_id).where(Lead.review_at <= now).order_by(Lead.review_at).limit(limit)
        if self.store.postgresql:
            query = query.with_for_update(skip_locked=True)
        due = list(await session.scalars(query))
        if not due:
            return 0, 0
        connection = await session.connection()
        stored = await self.store.stored_leads(connection, due)
        # From the database, not the consumer's memories: the consumer folds its next batch into those
        # while this awaits the database, and a review must score what is stored, nothing more.
        memories = await self._load(connection, due, now=now)
        for lead_id, memory in memories.items():
            memory.version = _version(stored, lead_id)
        scored = [self._score(lead_id, memory, cause=None, now=now) for lead_id, memory in memories.items()]
        return len(due), await self._write(session, scored, stored, now=now, reason="decay")

    def _score(self, lead_id: str, memory: LeadMemory, *, cause: str | None, now: datetime) -> _Scored:
        scoring = self.scoring
        profile = memory.merged_profile()
        fit = memory.fit or memory.refit(profile, scoring)
        card = scorecard(profile, memory.classified, scoring, now=now, fit=fit)
        return _Scored(
            lead_id=lead_id,
            version=memory.version,
            card=card,
            profile=profile,
            account_key=memory.account_key,
            contributions=_joined(memory.fit_lines, _lines_json(card.engagement.contributions)),
            last_event_us=memory.last_event_us,
            cause=cause,
        )

    async def _write(
        self,
        session: AsyncSession,
        scored: list[_Scored],
        stored: dict[str, StoredLead],
        *,
        now: datetime,
        reason: Reason,
    ) -> int:
        """Write the leads, their history and `lead.scored` events (with the accounts as they stand:
        the stored sums, less what `stored` says these leads held, plus their new engagement).

        `reason="event"` emits for every lead; `reason="decay"` (the scheduled review) emits only when
        something a qualification rule reads changed (grade, band, demand state, high intent, disqualifiers).
        Returns how many `lead.scored` were emitted.
        """
        if not scored:
            return 0
        connection = await session.connection()
        store = self.store
        lead_ids = [s.lead_id for s in scored]
        before = await _signatures(connection, lead_ids) if reason == "decay" else {}
        engaged_min = self.scoring.account.engaged_min_score
        totals = await store.account_totals(
            connection, {s.account_key for s in scored if s.account_key}, engaged_min=engaged_min
        )

        def shift(key: str, score: float, sign: int) -> None:
            engaged, total = totals.get(key, (0, 0.0))
            totals[key] = (engaged + sign * (score >= engaged_min), total + sign * score)

        for lead_id in lead_ids:
            old = stored.get(lead_id)
            if old is not None and old.account_key in totals:
                shift(old.account_key, old.engagement_score, -1)
        for s in scored:
            if s.account_key:
                shift(s.account_key, s.card.engagement.score, +1)

        version = self.definitions.version
        stamp = store.time(now)
        lead_rows: list[tuple[Any, ...]] = []
        history: list[tuple[Any, ...]] = []
        outgoing: list[tuple[str, str, bytes]] = []
        for s in scored:
            card, key = s.card, s.account_key
            engagement, fit = card.engagement, card.fit
            account = None
            if key:
                engaged, total = totals[key]
                account = {"account_key": key, "engaged_stakeholders": engaged, "engagement_score": round(total, 2)}
            last_event = from_epoch_us(s.last_event_us) if s.last_event_us is not None else None
            high_intent = json_text(engagement.high_intent)
            lead_rows.append(
                (
                    s.lead_id,
                    s.profile.get("email"),
                    key,
                    json_text(s.profile),
                    card.score,
                    fit.score,
                    engagement.score,
                    fit.grade,
                    engagement.band,
                    card.grade,
                    engagement.demand_state,
                    high_intent,
                    json_text(fit.disqualifiers),
                    s.contributions.decode(),
                    json_text(account) if account else None,
                    version,
                    stamp,
                    store.time(last_event),
                    store.time(card.review_at),
                    s.version,
                )
            )
            signature = (fit.grade, engagement.band, engagement.demand_state, engagement.high_intent, fit.disqualifiers)
            if reason == "decay" and before.get(s.lead_id) == signature:
                continue  # a review that changes nothing a rule reads: keep the new numbers, emit nothing
            event_id = random_event_id()
            data = {
                "lead_id": s.lead_id,
                "score": card.score,
                "fit_score": fit.score,
                "engagement_score": engagement.score,
                "fit_grade": fit.grade,
                "engagement_band": engagement.band,
                "grade": card.grade,
                "demand_state": engagement.demand_state,
                "disqualifiers": fit.disqualifiers,
                "high_intent": engagement.high_intent,
                "profile": s.profile,
                "account": account,
                "contributions": orjson.Fragment(s.contributions),
                "scored_at": now,
                "definitions_version": version,
                "cause_event_id": s.cause,
            }
            envelope = {
                "specversion": "1.0",
                "id": event_id,
                "source": SOURCE,
                "type": LEAD_SCORED,
                "time": now,
                "subject": s.lead_id,
                "datacontenttype": "application/json",
                "data": data,
            }
            outgoing.append((event_id, s.lead_id, orjson.dumps(envelope, option=JSON_OPTIONS)))
            history.append(
                (
                    s.lead_id,
                    event_id,
                    reason,
                    card.score,
                    fit.score,
                    engagement.score,
                    card.grade,
                    engagement.demand_state,
                    high_intent,
                    s.cause,
                    version,
                    stamp,
                )
            )
        await store.upsert_leads(connection, lead_rows)
        await store.insert_history(connection, history)
        if outgoing:
            await self.outbox.add_many(session, topic=Topic.LEAD_SCORED, rows=outgoing, now=now)
        SCORES_EMITTED.labels(reason=reason).inc(len(outgoing))
        return len(outgoing)

    async def _reload(
        self, connection: AsyncConnection, versions: dict[str, int], *, now: datetime
    ) -> dict[str, LeadMemory]:
        """Load these leads from the database and hold them, each at its given version."""
        MEMORY_MISSES.inc(len(versions))
        loaded = await self._load(connection, list(versions), now=now)
        for lead_id, memory in loaded.items():
            memory.version = versions[lead_id]
            self.memories.put(lead_id, memory)
        return loaded

    async def _load(
        self, connection: AsyncConnection, lead_ids: Sequence[str], *, now: datetime
    ) -> dict[str, LeadMemory]:
        """Leads' memories from their stored events (those young enough to score) and profile updates."""
        engagement = self.scoring.engagement
        since = now - timedelta(days=engagement.expire_after_days + 1)
        memories = {lead_id: LeadMemory(Classified(engagement)) for lead_id in lead_ids}
        events, updates = EngagementEvent.__table__.c, ProfileUpdate.__table__.c
        rows = await connection.execute(
            sa.select(events.lead_id, events.activity, events.occurred_at, events.properties, events.email).where(
                events.lead_id.in_(lead_ids), events.occurred_at >= since
            )
        )
        for lead_id, activity, occurred_at, properties, email in rows:
            memories[lead_id].add_engagement(activity, occurred_at, properties or {}, email)
        profile_rows = await connection.execute(
            sa.select(updates.lead_id, updates.event_id, updates.occurred_at, updates.fields).where(
                updates.lead_id.in_(lead_ids)
            )
        )
        for lead_id, event_id, occurred_at, fields in profile_rows:
            memories[lead_id].add_profile(event_id, occurred_at, fields)
        return memories


def _lines_json(lines: list[Line]) -> bytes:
    return orjson.dumps([line.as_dict() for line in lines])


def _joined(first: bytes, second: bytes) -> bytes:
    """Two JSON arrays as one."""
    if first == b"[]":
        return second
    if second == b"[]":
        return first
    return first[:-1] + b"," + second[1:]


def _version(stored: dict[str, StoredLead], lead_id: str) -> int:
    row = stored.get(lead_id)
    return row.version if row is not None else 0


def _profile_fields(data: Any) -> dict[str, Any]:
    return {name: value for name in PROFILE_FIELDS if (value := getattr(data, name)) is not None}


async def _signatures(connection: AsyncConnection, lead_ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """What a qualification rule reads of each stored lead, in `SIGNATURE` order (as `_write` builds it)."""
    leads = Lead.__table__.c
    rows = await connection.execute(
        sa.select(leads.lead_id, *(leads[name] for name in SIGNATURE)).where(leads.lead_id.in_(lead_ids))
    )
    return {row[0]: tuple(row[1:]) for row in rows}
