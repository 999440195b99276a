"""Routing decisions, pure: account matching, ordered rules, eligibility and the weighted rotation.

The rotation is stride scheduling (a start-time fair queue): each rep has a persisted virtual
time (`pass_value`); the eligible rep with the lowest one gets the lead and advances by
`1 / weight`. A rep whose virtual time lags the team's (returning from leave, newly added,
capped for a while) is lifted to the team's virtual time before competing, so nobody earns a
burst by being away, and nobody who stayed eligible loses their place. Ties are broken by a hash
of (lead, rep), so no rep is favoured by name or by roster order.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz

from baton_contracts.definitions import RoutingDefinitions
from baton_contracts.definitions.routing import AccountMatching, RoutingRule, Segment, WorkingHours


@dataclass(frozen=True)
class RepState:
    """What routing needs to know about a rep at decision time."""

    rep_id: str
    team_id: str
    weight: float = 1.0
    active: bool = True
    timezone: str = "UTC"
    pass_value: float = 0.0
    daily_cap: int | None = None
    weekly_cap: int | None = None
    assigned_today: int = 0
    assigned_this_week: int = 0
    working_hours: WorkingHours | None = None
    out_of_office: tuple[tuple[datetime, datetime], ...] = ()


@dataclass(frozen=True)
class AccountRecord:
    account_id: str
    name: str
    domain: str | None = None
    owner_rep_id: str | None = None
    employees: int | None = None


@dataclass(frozen=True)
class AccountMatch:
    account_id: str
    method: str  # "domain" or "fuzzy_name"
    score: float
    owner_rep_id: str | None


@dataclass(frozen=True)
class LeadFacts:
    lead_id: str
    country: str | None = None
    employees: int | None = None
    products: frozenset[str] = frozenset()
    source: str | None = None
    domain: str | None = None
    company: str | None = None


@dataclass(frozen=True)
class Route:
    """Where a lead goes and why. `rep_id` None: nobody eligible, the lead waits in the fallback queue."""

    rep_id: str | None
    team_id: str | None
    rule: str
    reason: str
    details: dict[str, object] = field(default_factory=dict)


# --- account matching -----------------------------------------------------------------------------


def normalise_company(name: str, *, suffixes: Iterable[str]) -> str:
    """Lower case, accents and punctuation dropped, legal suffixes removed: "Acme, Inc." → "acme",
    "Acme B.V." → "acme" (dotted initials are one word: "b.v." is "bv"); the suffixes are read the same way."""
    words = _words(name)
    drop = _suffix_words(tuple(suffixes))
    kept = [w for w in words if w not in drop]
    return " ".join(kept or words)


@lru_cache(maxsize=16)
def _suffix_words(suffixes: tuple[str, ...]) -> frozenset[str]:
    """Once per suffix list: matching a lead normalises every account's name with it."""
    return frozenset(word for suffix in suffixes for word in _words(suffix)[-1:])


_INITIALS = re.compile(r"\b[a-z](?:\.[a-z])+\b\.?")


def _words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = _INITIALS.sub(lambda initials: initials.group().replace(".", ""), text.replace("&", " and "))
    return re.findall(r"[a-z0-9]+", text)


def email_domain(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().lower() or None


def match_account(
    *, domain: str | None, company: str | None, accounts: Sequence[AccountRecord], config: AccountMatching
) -> AccountMatch | None:
    """Exact email-domain match first; then the best fuzzy company-name match at or above the threshold.

    Ties on the name score go to an account with an owner, then the larger account, then the
    lowest account id (stable, so the same lead always matches the same account).
    """
    if domain:
        exact = sorted((a for a in accounts if a.domain and a.domain.lower() == domain.lower()), key=_tiebreak)
        if exact:
            return AccountMatch(exact[0].account_id, "domain", 100.0, exact[0].owner_rep_id)
    if not company:
        return None
    wanted = normalise_company(company, suffixes=config.legal_suffixes)
    if not wanted:
        return None
    scored = [
        (fuzz.token_sort_ratio(wanted, normalise_company(a.name, suffixes=config.legal_suffixes)), a) for a in accounts
    ]
    candidates = [(s, a) for s, a in scored if s >= config.fuzzy_threshold]
    if not candidates:
        return None
    best_score, best = min(candidates, key=lambda sa: (-sa[0], *_tiebreak(sa[1])))
    return AccountMatch(best.account_id, "fuzzy_name", round(best_score, 2), best.owner_rep_id)


def _tiebreak(account: AccountRecord) -> tuple[int, int, str]:
    return (0 if account.owner_rep_id else 1, -(account.employees or 0), account.account_id)


# --- rules ------------------------------------------------------------------------------------------


def segment_of(employees: int | None, segments: Sequence[Segment]) -> str | None:
    if employees is None:
        return None
    for segment in segments:
        if employees >= segment.min_employees and (segment.max_employees is None or employees <= segment.max_employees):
            return segment.name
    return None


def matching_rule(facts: LeadFacts, segment: str | None, rules: Sequence[RoutingRule]) -> RoutingRule | None:
    for rule in rules:
        when = rule.when
        if when.countries and (facts.country or "").upper() not in {c.upper() for c in when.countries}:
            continue
        if when.segments and segment not in when.segments:
            continue
        if when.products and not (facts.products & set(when.products)):
            continue
        if when.sources and facts.source not in when.sources:
            continue
        return rule
    return None


# --- eligibility ------------------------------------------------------------------------------------


def ineligibility(rep: RepState, *, now: datetime, excluded: frozenset[str] = frozenset()) -> str | None:
    """Why `rep` cannot take a lead now, or None when they can."""
    if rep.rep_id in excluded:
        return "previous_assignee"
    if not rep.active:
        return "inactive"
    if any(start <= now < end for start, end in rep.out_of_office):
        return "out_of_office"
    if rep.working_hours is not None and not in_working_hours(rep.working_hours, rep.timezone, now):
        return "outside_working_hours"
    if rep.daily_cap is not None and rep.assigned_today >= rep.daily_cap:
        return "daily_cap"
    if rep.weekly_cap is not None and rep.assigned_this_week >= rep.weekly_cap:
        return "weekly_cap"
    return None


def in_working_hours(hours: WorkingHours, timezone: str, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(timezone))
    start, end = time.fromisoformat(hours.start), time.fromisoformat(hours.end)
    return local.weekday() in hours.days and start <= local.time().replace(tzinfo=None) < end


def day_and_week_start(timezone: str, now: datetime) -> tuple[datetime, datetime]:
    """The start of the rep's local day and ISO week (Monday), as aware datetimes: where caps reset."""
    local = now.astimezone(ZoneInfo(timezone))
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return day, day - timedelta(days=local.weekday())


# --- the rotation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pick:
    rep_id: str
    pass_before: float
    pass_after: float
    lifted: dict[str, float]  # reps lifted to the team's virtual time (rep → new pass)
    virtual_time: float


def pick_weighted(
    reps: Sequence[RepState],
    *,
    lead_id: str,
    virtual_time: float,
    now: datetime,
    excluded: frozenset[str] = frozenset(),
) -> Pick | None:
    """The eligible rep with the lowest virtual time (after lifting laggards), or None."""
    eligible = [r for r in reps if ineligibility(r, now=now, excluded=excluded) is None]
    if not eligible:
        return None
    lifted = {r.rep_id: virtual_time for r in eligible if r.pass_value < virtual_time}
    passes = {r.rep_id: lifted.get(r.rep_id, r.pass_value) for r in eligible}
    chosen = min(eligible, key=lambda r: (passes[r.rep_id], _tie(lead_id, r.rep_id)))
    start = passes[chosen.rep_id]
    return Pick(
        rep_id=chosen.rep_id,
        pass_before=start,
        pass_after=start + 1.0 / chosen.weight,
        lifted={k: v for k, v in lifted.items() if k != chosen.rep_id},
        virtual_time=start,
    )


def _tie(lead_id: str, rep_id: str) -> bytes:
    return hashlib.blake2b(f"{lead_id}\x00{rep_id}".encode(), digest_size=8).digest()


# --- the whole decision -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamState:
    team_id: str
    virtual_time: float
    reps: tuple[RepState, ...]


def route(
    facts: LeadFacts,
    *,
    definitions: RoutingDefinitions,
    account: AccountMatch | None,
    reps_by_id: dict[str, RepState],
    teams: dict[str, TeamState],
    now: datetime,
    excluded: frozenset[str] = frozenset(),
) -> tuple[Route, Pick | None]:
    """Account owner → first matching rule (rep or team) → default team → fallback queue."""
    segment = segment_of(facts.employees, definitions.segments)
    base: dict[str, object] = {"segment": segment, "source": facts.source}
    if account is not None:
        base["account"] = {"account_id": account.account_id, "method": account.method, "score": account.score}
    if account is not None and account.owner_rep_id and definitions.account_matching.owner_routing:
        owner = reps_by_id.get(account.owner_rep_id)
        why = "unknown_rep" if owner is None else ineligibility(owner, now=now, excluded=excluded)
        if owner is not None and why is None:
            return Route(
                owner.rep_id, owner.team_id, "account_owner", f"owner of matched account {account.account_id}", base
            ), None
        base["owner_skipped"] = {"rep_id": account.owner_rep_id, "why": why}
    rule = matching_rule(facts, segment, definitions.rules)
    team_id = definitions.default_team
    rule_name = "default_team"
    if rule is not None:
        base["routing_rule"] = rule.name
        rule_name = f"rule:{rule.name}"
        if rule.rep is not None:
            rep = reps_by_id.get(rule.rep)
            why = "unknown_rep" if rep is None else ineligibility(rep, now=now, excluded=excluded)
            if rep is not None and why is None:
                return Route(rep.rep_id, rep.team_id, rule_name, f"rule {rule.name} routes to {rep.rep_id}", base), None
            base["rule_rep_skipped"] = {"rep_id": rule.rep, "why": why}
            team_id = rep.team_id if rep is not None else definitions.default_team
        else:
            team_id = rule.team or definitions.default_team
    team = teams.get(team_id)
    pick = (
        pick_weighted(team.reps, lead_id=facts.lead_id, virtual_time=team.virtual_time, now=now, excluded=excluded)
        if team is not None
        else None
    )
    if pick is None:
        reasons = (
            {r.rep_id: ineligibility(r, now=now, excluded=excluded) for r in team.reps} if team is not None else {}
        )
        return Route(
            None,
            team_id,
            "fallback_queue",
            f"no eligible rep in team {team_id}: waiting in {definitions.fallback_queue}",
            {**base, "team": team_id, "queue": definitions.fallback_queue, "ineligible": reasons},
        ), None
    return Route(
        pick.rep_id,
        team_id,
        rule_name,
        f"weighted round robin in team {team_id}",
        {**base, "team": team_id, "virtual_time": pick.pass_before},
    ), pick
