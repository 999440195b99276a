from __future__ import annotations

from baton_contracts.definitions import ScoringDefinitions
from baton_scoring.rules import score_activities

POINTS = ScoringDefinitions(activity_points={"page_view": 1, "demo_request": 45, "unsubscribe": -15})


def test_score_is_points_times_count_per_activity_with_one_line_each() -> None:
    score, lines = score_activities({"page_view": 3, "demo_request": 1}, POINTS)
    assert score == 48
    assert {(c.rule, c.count, c.points) for c in lines} == {("activity:page_view", 3, 3), ("activity:demo_request", 1, 45)}


def test_negative_activities_subtract() -> None:
    score, _ = score_activities({"page_view": 5, "unsubscribe": 1}, POINTS)
    assert score == -10


def test_unknown_activity_scores_zero_but_is_explained() -> None:
    score, lines = score_activities({"podcast_listen": 4}, POINTS)
    assert score == 0
    assert [(c.rule, c.count, c.points) for c in lines] == [("activity:podcast_listen", 4, 0)]
