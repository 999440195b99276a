"""`simulate`: the same stored events under the current and a candidate rulebook; who gains or loses eligibility."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from baton_contracts.definitions import EXAMPLE_PATH, load_definitions, parse_definitions
from baton_scoring.rules import Activity
from baton_scoring.simulate import StoredLead, candidate_scores, compare

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CURRENT = load_definitions(EXAMPLE_PATH)


def candidate(**engagement: object) -> object:
    document = yaml.safe_load(EXAMPLE_PATH.read_text())
    document["scoring"]["engagement"].update(engagement)
    return parse_definitions(yaml.safe_dump(document).encode())


def lead(*activities: tuple[str, timedelta], **profile: object) -> StoredLead:
    return StoredLead(
        profile=dict(profile),
        activities=[Activity(f"{a}-{i}", a, NOW - ago) for i, (a, ago) in enumerate(activities)],
    )


LEADS = {
    "hot": lead(
        ("demo_request", timedelta(days=1)),
        email="vp@lumenstack.io",
        title="VP of Data",
        employees=420,
        industry="Computer Software",
        country="US",
    ),
    "webinar-fan": lead(
        ("webinar_attended", timedelta(days=2)),
        ("content_download", timedelta(days=2)),
        ("pricing_page_view", timedelta(days=1)),
        email="lead@quarrylabs.com",
        title="Data Engineering Manager",
        employees=180,
        industry="Computer Software",
        country="US",
    ),
    "competitor": lead(("demo_request", timedelta(days=1)), email="pm@observa.io", title="Product Manager"),
}


def test_the_same_rulebook_changes_nothing() -> None:
    report = compare(LEADS, current=CURRENT, candidate=CURRENT, at=NOW)
    assert report.gained == []
    assert report.lost == []
    assert report.grade_changes == 0
    assert report.eligible_current == report.eligible_candidate
    assert "competitor" not in {c.lead_id for c in report.gained}


def test_a_smaller_engagement_cap_loses_the_leads_that_needed_the_points() -> None:
    stricter = candidate(total_cap=9)  # below band 2 for everyone
    report = compare(LEADS, current=CURRENT, candidate=stricter, at=NOW)  # type: ignore[arg-type]
    assert [c.lead_id for c in report.lost] == ["webinar-fan"]
    assert sum(report.eligible_current.values()) == 2
    assert sum(report.eligible_candidate.values()) == 1  # the demo request still fast-tracks a grade-A lead
    assert report.as_dict()["mql_eligible"]["candidate"] == 1


def test_candidate_scores_are_the_lead_scored_each_lead_would_get_with_its_accounts_view() -> None:
    cheaper = candidate(total_cap=9)
    leads = {
        **LEADS,
        "colleague": lead(("webinar_attended", timedelta(days=1)), email="cto@quarrylabs.com", title="CTO"),
    }
    scores = {score.lead_id: score for score in candidate_scores(leads, cheaper, at=NOW)}  # type: ignore[arg-type]
    report = compare(leads, current=CURRENT, candidate=cheaper, at=NOW)  # type: ignore[arg-type]

    assert set(scores) == set(leads)
    fan = scores["webinar-fan"]
    assert fan.engagement_score == 9  # the candidate's cap
    assert (fan.definitions_version, fan.scored_at) == (cheaper.version, NOW)  # type: ignore[attr-defined]
    assert sum(line.points for line in fan.contributions) == pytest.approx(fan.score, abs=0.05)
    assert fan.profile is not None and fan.profile.title == "Data Engineering Manager"
    # Quarry Labs' two people, as the candidate scores them (9 each, under the example's engaged 10)
    assert fan.account is not None
    assert (fan.account.account_key, fan.account.engaged_stakeholders, fan.account.engagement_score) == (
        "quarrylabs.com",
        0,
        18,
    )
    for change in report.lost:  # the same scores `compare` judged
        assert scores[change.lead_id].grade == change.candidate_grade
