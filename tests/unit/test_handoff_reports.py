"""Sales acceptance report rules: grouping by what a lead looked like when it qualified, verdicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from baton_handoff.reports.rules import (
    MIN_DECIDED,
    Decided,
    GroupBy,
    Qualified,
    Verdict,
    acceptance,
    qualified_before,
    verdict,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def mql(fit_grade: str, band: int, *, rule: str = "matrix", version: str = "sha256:v1", at: datetime = T0) -> Qualified:
    return Qualified(
        at=at, details={"rule": rule, "fit_grade": fit_grade, "engagement_band": band}, definitions_version=version
    )


def decided(
    qualified: Qualified | None, *, reason: str | None = None, rep: str = "r1", segment: str = "smb"
) -> Decided:
    return Decided(accepted=reason is None, rejection_reason=reason, rep_id=rep, segment=segment, qualified=qualified)


def test_rows_count_decisions_per_fit_grade_with_rejection_reasons_most_frequent_first() -> None:
    decisions = [
        decided(mql("A", 3)),
        decided(mql("A", 2)),
        decided(mql("A", 3), reason="bad_timing"),
        decided(mql("B", 2), reason="no_fit"),
        decided(mql("B", 4), reason="bad_timing"),
        decided(mql("B", 2), reason="no_fit"),
    ]
    rows = {row.group: row for row in acceptance(decisions, by=GroupBy.FIT_GRADE)}
    assert list(rows) == ["A", "B"]
    assert (rows["A"].decided, rows["A"].accepted, rows["A"].rejected) == (3, 2, 1)
    assert rows["A"].acceptance_rate == pytest.approx(2 / 3)
    assert rows["B"].rejection_reasons == {"no_fit": 2, "bad_timing": 1}
    assert list(rows["B"].rejection_reasons) == ["no_fit", "bad_timing"]
    assert {row.group for row in acceptance(decisions, by=GroupBy.GRADE)} == {"A3", "A2", "B2", "B4"}


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        (GroupBy.RULE, {"fast_track": 1, "matrix": 1}),
        (GroupBy.SEGMENT, {"enterprise": 1, "smb": 1}),
        (GroupBy.DEFINITIONS_VERSION, {"sha256:v1": 1, "sha256:v2": 1}),
        (GroupBy.REP, {"r1": 1, "r2": 1}),
    ],
)
def test_each_grouping_reads_its_own_attribute(by: GroupBy, expected: dict[str, int]) -> None:
    decisions = [
        decided(mql("A", 3, rule="matrix", version="sha256:v1"), rep="r1", segment="smb"),
        decided(mql("A", 1, rule="fast_track", version="sha256:v2"), rep="r2", segment="enterprise"),
    ]
    assert {row.group: row.decided for row in acceptance(decisions, by=by)} == expected


def test_a_lead_without_the_grouped_attribute_falls_in_none() -> None:
    rows = acceptance([decided(None), decided(mql("A", 3))], by=GroupBy.FIT_GRADE)
    assert [(row.group, row.decided) for row in rows] == [("(none)", 1), ("A", 1)]


def test_a_decision_answers_the_latest_mql_at_or_before_it() -> None:
    first = mql("B", 2, version="sha256:v1", at=T0)
    again = mql("A", 3, version="sha256:v2", at=T0 + timedelta(days=40))  # recycled, qualified again
    assert qualified_before([again, first], T0 + timedelta(days=1)) == first
    assert qualified_before([first, again], T0 + timedelta(days=41)) == again
    assert qualified_before([again], T0) is None


@pytest.mark.parametrize(
    ("accepted", "decided_count", "expected"),
    [
        (MIN_DECIDED - 1, MIN_DECIDED - 1, Verdict.TOO_FEW),
        (24, 30, Verdict.HEALTHY),  # 80%
        (23, 30, Verdict.WATCH),  # 76.7%
        (21, 30, Verdict.WATCH),  # 70%
        (20, 30, Verdict.MISALIGNED),  # 66.7%
    ],
)
def test_verdict_follows_the_acceptance_norms_once_enough_leads_were_decided(
    accepted: int, decided_count: int, expected: Verdict
) -> None:
    assert verdict(accepted, decided_count) == expected
