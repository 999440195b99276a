"""Pure scoring rules: functions of (data, definitions). No I/O, no clock."""

from __future__ import annotations

from collections.abc import Mapping

from baton_contracts.definitions import ScoringDefinitions
from baton_contracts.events import ScoreContribution


def score_activities(
    activity_counts: Mapping[str, int], definitions: ScoringDefinitions
) -> tuple[float, list[ScoreContribution]]:
    """Total points and one explanation line per activity; an activity not in the definitions scores 0."""
    contributions = [
        ScoreContribution(
            rule=f"activity:{activity}",
            count=count,
            points=count * definitions.activity_points.get(activity, 0.0),
        )
        for activity, count in sorted(activity_counts.items())
    ]
    return sum(c.points for c in contributions), contributions
