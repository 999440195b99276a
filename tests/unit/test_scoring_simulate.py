"""`simulate`: the same stored events under the current and a candidate rulebook; who gains or loses eligibility."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import yaml

from baton_contracts.definitions import EXAMPLE_PATH, load_definitions, parse_definitions
from baton_scoring.rules import Activity
from baton_scoring.simulate import StoredLead, compare

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
