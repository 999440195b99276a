"""A realistic sample funnel for Baton, and a client that replays it against running services.

    python deploy/demo.py --handoff-url http://127.0.0.1:8000 --sla-url http://127.0.0.1:8002 --leads 300

`generate_sample()` is pure and deterministic (seeded `random.Random(7)`, fixed start): a few hundred
B2B leads of "Northwind Analytics" (data observability for mid-market tech) engaging over a few
weeks, in time order, as generic-webhook events. Mostly data/engineering people at mid-market tech
companies, plus the usual noise: students, gmail addresses, competitors, tiny companies and people
who will never buy.

`replay()` posts the sample to the handoff API, waits for the pipeline to settle, accepts about 60%
of the assigned leads as their rep and rejects about 15% with a reason from the example taxonomy (a
stable choice per lead), reports later stages (SQL, opportunity, won or lost) for some accepted leads
as a CRM would (more of them for better fit grades), lets sla-monitor catch up, and prints a summary.
It talks to the services only through their HTTP APIs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TextIO

import httpx

SOURCE = "demo"
SEED = 7
DEFAULT_START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
MAX_BATCH = 200  # the API takes up to 500 events per call
LATER_STAGES = ("sql", "opportunity", "won", "lost")  # what the CRM reports after a rep accepts
LEAD_STATES = ("known", "mql", "assigned", "sal", *LATER_STAGES, "rejected", "recycled", "disqualified")
MAIN_STATES = ("known", "mql", "assigned", "sal")
ACCEPTED_STATES = ("sal", *LATER_STAGES)
REJECTED_STATES = ("rejected", "recycled")
# Reasons from the example definitions' taxonomy, as reps would give them.
REJECTIONS: tuple[dict[str, str], ...] = (
    {"reason": "bad_timing"},
    {"reason": "no_fit", "sub_reason": "company_too_small"},
    {"reason": "bad_timing"},
    {"reason": "duplicate"},
)
CONVERSIONS = ("demo_request", "contact_sales", "free_trial_signup")
# How far the CRM takes an accepted lead, by the lead's fit grade: the share of accepted leads that
# become SQLs, of those that become opportunities, of those that close, and of those that are won.
# A better fit converts better, as it does where the scoring model is calibrated.
PROGRESS: dict[str, tuple[float, float, float, float]] = {
    "A": (0.8, 0.7, 0.6, 0.5),
    "B": (0.65, 0.55, 0.6, 0.35),
    "C": (0.5, 0.4, 0.6, 0.2),
    "D": (0.3, 0.2, 0.6, 0.1),
}

# --------------------------------------------------------------------------------------------
# In-file reference data: small, fictional, plausible.

# (company, domain, employees, industry, country): mid-market tech, the ideal customers
ICP_COMPANIES: tuple[tuple[str, str, int, str, str], ...] = (
    ("Lumenstack", "lumenstack.io", 420, "Computer Software", "US"),
    ("Quarry Labs", "quarrylabs.com", 180, "Computer Software", "US"),
    ("Brightwave Analytics", "brightwave.ai", 260, "Computer Software", "GB"),
    ("Helix Payments", "helixpay.com", 1200, "Financial Services", "US"),
    ("Cargoline", "cargoline.io", 650, "Logistics Software", "DE"),
    ("Tidepool Health", "tidepoolhealth.com", 900, "Healthcare Technology", "US"),
    ("Kestrel Security", "kestrelsec.com", 340, "Computer & Network Security", "US"),
    ("Vantage Retail Tech", "vantageretail.io", 2100, "Retail Technology", "US"),
    ("Orbital Commerce", "orbitalcommerce.com", 780, "E-commerce", "NL"),
    ("Fjord Systems", "fjordsystems.se", 150, "Computer Software", "SE"),
    ("Parallax Games", "parallaxgames.com", 480, "Computer Games", "CA"),
    ("Meridian Insurtech", "meridianinsure.com", 1500, "Insurance", "GB"),
    ("Copperleaf Energy", "copperleaf.energy", 230, "Renewables & Environment", "DE"),
    ("Sable Ads", "sableads.com", 310, "Marketing Technology", "FR"),
    ("Nimbus HR", "nimbushr.com", 560, "Computer Software", "IE"),
    ("Granite Data", "granitedata.co", 95, "Computer Software", "US"),
    ("Polaris Mobility", "polarismobility.com", 1100, "Automotive Software", "DE"),
    ("Wavelength Media", "wavelength.tv", 700, "Online Media", "GB"),
    ("Ember Finance", "emberfinance.io", 380, "Financial Services", "SG"),
    ("Juniper Learning", "juniperlearning.com", 260, "E-Learning", "AU"),
    ("Redwood Bioinformatics", "redwoodbio.com", 450, "Biotechnology", "US"),
    ("Cobalt Travel", "cobalttravel.com", 820, "Internet", "ES"),
    ("Lattice Marketplace", "latticemarket.com", 210, "Internet", "IN"),
    ("Tessellate", "tessellate.dev", 130, "Computer Software", "IL"),
    ("Prism Telecom Cloud", "prismtel.io", 2600, "Telecommunications", "BR"),
    ("Harbor Digital Bank", "harborbank.com", 4800, "Banking", "US"),
    ("Corvid Robotics", "corvidrobotics.com", 300, "Industrial Automation", "US"),
    ("Alder PropTech", "alderproptech.com", 170, "Real Estate Technology", "CA"),
    ("Quanta Sports Data", "quantasports.com", 140, "Sports Technology", "GB"),
    ("Mosaic Health Systems", "mosaichealth.io", 2300, "Hospital & Health Care", "US"),
)
# too big for the mid-market ICP, but real buyers
ENTERPRISE_COMPANIES: tuple[tuple[str, str, int, str, str], ...] = (
    ("Stellar Bank Group", "stellarbank.com", 62000, "Banking", "US"),
    ("Continental Retail Group", "continentalretail.com", 91000, "Retail", "DE"),
    ("Pacifica Telecom", "pacificatelecom.com", 38000, "Telecommunications", "AU"),
)
# sell data observability too: they read the pricing page, they will not buy
COMPETITORS: tuple[tuple[str, str, int, str, str], ...] = (
    ("Sightline Data", "sightlinedata.com", 240, "Computer Software", "US"),
    ("Observa", "observa.io", 120, "Computer Software", "GB"),
    ("Datadrift", "datadrift.ai", 60, "Computer Software", "US"),
)
TINY_COMPANIES: tuple[tuple[str, str, int, str, str], ...] = (
    ("Pixel & Pine Studio", "pixelpine.co", 3, "Design", "GB"),
    ("Brewline Apps", "brewline.app", 6, "Computer Software", "US"),
    ("Solo Ventures", "soloventures.io", 1, "Management Consulting", "US"),
    ("Kinfolk Labs", "kinfolklabs.dev", 8, "Computer Software", "DE"),
)
UNIVERSITIES: tuple[tuple[str, str, int, str, str], ...] = (
    ("Westbrook University", "westbrook.edu", 7000, "Higher Education", "US"),
    ("Kingsgate College", "kingsgate.ac.uk", 3500, "Higher Education", "GB"),
    ("TH Nordstadt", "th-nordstadt.de", 2200, "Higher Education", "DE"),
    ("Indus Institute of Technology", "iit-indus.ac.in", 4100, "Higher Education", "IN"),
)
PERSONAL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "proton.me")
PERSONAL_DOMAIN_WEIGHTS = (60, 14, 10, 9, 7)

# fmt: off
BUYER_TITLES = (
    "VP of Data", "Head of Data Engineering", "Director of Data Platform", "Data Engineering Manager",
    "Director of Analytics Engineering", "VP Engineering", "CTO", "Head of Platform", "Chief Data Officer",
    "Head of Business Intelligence", "Engineering Manager, Data Reliability",
)
PRACTITIONER_TITLES = (
    "Senior Data Engineer", "Staff Data Engineer", "Analytics Engineer", "Data Engineer",
    "Principal Engineer, Data Infrastructure", "Senior Analytics Engineer", "Data Platform Engineer",
)
NON_BUYER_TITLES = (
    "Marketing Coordinator", "Technical Recruiter", "Account Executive", "Office Manager",
    "HR Business Partner", "Customer Success Manager", "Sales Development Representative",
)
COMPETITOR_TITLES = ("Product Marketing Manager", "Competitive Intelligence Analyst", "Product Manager", "Founder")
TINY_TITLES = ("Founder", "Co-founder & CTO", "Owner", "Freelance Data Consultant")
STUDENT_TITLES = ("Student", "Graduate Student", "MSc Data Science Student", "PhD Candidate")
PERSONAL_TITLES = ("Data Engineer", "Consultant", "Developer", None)

FIRST_NAMES = (
    "Priya", "James", "Sofia", "Liam", "Mei", "Noah", "Amara", "Lucas", "Hannah", "Mateo", "Aisha", "Oliver",
    "Yuki", "Elena", "Daniel", "Fatima", "Jonas", "Chloé", "Ravi", "Grace", "Tomás", "Ingrid", "Kwame", "Sara",
    "Ethan", "Leila", "Marco", "Zoë", "Arjun", "Nora", "Felix", "Camila", "Owen", "Anika", "Diego", "Maya",
)
LAST_NAMES = (
    "Shah", "Carter", "Rossi", "Nguyen", "Müller", "Okafor", "Kim", "Andersson", "Garcia", "Cohen", "Patel",
    "O'Brien", "Tanaka", "Dubois", "Silva", "Novak", "Haddad", "Jensen", "Kowalski", "Murphy", "Fischer",
    "Mendes", "Larsen", "Chen", "Bauer", "Singh", "Moreau", "Lindqvist", "Adeyemi", "Wright", "Ramos", "Ito",
)
# rough UTC offsets in hours, for business-hours timestamps
UTC_OFFSETS: dict[str, float] = {
    "US": -5, "CA": -5, "BR": -3, "GB": 0, "IE": 0, "ES": 1, "FR": 1, "NL": 1, "DE": 1, "SE": 1,
    "IL": 2, "IN": 5.5, "SG": 8, "AU": 10,
}
# fmt: on

# fmt: off
PAGES = (
    "/", "/product", "/product/lineage", "/product/anomaly-detection", "/product/data-contracts",
    "/integrations/snowflake", "/integrations/dbt", "/integrations/databricks", "/integrations/bigquery",
    "/customers", "/customers/helix-payments", "/blog/what-is-data-observability", "/blog/data-contracts-101",
    "/blog/freshness-slas", "/blog/schema-drift", "/docs/quickstart", "/security", "/about", "/careers",
)
# fmt: on
ASSETS = (
    ("The Data Downtime Report 2026", "/resources/data-downtime-report-2026"),
    ("Guide: Data Contracts in Practice", "/resources/data-contracts-guide"),
    ("Checklist: dbt Test Coverage", "/resources/dbt-test-checklist"),
    ("Whitepaper: Observability for the Modern Data Stack", "/resources/modern-data-stack-observability"),
    ("Benchmark: The Cost of Bad Data in Fintech", "/resources/bad-data-fintech-benchmark"),
)
WEBINARS = (
    "Catching schema drift before your dashboards do",
    "Data SLAs your stakeholders will sign",
    "Live demo: lineage-driven incident triage",
)
# fmt: off
CAMPAIGNS = (
    "nurture-01-welcome", "nurture-02-data-downtime", "nurture-03-data-slas", "newsletter-2026-11",
    "webinar-invite-schema-drift", "product-update-lineage",
)
REFERRERS = ("google", "google", "linkedin", "direct", "g2", "newsletter", "reddit")

# fmt: on
# persona kind -> (share of leads, intent weights cold/warm/hot)
PERSONAS: dict[str, tuple[float, tuple[float, float, float]]] = {
    "icp": (0.62, (0.48, 0.36, 0.16)),
    "enterprise": (0.06, (0.50, 0.36, 0.14)),
    "non_buyer": (0.08, (0.78, 0.20, 0.02)),
    "student": (0.07, (0.55, 0.43, 0.02)),
    "personal_email": (0.08, (0.60, 0.32, 0.08)),
    "competitor": (0.04, (0.30, 0.66, 0.04)),
    "tiny_company": (0.05, (0.50, 0.32, 0.18)),
}
BAD_FIT_KINDS = frozenset({"non_buyer", "student", "personal_email", "competitor", "tiny_company"})
EMAIL_ONLY_SHARE = 0.1  # leads sent without lead_id (the handoff derives one from the email)


# --------------------------------------------------------------------------------------------
# The sample


@dataclass
class _Lead:
    number: int
    lead_id: str | None
    email: str
    kind: str
    profile: dict[str, Any]
    intent: str


@dataclass
class _Activity:
    at: datetime
    activity: str
    properties: dict[str, Any]
    with_profile: bool = False


def generate_sample(*, leads: int = 300, weeks: int = 3, start: datetime = DEFAULT_START) -> list[dict[str, Any]]:
    """Webhook events for `leads` leads over `weeks` weeks from `start`, in time order.

    Deterministic: the same arguments give the same events (ids included). Each event is a dict as
    the generic webhook takes it; `occurred_at` is an ISO 8601 string with a UTC offset.
    """
    if leads < 1 or weeks < 1:
        raise ValueError("leads and weeks must be at least 1")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    rng = random.Random(SEED)
    start = start.astimezone(UTC)
    end = start + timedelta(weeks=weeks)
    used_emails: set[str] = set()
    rows: list[tuple[datetime, int, int, dict[str, Any]]] = []
    for number in range(1, leads + 1):
        lead = _make_lead(rng, number, used_emails)
        activities = _make_activities(rng, lead, start, end)
        for seq, act in enumerate(activities, start=1):
            at = act.at.replace(microsecond=0)
            # readable (lead number, its n-th event) and tied to the content, so a sample made with
            # other arguments never reuses an id for a different event (ids are the dedupe key)
            digest = hashlib.sha256(f"{lead.email}|{act.activity}|{at.isoformat()}".encode()).hexdigest()[:8]
            event: dict[str, Any] = {"external_id": f"evt-{number:04d}-{seq:03d}-{digest}"}
            if lead.lead_id is not None:
                event["lead_id"] = lead.lead_id
            event["email"] = lead.email
            event["activity"] = act.activity
            event["occurred_at"] = at.isoformat()
            event["properties"] = act.properties
            event["profile"] = dict(lead.profile) if act.with_profile else None
            rows.append((at, number, seq, event))
    rows.sort(key=lambda row: (row[0], row[1], row[2]))
    return [row[3] for row in rows]


def _pick_kind(rng: random.Random) -> str:
    kinds = list(PERSONAS)
    return rng.choices(kinds, weights=[PERSONAS[k][0] for k in kinds])[0]


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _make_lead(rng: random.Random, number: int, used_emails: set[str]) -> _Lead:
    kind = _pick_kind(rng)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    title: str | None
    if kind == "icp":
        company = rng.choice(ICP_COMPANIES)
        title = rng.choice(BUYER_TITLES if rng.random() < 0.55 else PRACTITIONER_TITLES)
    elif kind == "enterprise":
        company = rng.choice(ENTERPRISE_COMPANIES)
        title = rng.choice(BUYER_TITLES + PRACTITIONER_TITLES)
    elif kind == "non_buyer":
        company = rng.choice(ICP_COMPANIES + ENTERPRISE_COMPANIES)
        title = rng.choice(NON_BUYER_TITLES)
    elif kind == "student":
        company = rng.choice(UNIVERSITIES)
        title = rng.choice(STUDENT_TITLES)
    elif kind == "competitor":
        company = rng.choice(COMPETITORS)
        title = rng.choice(COMPETITOR_TITLES)
    elif kind == "tiny_company":
        company = rng.choice(TINY_COMPANIES)
        title = rng.choice(TINY_TITLES)
    else:  # personal_email: a real person, a free mailbox, little else known
        company = rng.choice(ICP_COMPANIES + TINY_COMPANIES)
        title = rng.choice(PERSONAL_TITLES)
    name, domain, employees, industry, country = company

    if kind == "personal_email":
        mailbox = rng.choices(PERSONAL_DOMAINS, weights=PERSONAL_DOMAIN_WEIGHTS)[0]
        local = rng.choice(
            (
                f"{_ascii(first)}.{_ascii(last)}",
                f"{_ascii(first)}{_ascii(last)}{rng.randint(70, 99)}",
                f"{_ascii(first)[0]}{_ascii(last)}",
            )
        )
        email = f"{local}@{mailbox}"
    else:
        email = f"{_ascii(first)}.{_ascii(last)}@{domain}"
    base_local, at, host = email.partition("@")
    suffix = 2
    while email in used_emails:
        email = f"{base_local}{suffix}{at}{host}"
        suffix += 1
    used_emails.add(email)

    profile: dict[str, Any] = {"first_name": first, "last_name": last}
    if title is not None:
        profile["title"] = title
    if kind == "personal_email":
        # free-mail sign-ups: the company is often what they typed, domain and size unknown
        if rng.random() < 0.5:
            profile["company"] = name
        profile["domain"] = email.partition("@")[2]
        profile["country"] = country
    else:
        profile.update(company=name, domain=domain, employees=employees, industry=industry, country=country)
        if rng.random() < 0.12:  # enrichment gaps
            for key in rng.sample(["title", "employees", "industry"], k=rng.randint(1, 2)):
                profile.pop(key, None)

    intent = rng.choices(("cold", "warm", "hot"), weights=PERSONAS[kind][1])[0]
    lead_id = None if rng.random() < EMAIL_ONLY_SHARE else f"lead-{number:04d}"
    return _Lead(number=number, lead_id=lead_id, email=email, kind=kind, profile=profile, intent=intent)


def _business_time(rng: random.Random, day: date, country: str) -> datetime:
    """A moment on `day` in local business hours (mostly), as UTC."""
    hour = rng.choices(range(7, 23), weights=(2, 6, 10, 12, 12, 9, 10, 12, 11, 9, 6, 3, 3, 3, 2, 1))[0]
    local = datetime(day.year, day.month, day.day, hour, rng.randint(0, 59), rng.randint(0, 59), tzinfo=UTC)
    return local - timedelta(hours=UTC_OFFSETS.get(country, 0))  # local wall time -> UTC


def _pick_day(rng: random.Random, first: date, last: date) -> date:
    """A day in [first, last], weekends mostly avoided."""
    span = (last - first).days
    day = first + timedelta(days=rng.randint(0, span))
    for _ in range(3):
        if day.weekday() < 5 or rng.random() < 0.25:
            break
        day = first + timedelta(days=rng.randint(0, span))
    return day


def _make_activities(rng: random.Random, lead: _Lead, start: datetime, end: datetime) -> list[_Activity]:
    country = str(lead.profile.get("country", "US"))
    first_day, last_day = start.date(), (end - timedelta(seconds=1)).date()
    window_days = (last_day - first_day).days
    # first touch in the first ~85% of the window, so most leads have time to do something
    touch_day = _pick_day(rng, first_day, first_day + timedelta(days=max(0, int(window_days * 0.85))))
    clock = _business_time(rng, touch_day, country)
    clock = min(max(clock, start), end - timedelta(hours=1))

    sessions = {"cold": rng.randint(1, 2), "warm": rng.randint(2, 5), "hot": rng.randint(3, 6)}[lead.intent]
    mean_gap_days = {"cold": 4.0, "warm": 2.5, "hot": 1.5}[lead.intent]
    conversion = None
    if lead.intent == "hot":
        if lead.kind in ("tiny_company", "personal_email", "competitor"):
            conversion = rng.choices(CONVERSIONS, weights=(2, 1, 6))[0]
        else:
            conversion = rng.choices(CONVERSIONS, weights=(5, 2, 3))[0]

    activities: list[_Activity] = []
    gated_form_done = False
    webinar_done = False

    def add(
        activity: str, properties: dict[str, Any], *, with_profile: bool = False, min_gap: int = 20, max_gap: int = 240
    ) -> None:
        nonlocal clock
        clock = clock + timedelta(seconds=rng.randint(min_gap, max_gap))
        activities.append(_Activity(clock, activity, properties, with_profile))

    # session days: gaps of a few days, weekends mostly skipped, none past the window (a hot lead
    # whose window runs out converts in its last session)
    days = [touch_day]
    for _ in range(sessions - 1):
        day = days[-1] + timedelta(days=round(rng.expovariate(1 / mean_gap_days)))
        if day.weekday() >= 5 and rng.random() < 0.8:
            day += timedelta(days=7 - day.weekday())
        if day > last_day:
            break
        days.append(day)

    for session, day in enumerate(days):
        if session > 0:
            clock = max(_business_time(rng, day, country), clock + timedelta(hours=1))
        is_last = session == len(days) - 1
        referrer = rng.choice(REFERRERS)
        if session > 0 and lead.intent != "cold" and rng.random() < 0.35:
            campaign = rng.choice(CAMPAIGNS)
            add("email_click", {"campaign": campaign, "url": rng.choice(PAGES)}, min_gap=0, max_gap=30)
            referrer = "email"
        first_page = "/" if session == 0 and rng.random() < 0.4 else rng.choice(PAGES)
        add("page_view", {"url": first_page, "referrer": referrer}, with_profile=not activities, min_gap=0, max_gap=5)
        for _ in range(rng.randint(0, 2 if lead.intent == "cold" else 4)):
            add("page_view", {"url": rng.choice(PAGES)})
        if lead.intent == "cold":
            continue
        pricing_chance = 0.8 if lead.kind == "competitor" else 0.3
        if rng.random() < pricing_chance or (is_last and conversion):
            add("pricing_page_view", {"url": "/pricing"})
        if rng.random() < (0.45 if lead.kind == "student" else 0.22):
            title, url = rng.choice(ASSETS)
            if not gated_form_done and rng.random() < 0.5:
                add("form_submit", {"form": "gated-content", "url": url}, with_profile=True)
                gated_form_done = True
            add("content_download", {"asset": title, "url": url})
        if not webinar_done and rng.random() < (0.3 if lead.kind == "student" else 0.12):
            add(
                "webinar_attended",
                {"webinar": rng.choice(WEBINARS), "minutes": rng.randint(12, 55)},
                min_gap=3600,
                max_gap=6 * 3600,
            )
            webinar_done = True
        if is_last and conversion:
            if conversion == "free_trial_signup":
                add("free_trial_signup", {"plan": "trial-14d", "url": "/signup"}, with_profile=True)
                if lead.kind in ("icp", "enterprise") and rng.random() < 0.3:
                    add(
                        "demo_request",
                        {"form": "demo", "url": "/demo"},
                        with_profile=True,
                        min_gap=86_400,
                        max_gap=3 * 86_400,
                    )
            else:
                form = "demo" if conversion == "demo_request" else "contact-sales"
                add(conversion, {"form": form, "url": f"/{form}"}, with_profile=True)

    if lead.intent == "cold" and rng.random() < 0.3 and activities:
        # a nurture email, clicked days later
        clock = clock + timedelta(days=rng.uniform(1, 6))
        add("email_click", {"campaign": rng.choice(CAMPAIGNS), "url": rng.choice(PAGES)}, min_gap=0, max_gap=30)
        add("page_view", {"url": rng.choice(PAGES), "referrer": "email"}, min_gap=5, max_gap=60)

    activities = [a for a in activities if a.at < end]
    _add_email_outcomes(rng, lead, activities, end)
    activities.sort(key=lambda a: a.at)
    return activities


def _add_email_outcomes(rng: random.Random, lead: _Lead, activities: list[_Activity], end: datetime) -> None:
    """Bounces (bad or stale addresses) and unsubscribes, and what they rule out afterwards."""
    bounce_chance = {"personal_email": 0.12, "student": 0.08, "non_buyer": 0.06}.get(lead.kind, 0.02)
    unsubscribe_chance = 0.15 if lead.kind in BAD_FIT_KINDS else 0.04
    if lead.intent != "hot" and rng.random() < bounce_chance:
        at = activities[0].at + timedelta(hours=rng.uniform(1, 30))
        if at < end:
            # nothing in a bounced mailbox gets clicked
            activities[:] = [a for a in activities if a.activity != "email_click"]
            activities.append(_Activity(at, "email_bounce", {"campaign": "nurture-01-welcome", "bounce": "hard"}))
        return
    if rng.random() < unsubscribe_chance:
        at = activities[-1].at + timedelta(hours=rng.uniform(2, 96))
        if lead.intent == "hot" or at >= end:
            return
        activities.append(_Activity(at, "unsubscribe", {"campaign": rng.choice(CAMPAIGNS)}))


def sample_leads(events: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any] | None]:
    """Each lead in `events` (its lead_id, or its email when it has none) -> the latest profile sent."""
    leads: dict[str, dict[str, Any] | None] = {}
    for event in events:
        key = str(event.get("lead_id") or event["email"])
        if event.get("profile") is not None or key not in leads:
            leads[key] = event.get("profile") or leads.get(key)
    return leads


# --------------------------------------------------------------------------------------------
# Replay


class DemoError(RuntimeError):
    """The demo could not go on (a service unreachable, a request refused)."""


@dataclass(frozen=True)
class BaseUrls:
    handoff: str = "http://127.0.0.1:8000"
    sla_monitor: str = "http://127.0.0.1:8002"


@dataclass
class ReplayReport:
    events_sent: int = 0
    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    sample_leads: int = 0
    settled: bool = False
    settle_seconds: float = 0.0
    states: dict[str, int] = field(default_factory=dict)
    reps: dict[str, tuple[int, int]] = field(default_factory=dict)  # rep -> (assigned, accepted)
    decisions_attempted: int = 0
    accepts: int = 0
    rejects: int = 0
    stages: Counter[str] = field(default_factory=Counter)  # later stages reported as the CRM
    clocks: dict[tuple[str, str], int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    example_ids: list[str] = field(default_factory=list)
    crm_deliveries: dict[str, int] = field(default_factory=dict)  # status -> count (the CRM webhook)
    wall_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


RETRY_STATUSES = frozenset({429, 502, 503, 504})


class _Api:
    """A thin httpx wrapper: retries on 429/502/503/504 (honouring Retry-After) and connection errors."""

    def __init__(self, client: httpx.Client, *, attempts: int, sleep: Callable[[float], None]) -> None:
        self.client = client
        self.attempts = attempts
        self.sleep = sleep

    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        attempts: int | None = None,
    ) -> httpx.Response:
        attempts = attempts or self.attempts
        delay = 0.25
        for attempt in range(1, attempts + 1):
            wait = delay
            try:
                response = self.client.request(method, url, json=json, params=params)
            except httpx.TransportError as error:
                problem = f"{type(error).__name__}: {error}"
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                problem = f"HTTP {response.status_code}"
                wait = _retry_after(response) or delay
            if attempt == attempts:
                raise DemoError(f"{method} {url}: gave up after {attempts} attempts ({problem})")
            self.sleep(min(wait, 10.0))
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    def get_json(self, url: str, *, params: dict[str, Any] | None = None) -> Any:
        response = self.request("GET", url, params=params)
        if response.status_code != 200:
            raise DemoError(f"GET {url}: HTTP {response.status_code}: {response.text[:300]}")
        return response.json()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _chunks(items: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _bucket(lead_id: str) -> int:
    return int.from_bytes(hashlib.sha256(lead_id.encode()).digest()[:4], "big") % 10_000


def chosen_for_acceptance(lead_id: str, share: float) -> bool:
    """Stable per lead: the same leads are accepted on every run, about `share` of them."""
    return _bucket(lead_id) < share * 10_000


def chosen_rejection(lead_id: str, *, accept_share: float, reject_share: float) -> dict[str, str] | None:
    """Stable per lead: about `reject_share` of the leads not chosen for acceptance, and a reason."""
    bucket = _bucket(lead_id)
    if accept_share * 10_000 <= bucket < (accept_share + reject_share) * 10_000:
        return REJECTIONS[bucket % len(REJECTIONS)]
    return None


def chosen_progress(lead_id: str, fit_grade: str | None) -> list[tuple[str, dict[str, Any]]]:
    """Stable per lead: the later stages the CRM reports for an accepted lead, in order, each with its
    body (a won deal's amount, a lost one's note)."""
    to_sql, to_opportunity, to_close, to_win = PROGRESS.get(fit_grade or "", PROGRESS["D"])
    rng = random.Random(f"{SEED}:{lead_id}:progress")
    calls: list[tuple[str, dict[str, Any]]] = []
    for stage, share in (("sql", to_sql), ("opportunity", to_opportunity)):
        if rng.random() >= share:
            return calls
        calls.append((stage, {}))
    if rng.random() < to_close:
        if rng.random() < to_win:
            calls.append(("won", {"amount": 500 * rng.randint(24, 180), "note": "signed"}))
        else:
            calls.append(("lost", {"note": "chose another vendor"}))
    return calls


@dataclass(frozen=True)
class _Snapshot:
    counts: tuple[tuple[str, int], ...]
    score_sum: float
    items: dict[str, list[dict[str, Any]]]

    @property
    def total(self) -> int:
        return sum(n for _, n in self.counts)


def _snapshot(api: _Api, handoff: str) -> _Snapshot:
    counts: list[tuple[str, int]] = []
    items: dict[str, list[dict[str, Any]]] = {}
    score_sum = 0.0
    for state in LEAD_STATES:
        body = api.get_json(f"{handoff}/v1/leads", params={"state": state, "limit": 500})
        state_items = list(body.get("items") or [])
        counts.append((state, int(body.get("total", len(state_items)))))
        items[state] = state_items
        score_sum += sum(float(item.get("score") or 0) for item in state_items)
    return _Snapshot(counts=tuple(counts), score_sum=round(score_sum, 6), items=items)


def parse_clock_summary(body: Any) -> dict[tuple[str, str], int]:
    """(kind, state) -> count, from sla-monitor's `{"as_of": ..., "by_kind": {kind: {state: n}}}`."""
    by_kind = body.get("by_kind") if isinstance(body, dict) else None
    return {(str(kind), str(state)): int(n) for kind, states in (by_kind or {}).items() for state, n in states.items()}


def replay(
    base_urls: BaseUrls,
    events: Sequence[dict[str, Any]],
    *,
    accept_share: float = 0.6,
    reject_share: float = 0.15,
    batch_size: int = MAX_BATCH,
    settle_timeout: float = 180.0,
    quiet_seconds: float = 3.0,
    poll_interval: float = 0.5,
    sla_timeout: float = 20.0,
    attempts: int = 8,
    client: httpx.Client | None = None,
    out: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
    api_key: str | None = None,
) -> ReplayReport:
    """Post `events`, let the pipeline settle, accept some assigned leads, and print a summary.

    `api_key` (default: the `BATON_API_KEY` environment variable) is sent as a bearer token: the
    handoff API needs a key with the `read` and `crm` scopes (an admin key has them).

    Returns the report; `report.problems` lists what went wrong (empty when the demo worked).
    Raises `DemoError` when a service cannot be reached or refuses the sample.
    """
    if not 0 < batch_size <= 500:
        raise ValueError("batch_size must be in 1..500")
    stream = out if out is not None else sys.stdout
    started = time.monotonic()
    owns_client = client is None
    api_key = api_key or os.environ.get("BATON_API_KEY")
    auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    http = client or httpx.Client(timeout=httpx.Timeout(15.0, connect=3.0), headers=auth)
    api = _Api(http, attempts=attempts, sleep=sleep)
    handoff, sla = base_urls.handoff.rstrip("/"), base_urls.sla_monitor.rstrip("/")
    profiles = sample_leads(events)
    report = ReplayReport(sample_leads=len(profiles))

    def say(line: str = "") -> None:
        print(line, file=stream, flush=True)

    try:
        _check_reachable(api, handoff, "handoff")
        _check_reachable(api, sla, "sla-monitor")
        first, last = (events[0]["occurred_at"][:10], events[-1]["occurred_at"][:10]) if events else ("-", "-")
        say(
            f"Replaying {len(events):,} engagement events of {report.sample_leads} leads ({first} .. {last}) "
            f"to {handoff}"
        )

        # 1. send, in time order
        send_started = time.monotonic()
        for batch in _chunks(events, batch_size):
            response = api.request(
                "POST", f"{handoff}/v1/webhooks/generic", json={"source": SOURCE, "events": list(batch)}
            )
            if response.status_code != 202:
                raise DemoError(
                    f"POST /v1/webhooks/generic refused a batch: HTTP {response.status_code}: {response.text[:500]}"
                )
            body = response.json()
            report.batches += 1
            report.events_sent += len(batch)
            report.accepted += int(body.get("accepted", 0))
            report.duplicates += int(body.get("duplicates", 0))
        say(
            f"  sent {report.events_sent:,} events in {report.batches} batches in "
            f"{time.monotonic() - send_started:.1f}s: {report.accepted:,} new, {report.duplicates:,} duplicates"
        )

        # 2. wait for scoring and qualification to finish
        say("  waiting for the pipeline to settle (scoring -> qualification -> routing) ...")
        snapshot = _wait_for_settle(
            api, handoff, report, timeout=settle_timeout, quiet=quiet_seconds, interval=poll_interval, sleep=sleep
        )
        say(f"  {'settled' if report.settled else 'NOT settled'} after {report.settle_seconds:.1f}s")

        # 3. reps accept about `accept_share` of what they were given and reject about `reject_share`
        _decide(api, handoff, report, snapshot, accept_share=accept_share, reject_share=reject_share)
        say(
            f"  reps accepted {report.accepts} and rejected {report.rejects} "
            f"of {_count(snapshot, 'assigned')} assigned leads; as the CRM: "
            + ", ".join(f"{stage} {report.stages[stage]}" for stage in LATER_STAGES)
        )

        # 4. let sla-monitor catch up, then read everything back
        _wait_for_clocks(
            api, sla, report, timeout=sla_timeout, quiet=min(quiet_seconds, 2.0), interval=poll_interval, sleep=sleep
        )
        final = _snapshot(api, handoff)
        report.crm_deliveries = _wait_for_crm_deliveries(
            api, handoff, timeout=sla_timeout, interval=poll_interval, sleep=sleep
        )
        report.states = dict(final.counts)
        report.reps = _per_rep(final)
        report.example_ids, report.examples = _examples(api, handoff, sla, final, profiles)
        _check_outcome(report, final)
    finally:
        if owns_client:
            http.close()
    report.wall_seconds = time.monotonic() - started
    say()
    say(format_summary(report, base_urls))
    return report


def _check_reachable(api: _Api, base: str, name: str) -> None:
    try:
        response = api.request("GET", f"{base}/readyz", attempts=5)
    except DemoError as error:
        raise DemoError(
            f"{name} is not reachable at {base} ({error}). Start the services first, "
            f"or run everything with: python deploy/run_embedded.py"
        ) from None
    if response.status_code != 200:
        raise DemoError(f"{name} at {base} is not ready: HTTP {response.status_code}: {response.text[:300]}")


def _count(snapshot: _Snapshot, state: str) -> int:
    return dict(snapshot.counts).get(state, 0)


def _wait_for_settle(
    api: _Api,
    handoff: str,
    report: ReplayReport,
    *,
    timeout: float,
    quiet: float,
    interval: float,
    sleep: Callable[[float], None],
) -> _Snapshot:
    """Poll the lead counts (and total score) until they stop changing for `quiet` seconds.

    "Settled" also needs scores to have come back from scoring at all, so a consumer group
    still joining is not mistaken for a finished pipeline.
    """
    started = time.monotonic()
    last: tuple[tuple[tuple[str, int], ...], float] | None = None
    stable_since = started
    while True:
        snapshot = _snapshot(api, handoff)
        now = time.monotonic()
        fingerprint = (snapshot.counts, snapshot.score_sum)
        if fingerprint != last:
            last, stable_since = fingerprint, now
        flowing = snapshot.score_sum != 0 or snapshot.total > _count(snapshot, "known")
        if flowing and snapshot.total > 0 and now - stable_since >= quiet:
            report.settled = True
            break
        if now - started >= timeout:
            report.problems.append(
                f"the pipeline did not settle within {timeout:.0f}s "
                f"(lead counts or scores still changing, or no scores yet)"
            )
            break
        sleep(interval)
    report.settle_seconds = time.monotonic() - started
    return snapshot


def _decide(
    api: _Api, handoff: str, report: ReplayReport, snapshot: _Snapshot, *, accept_share: float, reject_share: float
) -> None:
    """Accept or reject the chosen assigned leads as their rep. Decided leads leave `assigned`, so when
    there were more than one page of them, listing again shows the ones not seen yet."""
    seen: set[str] = set()
    items = snapshot.items.get("assigned", [])
    total = _count(snapshot, "assigned")
    failures: list[str] = []
    while True:
        fresh = [item for item in items if str(item["lead_id"]) not in seen]
        if not fresh:
            break
        for item in fresh:
            lead_id = str(item["lead_id"])
            seen.add(lead_id)
            rep_id = item.get("rep_id")
            rejection = chosen_rejection(lead_id, accept_share=accept_share, reject_share=reject_share)
            if not rep_id or not (chosen_for_acceptance(lead_id, accept_share) or rejection):
                continue
            report.decisions_attempted += 1
            verb, body, done = (
                ("reject", {"rep_id": rep_id, **rejection}, REJECTED_STATES)
                if rejection
                else ("accept", {"rep_id": rep_id}, ACCEPTED_STATES)
            )
            response = api.request("POST", f"{handoff}/v1/leads/{lead_id}/{verb}", json=body)
            # a 409 in the decided state: a retried call whose first attempt had gone through
            if not _done(response, done):
                failures.append(f"{lead_id}: HTTP {response.status_code} {response.text[:200]}")
                continue
            report.rejects += bool(rejection)
            report.accepts += not rejection
            if not rejection:
                _report_stages(api, handoff, report, lead_id, item.get("fit_grade"), failures)
        if len(items) >= total:
            break
        body = api.get_json(f"{handoff}/v1/leads", params={"state": "assigned", "limit": 500})
        items, total = list(body.get("items") or []), int(body.get("total", 0))
    if failures:
        report.problems.append(
            f"{len(failures)} of {report.decisions_attempted} accepts, rejects and CRM stages failed, "
            f"e.g. {failures[0]}"
        )


def _done(response: httpx.Response, states: Sequence[str]) -> bool:
    """Whether a call went through: 200, or a 409 in one of `states` (a retried call whose first
    attempt had gone through)."""
    return response.status_code == 200 or (
        response.status_code == 409 and _json(response).get("current_state") in states
    )


def _report_stages(
    api: _Api, handoff: str, report: ReplayReport, lead_id: str, fit_grade: str | None, failures: list[str]
) -> None:
    """As the CRM: report the later stages `chosen_progress` picks for this accepted lead."""
    for stage, body in chosen_progress(lead_id, fit_grade):
        response = api.request("POST", f"{handoff}/v1/leads/{lead_id}/{stage}", json=body)
        if not _done(response, LATER_STAGES[LATER_STAGES.index(stage) :]):
            failures.append(f"{lead_id} {stage}: HTTP {response.status_code} {response.text[:200]}")
            return
        report.stages[stage] += 1


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _wait_for_clocks(
    api: _Api,
    sla: str,
    report: ReplayReport,
    *,
    timeout: float,
    quiet: float,
    interval: float,
    sleep: Callable[[float], None],
) -> None:
    started = time.monotonic()
    last: dict[tuple[str, str], int] | None = None
    stable_since = started
    while True:
        counts = parse_clock_summary(api.get_json(f"{sla}/v1/clocks/summary"))
        now = time.monotonic()
        if counts != last:
            last, stable_since = counts, now
        met = sum(n for (_, state), n in counts.items() if state == "met")
        if counts and met >= report.accepts + report.rejects and now - stable_since >= quiet:
            break
        if now - started >= timeout:
            break
        sleep(interval)
    report.clocks = last or {}


CRM_STATUSES = ("delivered", "pending", "failed")


def _wait_for_crm_deliveries(
    api: _Api, handoff: str, *, timeout: float, interval: float, sleep: Callable[[float], None]
) -> dict[str, int]:
    """How the CRM webhook's deliveries stand once none is pending (all zero when it is not configured)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = {
            status: int(
                api.get_json(f"{handoff}/v1/crm-webhook/deliveries", params={"status": status, "limit": 1})["total"]
            )
            for status in CRM_STATUSES
        }
        if not counts["pending"] or time.monotonic() >= deadline:
            return counts
        sleep(interval)


def _per_rep(snapshot: _Snapshot) -> dict[str, tuple[int, int]]:
    assigned: Counter[str] = Counter()
    accepted: Counter[str] = Counter()
    for state, items in snapshot.items.items():
        for item in items:
            rep = item.get("rep_id")
            if not rep:
                continue
            assigned[rep] += 1
            if state in ACCEPTED_STATES:
                accepted[rep] += 1
    return {rep: (assigned[rep], accepted[rep]) for rep in sorted(assigned)}


def _examples(
    api: _Api, handoff: str, sla: str, snapshot: _Snapshot, profiles: dict[str, dict[str, Any] | None]
) -> tuple[list[str], list[str]]:
    """Three leads worth reading (ids, text): one accepted, one waiting for its rep, one not (yet) qualified."""

    def best(states: Sequence[str]) -> dict[str, Any] | None:
        candidates = [item for s in states for item in snapshot.items.get(s, [])]
        candidates.sort(key=lambda item: (-float(item.get("score") or 0), str(item["lead_id"])))
        return candidates[0] if candidates else None

    picks = [
        ("accepted by its rep", best(ACCEPTED_STATES)),
        ("waiting for its rep", best(["assigned"])),
        ("not qualified (yet)", best(["known", "mql", "disqualified"])),
    ]
    ids: list[str] = []
    blocks: list[str] = []
    for label, item in picks:
        if item is None:
            continue
        lead_id = str(item["lead_id"])
        detail = api.get_json(f"{handoff}/v1/leads/{lead_id}")
        lines = [
            f"  {lead_id}: {label}; state {detail.get('state')}, score {_num(detail.get('score'))}"
            + (f", rep {detail['rep_id']}" if detail.get("rep_id") else "")
        ]
        profile = profiles.get(lead_id)
        if profile:
            who = " ".join(str(profile[k]) for k in ("first_name", "last_name") if profile.get(k))
            where = ", ".join(str(x) for x in (profile.get("title"), profile.get("company")) if x)
            size = f"{profile['employees']:,} employees" if profile.get("employees") else None
            extra = ", ".join(x for x in (size, profile.get("country")) if x)
            lines.append(f"    {who}" + (f", {where}" if where else "") + (f" ({extra})" if extra else ""))
        for step in detail.get("timeline") or []:
            at = str(step.get("at", ""))[:19].replace("T", " ")
            move = f"{step.get('from_state') or '-'} -> {step.get('to_state')}"
            rep = f" [{step['rep_id']}]" if step.get("rep_id") else ""
            lines.append(f"    {at}  {move:<18} {step.get('actor', '')}: {step.get('reason', '')}{rep}")
        for sent in detail.get("crm_deliveries") or []:
            when = str(sent.get("delivered_at") or sent.get("failed_at") or "")[:19].replace("T", " ")
            lines.append(
                f"    CRM webhook {sent.get('event_type')} {sent.get('status')}"
                + (f" {when}" if when else "")
                + f" (tries {sent.get('attempts')})"
            )
        response = api.request("GET", f"{sla}/v1/leads/{lead_id}/clocks")
        if response.status_code == 200:
            for clock in response.json().get("clocks") or []:
                lines.append(
                    f"    SLA clock {clock.get('kind', '?')} {clock.get('state', '?')}"
                    f" (due {str(clock.get('due_at', '?'))[:19].replace('T', ' ')})"
                )
        ids.append(lead_id)
        blocks.append("\n".join(lines))
    return ids, blocks


def _num(value: Any) -> str:
    if isinstance(value, int | float):
        return f"{value:g}"
    return str(value)


def _check_outcome(report: ReplayReport, final: _Snapshot) -> None:
    if final.total == 0:
        report.problems.append("the handoff API lists no leads at all")
    elif final.total < report.sample_leads:
        report.problems.append(f"the handoff API lists {final.total} leads, the sample has {report.sample_leads}")
    if final.total and final.total == _count(final, "known"):
        report.problems.append("no lead went past 'known': is scoring running and publishing lead.scored?")
    if report.accepts and not any(state == "met" and n for (_, state), n in report.clocks.items()):
        report.problems.append("sla-monitor shows no met clocks although reps accepted leads")
    if report.crm_deliveries.get("failed") or report.crm_deliveries.get("pending"):
        report.problems.append(
            f"CRM webhook deliveries not delivered: {report.crm_deliveries['failed']} failed, "
            f"{report.crm_deliveries['pending']} pending (GET /v1/crm-webhook/deliveries shows the answers)"
        )


def format_summary(report: ReplayReport, base_urls: BaseUrls) -> str:
    handoff, sla = base_urls.handoff.rstrip("/"), base_urls.sla_monitor.rstrip("/")
    lines = ["Baton demo summary", "=================="]
    lines.append(
        f"Events sent       {report.events_sent:,} in {report.batches} batches "
        f"({report.accepted:,} new, {report.duplicates:,} duplicates)"
    )
    lines.append(f"Leads             {report.sample_leads} in the sample, {sum(report.states.values())} in handoff")
    lines.append("")
    lines.append("Leads by state")
    for state in LEAD_STATES:
        n = report.states.get(state, 0)
        if n or state in MAIN_STATES:
            lines.append(f"  {state:<13}{n:>5}")
    lines.append("")
    lines.append("Reps              assigned  accepted")
    for rep, (assigned, accepted) in report.reps.items():
        lines.append(f"  {rep:<16}{assigned:>9}{accepted:>10}")
    if not report.reps:
        lines.append("  (no lead was assigned)")
    lines.append("")
    lines.append("SLA clocks (sla-monitor)")
    kinds = sorted({kind for kind, _ in report.clocks})
    for kind in kinds:
        states = {s: n for (k, s), n in report.clocks.items() if k == kind}
        shown = [f"{s} {states.get(s, 0)}" for s in ("running", "met", "breached")]
        shown += [f"{s} {n}" for s, n in sorted(states.items()) if s not in ("running", "met", "breached")]
        lines.append(f"  {kind:<16}" + ", ".join(shown))
    if not kinds:
        lines.append("  (no clocks reported)")
    lines.append("")
    if any(report.crm_deliveries.values()):
        lines.append(
            "CRM webhook       "
            + ", ".join(f"{status} {report.crm_deliveries.get(status, 0)}" for status in CRM_STATUSES)
            + " (signed assignment packets)"
        )
    else:
        lines.append("CRM webhook       not configured (CRM_WEBHOOK_URL)")
    if report.examples:
        lines.append("")
        lines.append("Example leads")
        lines.extend(report.examples)
    lines.append("")
    lines.append(f"Wall time         {report.wall_seconds:.1f}s (pipeline settled in {report.settle_seconds:.1f}s)")
    lines.append("")
    lines.append("Look next")
    lines.append(f"  API docs        {handoff}/docs")
    lines.append(f"  leads           {handoff}/v1/leads?state=assigned")
    example = report.example_ids[0] if report.example_ids else "<lead_id>"
    lines.append(f"  one lead        {handoff}/v1/leads/{example}")
    lines.append(f"  its SLA clocks  {sla}/v1/leads/{example}/clocks")
    lines.append(f"  SLA clocks      {sla}/v1/clocks/summary")
    lines.append(f"  sales verdicts  {handoff}/v1/reports/acceptance?group_by=grade")
    lines.append(f"  conversion      {handoff}/v1/reports/conversion?group_by=fit_grade")
    lines.append(f"  CRM webhook     {handoff}/v1/crm-webhook/deliveries")
    lines.append(f"  definitions     {handoff}/v1/definitions")
    if report.problems:
        lines.append("")
        lines.append("PROBLEMS")
        lines.extend(f"  - {p}" for p in report.problems)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Replay Baton's sample funnel against running services.")
    parser.add_argument("--handoff-url", default=BaseUrls.handoff)
    parser.add_argument("--sla-url", default=BaseUrls.sla_monitor)
    parser.add_argument("--leads", type=int, default=300)
    parser.add_argument("--weeks", type=int, default=3)
    parser.add_argument("--accept-share", type=float, default=0.6, help="share of assigned leads reps accept")
    parser.add_argument("--reject-share", type=float, default=0.15, help="share of assigned leads reps reject")
    parser.add_argument("--settle-timeout", type=float, default=180.0, help="seconds to wait for the pipeline")
    args = parser.parse_args(argv)
    events = generate_sample(leads=args.leads, weeks=args.weeks)
    try:
        report = replay(
            BaseUrls(args.handoff_url, args.sla_url),
            events,
            accept_share=args.accept_share,
            reject_share=args.reject_share,
            settle_timeout=args.settle_timeout,
        )
    except DemoError as error:
        print(f"demo failed: {error}", file=sys.stderr)
        return 1
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
