"""What a candidate definitions file would change: replay a stored window of events under the current
and the candidate definitions and compare who is MQL-eligible. Reads the database, never writes it.

MQL eligibility here is scoring's reading of the qualification section (see `mql_eligible`). For
what a scoring change does downstream (MQLs with the handoff's state, acceptance, who gets which
lead), `candidate_scores` gives each lead's score under the candidate as the `lead.scored` it would
publish; the handoff's `simulate --scores` reads them in place of the scores it keeps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts.definitions import LoadedDefinitions
from baton_contracts.events import AccountSnapshot, LeadProfile, LeadScored
from baton_scoring.models import EngagementEvent, ProfileUpdate
from baton_scoring.rules import Activity, Scorecard, account_key, score_lead


@dataclass
class StoredLead:
    profile: dict[str, Any] = field(default_factory=dict)
    activities: list[Activity] = field(default_factory=list)


@dataclass(frozen=True)
class LeadChange:
    lead_id: str
    current_grade: str
    candidate_grade: str
    current_score: float
    candidate_score: float


@dataclass(frozen=True)
class SimulationReport:
    current_version: str
    candidate_version: str
    leads: int
    eligible_current: dict[str, int]
    eligible_candidate: dict[str, int]
    gained: list[LeadChange]
    lost: list[LeadChange]
    grade_changes: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "current_version": self.current_version,
            "candidate_version": self.candidate_version,
            "leads": self.leads,
            "mql_eligible": {
                "current": sum(self.eligible_current.values()),
                "candidate": sum(self.eligible_candidate.values()),
                "by_grade_current": dict(sorted(self.eligible_current.items())),
                "by_grade_candidate": dict(sorted(self.eligible_candidate.items())),
            },
            "grade_changes": self.grade_changes,
            "gained": [change.__dict__ for change in self.gained],
            "lost": [change.__dict__ for change in self.lost],
        }


def mql_eligible(card: Scorecard, definitions: LoadedDefinitions) -> bool:
    """Scoring's reading of the qualification section: not disqualified, a fit grade in the matrix, and the
    engagement band that grade needs or a fast-track signal. (Required fields, cool-downs and the buying
    committee need the handoff's state and are left out.)"""
    rules = definitions.definitions.qualification
    ignored = set(getattr(rules, "ignore_disqualifiers", []))
    if set(card.fit.disqualifiers) - ignored:
        return False
    matrix: dict[str, int] | None = getattr(rules, "matrix", None)
    if not matrix:
        return card.score >= rules.mql_threshold
    if card.fit.grade not in matrix:
        return False
    fast_track = getattr(getattr(rules, "fast_track", None), "signals", [])
    return card.engagement.band >= matrix[card.fit.grade] or bool(set(card.engagement.high_intent) & set(fast_track))


def compare(
    leads: Mapping[str, StoredLead], *, current: LoadedDefinitions, candidate: LoadedDefinitions, at: datetime
) -> SimulationReport:
    """Score every lead under both definitions at `at`. Pure: same inputs, same report."""
    eligible_current: Counter[str] = Counter()
    eligible_candidate: Counter[str] = Counter()
    gained: list[LeadChange] = []
    lost: list[LeadChange] = []
    grade_changes = 0
    for lead_id in sorted(leads):
        lead = leads[lead_id]
        before = score_lead(lead.profile, lead.activities, current.definitions.scoring, now=at)
        after = score_lead(lead.profile, lead.activities, candidate.definitions.scoring, now=at)
        was, now_is = mql_eligible(before, current), mql_eligible(after, candidate)
        if was:
            eligible_current[before.grade] += 1
        if now_is:
            eligible_candidate[after.grade] += 1
        grade_changes += before.grade != after.grade
        if was != now_is:
            change = LeadChange(lead_id, before.grade, after.grade, before.score, after.score)
            (gained if now_is else lost).append(change)
    return SimulationReport(
        current_version=current.version,
        candidate_version=candidate.version,
        leads=len(leads),
        eligible_current=dict(eligible_current),
        eligible_candidate=dict(eligible_candidate),
        gained=gained,
        lost=lost,
        grade_changes=grade_changes,
    )


def candidate_scores(
    leads: Mapping[str, StoredLead], candidate: LoadedDefinitions, *, at: datetime
) -> list[LeadScored]:
    """Each lead's `lead.scored` under `candidate` at `at`, with its account as the candidate sees the
    window's leads (engaged stakeholders and their summed engagement). Pure."""
    scoring = candidate.definitions.scoring
    cards = {
        lead_id: score_lead(lead.profile, lead.activities, scoring, now=at) for lead_id, lead in sorted(leads.items())
    }
    keys = {
        lead_id: account_key(leads[lead_id].profile.get("email"), free_mail_domains=scoring.free_mail_domains)
        for lead_id in cards
    }
    engaged: Counter[str] = Counter()
    summed: dict[str, float] = {}
    for lead_id, key in keys.items():
        if key is not None:
            points = cards[lead_id].engagement.score
            engaged[key] += points >= scoring.account.engaged_min_score
            summed[key] = summed.get(key, 0.0) + points
    return [
        LeadScored(
            lead_id=lead_id,
            score=card.score,
            fit_score=card.fit.score,
            engagement_score=card.engagement.score,
            fit_grade=card.fit.grade,
            engagement_band=card.engagement.band,
            grade=card.grade,
            demand_state=card.engagement.demand_state,
            disqualifiers=list(card.fit.disqualifiers),
            high_intent=list(card.engagement.high_intent),
            profile=LeadProfile.model_validate(
                {name: value for name, value in leads[lead_id].profile.items() if name in LeadProfile.model_fields}
            ),
            account=None
            if (key := keys[lead_id]) is None
            else AccountSnapshot(
                account_key=key, engaged_stakeholders=engaged[key], engagement_score=round(summed[key], 2)
            ),
            contributions=[line.as_dict() for line in card.contributions],
            scored_at=at,
            definitions_version=candidate.version,
        )
        for lead_id, card in cards.items()
    ]


async def load_window(session: AsyncSession, *, since: datetime | None, until: datetime) -> dict[str, StoredLead]:
    """The leads with an engagement event in [since, until], with those events and their profiles up to `until`."""
    query = sa.select(
        EngagementEvent.lead_id,
        EngagementEvent.event_id,
        EngagementEvent.activity,
        EngagementEvent.occurred_at,
        EngagementEvent.properties,
        EngagementEvent.email,
    ).where(EngagementEvent.occurred_at <= until)
    if since is not None:
        query = query.where(EngagementEvent.occurred_at >= since)
    leads: dict[str, StoredLead] = {}
    for lead_id, event_id, activity, occurred_at, properties, email in await session.execute(query):
        lead = leads.setdefault(lead_id, StoredLead())
        lead.activities.append(Activity(event_id, activity, occurred_at, properties or {}))
        if email:
            lead.profile.setdefault("email", email)
    profiles = await session.execute(
        sa.select(ProfileUpdate.lead_id, ProfileUpdate.fields)
        .where(ProfileUpdate.occurred_at <= until)
        .order_by(ProfileUpdate.occurred_at, ProfileUpdate.event_id)
    )
    for lead_id, fields in profiles:
        if lead_id in leads:
            leads[lead_id].profile.update(fields)
    return leads
