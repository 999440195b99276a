"""Scoring rules with a frozen clock: decay arithmetic, caps, negatives, grades, bands, demand states,
and properties (order and duplicates never matter, decay is monotone, caps hold)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from baton_contracts.definitions import EXAMPLE_PATH, DefinitionsError, load_definitions, parse_definitions
from baton_contracts.definitions.scoring import ScoringDefinitions
from baton_kit.clock import FrozenClock
from baton_scoring.rules import (
    US_PER_DAY,
    Activity,
    _band_drop_at,
    account_key,
    classify,
    decay_factor,
    epoch_us,
    from_epoch_us,
    next_review_at,
    score_engagement,
    score_lead,
)

CLOCK = FrozenClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
NOW = CLOCK.now()
EXAMPLE = load_definitions(EXAMPLE_PATH).definitions.scoring

RULEBOOK = ScoringDefinitions.model_validate(
    {
        "free_mail_domains": ["gmail.com"],
        "fit": {
            "criteria": [
                {
                    "name": "size",
                    "options": [
                        {"field": "employees", "range": [200, 2000], "points": 40},
                        {"field": "employees", "range": [50, 199], "points": 20},
                    ],
                },
                {"name": "seniority", "options": [{"field": "title", "matches": r"\bvp\b|head", "points": 30}]},
                {"name": "stack", "options": [{"field": "technologies", "any_of": ["dbt"], "points": 30}]},
            ],
            "negative_indicators": [
                {"name": "free_mail", "field": "email_domain", "free_mail": True, "points": -25},
                {
                    "name": "competitor",
                    "field": "email_domain",
                    "any_of": ["rival.example"],
                    "points": -150,
                    "disqualify": True,
                },
                {"name": "no_title", "field": "title", "missing": True, "points": -5},
            ],
            "grades": {"A": 70, "B": 50, "C": 30},
        },
        "engagement": {
            "default_half_life_days": 30,
            "expire_after_days": 180,
            "total_cap": 100,
            "bands": [10, 30, 60],
            "high_intent_window_days": 14,
            "rules": [
                {
                    "name": "demo_request",
                    "activities": ["demo_request"],
                    "points": 50,
                    "half_life_days": 90,
                    "daily_cap": 1,
                    "high_intent": True,
                },
                {
                    "name": "pricing",
                    "activities": ["page_view"],
                    "where": {"url": "^/pricing"},
                    "points": 10,
                    "half_life_days": 14,
                    "daily_cap": 2,
                },
                {"name": "page_view", "activities": ["page_view"], "points": 1, "half_life_days": 7, "daily_cap": 5},
                {"name": "webinar", "activities": ["webinar_attended"], "points": 20},
                {"name": "unsubscribe", "activities": ["unsubscribe"], "points": -15, "half_life_days": 90},
            ],
        },
        "demand": {
            "window_days": 30,
            "rules": [
                {"state": "partner_aware", "rules": ["demo_request"]},
                {"state": "solution_aware", "rules": ["pricing", "webinar"]},
                {"state": "problem_aware", "rules": ["page_view"], "min_count": 3},
            ],
        },
    }
)
GOOD_PROFILE = {"email": "ana@acme.example", "employees": 400, "title": "VP Data", "technologies": ["Snowflake", "dbt"]}


def act(activity: str, ago: timedelta, n: int = 0, **properties: Any) -> Activity:
    return Activity(event_id=f"{activity}-{n}-{ago}", activity=activity, occurred_at=NOW - ago, properties=properties)


def lines(card: Any) -> dict[str, Any]:
    return {c.rule: c for c in card.contributions}


# --- fit ------------------------------------------------------------------------------------


def test_fit_adds_the_first_matching_option_of_each_criterion_and_never_decays() -> None:
    card = score_lead(GOOD_PROFILE, [], RULEBOOK, now=NOW)
    later = score_lead(GOOD_PROFILE, [], RULEBOOK, now=NOW + timedelta(days=365))
    assert (card.fit.score, card.fit.grade) == (100, "A")
    assert later.fit == card.fit
    assert {rule: line.points for rule, line in lines(card).items()} == {
        "fit:size": 40,
        "fit:seniority": 30,
        "fit:stack": 30,
    }


def test_fit_grade_follows_the_grade_minimums() -> None:
    grades = [
        score_lead({"employees": e, "title": t}, [], RULEBOOK, now=NOW).fit.grade
        for e, t in [(400, "Head of Data"), (400, "Engineer"), (100, "Engineer"), (5, "Engineer")]
    ]
    assert grades == ["A", "C", "D", "D"]  # 70, 40, 20, 0


def test_negative_indicators_subtract_and_a_disqualifier_is_named() -> None:
    free_mail = score_lead({**GOOD_PROFILE, "email": "ana@gmail.com"}, [], RULEBOOK, now=NOW)
    rival = score_lead({**GOOD_PROFILE, "email": "spy@rival.example"}, [], RULEBOOK, now=NOW)
    assert free_mail.fit.score == 75
    assert free_mail.fit.disqualifiers == []
    assert lines(free_mail)["negative:free_mail"].points == -25
    assert rival.fit.score == 0
    assert rival.fit.disqualifiers == ["competitor"]
    assert lines(rival)["fit:floor"].caps_applied == ["floor_zero"]  # fit never goes below 0


def test_a_missing_field_matches_only_a_missing_condition() -> None:
    card = score_lead({"employees": 400}, [], RULEBOOK, now=NOW)
    assert lines(card)["negative:no_title"].points == -5
    assert lines(card)["fit:seniority"].count == 0


# --- engagement -----------------------------------------------------------------------------


def test_points_halve_every_half_life() -> None:
    card = score_lead(
        {}, [act("webinar_attended", timedelta(days=30)), act("demo_request", timedelta(days=90))], RULEBOOK, now=NOW
    )
    assert lines(card)["engagement:webinar"].points == 10.0
    assert lines(card)["engagement:demo_request"].points == 25.0
    assert lines(card)["engagement:demo_request"].decay_factor == 0.5
    assert card.engagement.score == 35.0


def test_events_older_than_the_expiry_score_nothing() -> None:
    assert decay_factor(age=timedelta(days=181), half_life_days=30, expire_after_days=180) == 0
    assert decay_factor(age=timedelta(days=-1), half_life_days=30, expire_after_days=180) == 1


def test_property_filter_routes_a_pricing_page_view_to_its_own_rule() -> None:
    card = score_lead(
        {},
        [act("page_view", timedelta(0), 1, url="/pricing/teams"), act("page_view", timedelta(0), 2, url="/blog")],
        RULEBOOK,
        now=NOW,
    )
    assert (lines(card)["engagement:pricing"].points, lines(card)["engagement:page_view"].points) == (10, 1)


def test_daily_cap_counts_only_the_first_events_of_each_utc_day() -> None:
    views = [act("page_view", timedelta(hours=h), h) for h in range(1, 9)]  # 8 views today (day 2026-11-23)
    card = score_lead({}, views, RULEBOOK, now=NOW)
    line = lines(card)["engagement:page_view"]
    assert (line.count, line.raw_points, line.caps_applied) == (8, 5, ["daily_cap:page_view"])


def test_total_cap_is_applied_and_explained() -> None:
    events = [act("demo_request", timedelta(days=d), d) for d in range(3)] + [act("webinar_attended", timedelta(0))]
    card = score_lead({}, events, RULEBOOK, now=NOW)
    assert card.engagement.score == 100
    assert lines(card)["engagement:total_cap"].caps_applied == ["total_cap"]
    assert sum(c.points for c in card.engagement.contributions) == pytest.approx(100, abs=0.01)


def test_negative_activities_subtract_but_engagement_never_goes_below_zero() -> None:
    card = score_lead({}, [act("unsubscribe", timedelta(0)), act("page_view", timedelta(0))], RULEBOOK, now=NOW)
    assert card.engagement.score == 0
    assert lines(card)["engagement:unsubscribe"].points == -15


def test_unknown_activity_is_explained_with_zero_points() -> None:
    card = score_lead(
        {}, [act("podcast_listen", timedelta(0), 1), act("podcast_listen", timedelta(0), 2)], RULEBOOK, now=NOW
    )
    assert (lines(card)["activity:podcast_listen"].count, card.engagement.score) == (2, 0)


@pytest.mark.parametrize(("points", "band"), [(0, 1), (9.99, 1), (10, 2), (29, 2), (30, 3), (59, 3), (60, 4)])
def test_engagement_bands(points: float, band: int) -> None:
    from baton_scoring.rules import engagement_band

    assert engagement_band(points, RULEBOOK.engagement) == band


def test_grade_combines_fit_grade_and_engagement_band() -> None:
    card = score_lead(GOOD_PROFILE, [act("webinar_attended", timedelta(0))], RULEBOOK, now=NOW)
    assert (card.grade, card.score) == ("A2", 120)


# --- demand state and high intent -------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "state"),
    [
        ([], "unaware"),
        ([act("page_view", timedelta(days=1), n) for n in range(2)], "unaware"),
        ([act("page_view", timedelta(days=1), n) for n in range(3)], "problem_aware"),
        ([act("page_view", timedelta(days=1), 1, url="/pricing")], "solution_aware"),
        ([act("webinar_attended", timedelta(days=31))], "unaware"),  # outside the 30-day window
        ([act("demo_request", timedelta(days=2)), act("webinar_attended", timedelta(0))], "partner_aware"),
    ],
)
def test_demand_state_from_recent_engagement(events: list[Activity], state: str) -> None:
    assert score_lead({}, events, RULEBOOK, now=NOW).engagement.demand_state == state


def test_high_intent_only_within_its_window() -> None:
    recent = score_lead({}, [act("demo_request", timedelta(days=13))], RULEBOOK, now=NOW)
    old = score_lead({}, [act("demo_request", timedelta(days=15))], RULEBOOK, now=NOW)
    assert (recent.engagement.high_intent, old.engagement.high_intent) == (["demo_request"], [])


def test_next_review_is_when_the_band_drops() -> None:
    events = [act("webinar_attended", timedelta(0)), act("page_view", timedelta(0), url="/pricing")]
    review = next_review_at(classify(events, RULEBOOK.engagement), RULEBOOK, now=NOW)
    assert review is not None
    before = score_lead({}, events, RULEBOOK, now=review - timedelta(minutes=2))
    after = score_lead({}, events, RULEBOOK, now=review)
    assert (before.engagement.band, after.engagement.band) == (3, 2)  # 30 -> just below 30


def test_next_review_is_when_the_lead_stops_being_an_engaged_stakeholder_before_its_band_drops() -> None:
    """The account's engaged stakeholders are counted from stored scores: a lead that falls under the
    account's threshold (here 20, inside band 2: 10 to 30) is looked at again then, not at its band's drop."""
    rulebook = RULEBOOK.model_copy(update={"account": RULEBOOK.account.model_copy(update={"engaged_min_score": 20})})
    events = [act("webinar_attended", timedelta(0)), act("page_view", timedelta(0))]  # 21 points, band 2
    review = next_review_at(classify(events, rulebook.engagement), rulebook, now=NOW)
    band_drop = next_review_at(classify(events, RULEBOOK.engagement), RULEBOOK, now=NOW)
    assert review is not None and band_drop is not None
    before = score_lead({}, events, rulebook, now=review - timedelta(minutes=2)).engagement
    after = score_lead({}, events, rulebook, now=review).engagement
    assert before.score >= 20 > after.score
    assert before.band == after.band == 2  # the band has not moved: only the stakeholder count would
    assert review < band_drop


def test_next_review_is_when_high_intent_leaves_its_window() -> None:
    classified = classify([act("demo_request", timedelta(days=1))], RULEBOOK.engagement)
    assert next_review_at(classified, RULEBOOK, now=NOW) == NOW + timedelta(days=13)


def test_nothing_to_review_for_a_lead_with_no_engagement() -> None:
    assert next_review_at(classify([], RULEBOOK.engagement), RULEBOOK, now=NOW) is None


# --- identity -------------------------------------------------------------------------------


def test_account_key_is_the_email_domain_except_free_mail() -> None:
    assert account_key(" Ana@Acme.Example ", free_mail_domains=["gmail.com"]) == "acme.example"
    assert account_key("ana@gmail.com", free_mail_domains=["gmail.com"]) is None
    assert account_key(None, free_mail_domains=[]) is None


# --- the shipped example ----------------------------------------------------------------------


def test_the_example_rulebook_covers_what_the_issue_asks_of_an_icp_and_of_engagement() -> None:
    """The shipped example is the template RevOps starts from: it must show every kind of rule."""
    fit, engagement = EXAMPLE.fit, EXAMPLE.engagement
    assert 5 <= len(fit.criteria) <= 7
    fields = {option.field for criterion in fit.criteria for option in criterion.options}
    assert {"employees", "industry", "country", "title", "technologies"} <= fields
    negatives = {indicator.name for indicator in fit.negative_indicators}
    assert {"free_mail_domain", "student", "competitor_domain", "job_seeker", "bad_data"} <= negatives
    assert any(indicator.disqualify for indicator in fit.negative_indicators)
    activities = {activity for rule in engagement.rules for activity in rule.activities}
    assert {
        "page_view",
        "content_download",
        "webinar_attended",
        "email_click",
        "form_submit",
        "demo_request",
        "contact_sales",
        "free_trial_signup",
        "unsubscribe",
        "email_bounce",
    } <= activities
    assert any(rule.where for rule in engagement.rules)  # a property filter (the pricing page)
    assert {rule.points < 0 for rule in engagement.rules} == {True, False}
    assert len({rule.half_life_days for rule in engagement.rules}) > 2  # decay per type, not one rate
    assert any(rule.daily_cap for rule in engagement.rules) and engagement.total_cap
    assert len(engagement.bands) == 3  # bands 1 to 4
    assert {rule.state for rule in EXAMPLE.demand.rules} == {"problem_aware", "solution_aware", "partner_aware"}


def test_example_icp_grades_a_data_leader_at_a_mid_market_software_company_a() -> None:
    profile = {
        "email": "priya@lumenstack.io",
        "employees": 420,
        "industry": "Computer Software",
        "country": "US",
        "title": "VP of Data",
        "technologies": ["dbt"],
    }
    assert score_lead(profile, [], EXAMPLE, now=NOW).fit.grade == "A"


@pytest.mark.parametrize(
    ("profile", "disqualifier"),
    [
        ({"email": "max@observa.io", "title": "Product Marketing Manager"}, "competitor_domain"),
        ({"email": "li@westbrook.edu", "title": "Graduate Student"}, "student"),
        ({"email": "test123@acme.example"}, "bad_data"),
    ],
)
def test_example_disqualifies_competitors_students_and_bad_data(profile: dict[str, Any], disqualifier: str) -> None:
    assert disqualifier in score_lead(profile, [], EXAMPLE, now=NOW).fit.disqualifiers


def test_misspelt_key_refuses_to_load_naming_the_key_and_its_path() -> None:
    document = yaml.safe_load(EXAMPLE_PATH.read_text())
    document["scoring"]["engagement"]["rules"][0]["half_live_days"] = 3
    with pytest.raises(DefinitionsError, match=r"scoring\.engagement\.rules\.0\.half_live_days"):
        parse_definitions(yaml.safe_dump(document).encode())


def test_demand_rule_naming_an_unknown_engagement_rule_refuses_to_load() -> None:
    document = yaml.safe_load(EXAMPLE_PATH.read_text())
    document["scoring"]["demand"]["rules"][0]["rules"] = ["demo_requets"]
    with pytest.raises(DefinitionsError, match="demo_requets"):
        parse_definitions(yaml.safe_dump(document).encode())


# --- properties -----------------------------------------------------------------------------

ACTIVITIES = st.sampled_from(["demo_request", "page_view", "webinar_attended", "unsubscribe", "podcast"])
EVENTS = st.lists(
    st.builds(
        lambda activity, minutes, url, n: Activity(f"e{n}", activity, NOW - timedelta(minutes=minutes), {"url": url}),
        ACTIVITIES,
        st.integers(min_value=-60, max_value=200 * 24 * 60),
        st.sampled_from(["/pricing", "/blog", "/"]),
        st.integers(min_value=0, max_value=10_000),
    ),
    max_size=40,
    unique_by=lambda a: a.event_id,
)


@settings(max_examples=150, deadline=None)
@given(events=EVENTS, seed=st.randoms(use_true_random=False), repeats=st.integers(min_value=0, max_value=5))
def test_score_depends_on_neither_order_nor_duplicates(events: list[Activity], seed: Any, repeats: int) -> None:
    shuffled = [*events, *events[:repeats]]
    seed.shuffle(shuffled)
    assert score_lead(GOOD_PROFILE, shuffled, RULEBOOK, now=NOW) == score_lead(GOOD_PROFILE, events, RULEBOOK, now=NOW)


@settings(max_examples=150, deadline=None)
@given(events=EVENTS, later=st.integers(min_value=1, max_value=400 * 24 * 60))
def test_decay_never_raises_the_value_of_a_contribution(events: list[Activity], later: int) -> None:
    def magnitudes(at: datetime) -> dict[str, float]:
        card = score_lead({}, events, RULEBOOK, now=at)
        return {
            c.rule: abs(c.points)
            for c in card.engagement.contributions
            if c.rule.startswith("engagement:") and c.rule not in ("engagement:total_cap", "engagement:floor")
        }

    now, then = magnitudes(NOW), magnitudes(NOW + timedelta(minutes=later))
    assert all(then.get(rule, 0.0) <= now[rule] + 0.01 for rule in now)  # an expired rule is no longer listed


@settings(max_examples=150, deadline=None)
@given(events=EVENTS)
def test_caps_hold(events: list[Activity]) -> None:
    card = score_lead({}, events, RULEBOOK, now=NOW)
    assert 0 <= card.engagement.score <= RULEBOOK.engagement.total_cap
    per_day: dict[tuple[str, object], int] = {}
    for rule, times in classify(events, RULEBOOK.engagement).matched.items():
        for at in times:  # epoch microseconds
            per_day[(rule, at // US_PER_DAY)] = per_day.get((rule, at // US_PER_DAY), 0) + 1
    for line in card.engagement.contributions:
        name = line.rule.removeprefix("engagement:")
        rule = next((r for r in RULEBOOK.engagement.rules if r.name == name), None)
        if rule is not None and rule.daily_cap is not None and line.raw_points is not None:
            days = {day for (r, day) in per_day if r == name}
            assert abs(line.raw_points) <= abs(rule.points) * rule.daily_cap * len(days)


@settings(max_examples=100, deadline=None)
@given(events=EVENTS)
def test_reviews_find_the_band_drop_to_the_minute(events: list[Activity]) -> None:
    """Following the review times (each review sets the next) lands on the band's drop within a
    minute of what a plain bisection on the public score finds, for any events whose score only
    falls with time (no negative points), in a handful of reviews."""
    events = [e for e in events if e.activity != "unsubscribe"]
    classified = classify(events, RULEBOOK.engagement)
    band = score_lead({}, events, RULEBOOK, now=NOW).engagement.band

    def band_at(moment: datetime) -> int:
        return score_lead({}, events, RULEBOOK, now=moment).engagement.band

    moment, reviews = NOW, 0
    while True:
        engagement = score_engagement(classified, RULEBOOK.engagement, now=moment)
        drop = _band_drop_at(engagement, RULEBOOK.engagement, epoch_us(moment))
        if drop is None:
            break
        reviews += 1
        moment = from_epoch_us(math.ceil(drop))
        if band_at(moment) < band:
            break
    assert reviews <= len(events) + 1  # at most one per expiry or event dated after now, and the drop

    low, high = NOW, NOW + timedelta(days=RULEBOOK.engagement.expire_after_days + 1)
    if band == 1 or band_at(high) >= band:
        assert drop is None
        return
    while high - low > timedelta(minutes=1):
        middle = low + (high - low) / 2
        low, high = (low, middle) if band_at(middle) < band else (middle, high)
    assert drop is not None
    assert abs(moment - high) <= timedelta(minutes=1)
    assert band_at(moment) < band
