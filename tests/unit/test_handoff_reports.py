"""Report rules: sales acceptance and conversion, grouped by what a lead looked like when it qualified;
verdicts, and calibration of the ranked groupings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from baton_handoff.reports.rules import (
    MIN_COHORT,
    MIN_DECIDED,
    CalibrationVerdict,
    Converted,
    Decided,
    GroupBy,
    Qualified,
    Step,
    Verdict,
    acceptance,
    calibration,
    conversion,
    converted,
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


# --- conversion ---

FUNNEL = ("assigned", "sal", "sql", "opportunity")


def followed(fit_grade: str, band: int, *states: str, rep: str = "r1", amount: float | None = None) -> Converted:
    steps = [Step(state, rep if state == "assigned" else None, amount if state == "won" else None) for state in states]
    return converted(mql(fit_grade, band), "smb", steps)


def test_an_mql_is_followed_up_to_the_leads_next_mql_and_held_by_the_last_rep() -> None:
    steps = [
        Step("assigned", "ana"),
        Step("assigned", "ben"),  # reassigned
        Step("rejected", "ben"),
        Step("recycled"),
        Step("mql"),  # qualified again: what follows answers the new MQL
        Step("assigned", "cleo"),
        Step("sal", "cleo"),
    ]
    first = converted(mql("B", 2), "smb", steps)
    assert first.reached == {"assigned", "rejected", "recycled"}
    assert first.rep_id == "ben"
    again = converted(mql("A", 3), "smb", steps[5:])
    assert again.reached == {"assigned", "sal"} and again.rep_id == "cleo"


def test_conversion_counts_every_lead_that_passed_a_stage_with_rates_win_rate_and_amount() -> None:
    cohort = [
        followed("A", 3, *FUNNEL, "won", amount=40_000),
        followed("A", 3, *FUNNEL, "won", amount=12_500.5),
        followed("A", 2, *FUNNEL, "lost"),
        followed("A", 2, *FUNNEL),  # an open opportunity
        followed("A", 2, "assigned", "sal"),
        followed("A", 2, "assigned", "rejected", "recycled"),
        followed("B", 2, "assigned", "sal", "sql"),
        followed("B", 2, "assigned", "rejected", "disqualified"),
    ]
    rows = {row.group: row for row in conversion(cohort, by=GroupBy.FIT_GRADE)}
    a = rows["A"]
    assert (a.mqls, a.sal, a.sql, a.opportunity, a.won, a.lost, a.rejected) == (6, 5, 4, 4, 2, 1, 1)
    assert (a.sal_rate, a.opportunity_rate) == (pytest.approx(5 / 6), pytest.approx(4 / 6))
    assert a.win_rate == pytest.approx(2 / 3)
    assert a.won_amount == 52_500.5
    assert a.lift == pytest.approx((4 / 6) / (4 / 8))  # against the whole cohort's 4 opportunities in 8
    b = rows["B"]
    assert (b.mqls, b.sql, b.opportunity, b.disqualified, b.win_rate, b.lift) == (2, 1, 0, 1, None, 0)
    assert [row.group for row in conversion(cohort, by=GroupBy.ENGAGEMENT_BAND)] == ["2", "3"]


def cohort_of(grade: str, mqls: int, opportunities: int) -> list[Converted]:
    return [followed(grade, 3, *FUNNEL) for _ in range(opportunities)] + [
        followed(grade, 3, "assigned", "sal") for _ in range(mqls - opportunities)
    ]


def test_calibration_reports_a_lower_grade_that_converts_better_beyond_chance() -> None:
    cohort = cohort_of("A", 40, 6) + cohort_of("B", 40, 18) + cohort_of("C", 40, 2)
    result = calibration(conversion(cohort, by=GroupBy.FIT_GRADE), by=GroupBy.FIT_GRADE)
    assert result is not None
    assert result.verdict == CalibrationVerdict.INVERTED
    assert result.compared == ["A", "B", "C"]
    [inversion] = result.inversions
    assert (inversion.better, inversion.worse) == ("A", "B")
    assert (inversion.better_rate, inversion.worse_rate) == (0.15, 0.45)
    assert inversion.p_value < 0.01


def test_calibration_does_not_call_a_gap_chance_explains_an_inversion() -> None:
    cohort = cohort_of("A", 40, 8) + cohort_of("B", 40, 10)  # 20% against 25%: p is about 0.3
    result = calibration(conversion(cohort, by=GroupBy.FIT_GRADE), by=GroupBy.FIT_GRADE)
    assert result is not None
    assert (result.verdict, result.inversions) == (CalibrationVerdict.CALIBRATED, [])


def test_calibration_compares_only_groups_with_enough_mqls_and_only_ranked_groupings() -> None:
    small = cohort_of("A", MIN_COHORT - 1, 0) + cohort_of("B", MIN_COHORT, 20)
    result = calibration(conversion(small, by=GroupBy.FIT_GRADE), by=GroupBy.FIT_GRADE)
    assert result is not None and (result.compared, result.verdict) == (["B"], CalibrationVerdict.TOO_FEW)
    no_pipeline = cohort_of("A", MIN_COHORT, 0) + cohort_of("B", MIN_COHORT, 0)
    result = calibration(conversion(no_pipeline, by=GroupBy.FIT_GRADE), by=GroupBy.FIT_GRADE)
    assert result is not None and result.verdict == CalibrationVerdict.TOO_FEW
    assert calibration(conversion(small, by=GroupBy.SEGMENT), by=GroupBy.SEGMENT) is None
