"""Attainment reports: pure functions over clocks (no I/O)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from baton_sla_monitor.rules import ClockState, SlaClock, consumed_seconds, elapsed_seconds


class GroupBy(StrEnum):
    REP = "rep"
    TEAM = "team"
    SOURCE = "source"
    POLICY = "policy"


@dataclass(frozen=True)
class AttainmentRow:
    group: str
    clocks: int
    on_time: int
    late: int
    attainment: float | None
    p50_business_seconds: float | None
    p90_business_seconds: float | None
    p50_wall_seconds: float | None
    p90_wall_seconds: float | None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def attainment(clocks: Iterable[SlaClock], *, group_by: GroupBy, now: datetime) -> list[AttainmentRow]:
    """Per group: clocks met on time / (met + breached), with p50/p90 business and wall time to handle.

    A clock still open but breached counts as late (its times run to `now`); a met clock's times run
    to when it was met. Cancelled clocks are left out: the lead left the stage the SLA watched.
    """
    groups: dict[str, list[SlaClock]] = {}
    for clock in clocks:
        if clock.state not in (ClockState.MET, ClockState.BREACHED):
            continue
        key = {
            GroupBy.REP: clock.rep_id,
            GroupBy.TEAM: clock.team_id,
            GroupBy.SOURCE: clock.source,
            GroupBy.POLICY: clock.policy,
        }[group_by] or "(none)"
        groups.setdefault(key, []).append(clock)
    rows = []
    for key in sorted(groups):
        members = groups[key]
        late = sum(1 for c in members if c.state == ClockState.BREACHED or c.met_late)
        business = [consumed_seconds(c, at=c.stopped_at or now) for c in members]
        wall = [elapsed_seconds(c, at=c.stopped_at or now) for c in members]
        rows.append(
            AttainmentRow(
                group=key,
                clocks=len(members),
                on_time=len(members) - late,
                late=late,
                attainment=(len(members) - late) / len(members),
                p50_business_seconds=percentile(business, 50),
                p90_business_seconds=percentile(business, 90),
                p50_wall_seconds=percentile(wall, 50),
                p90_wall_seconds=percentile(wall, 90),
            )
        )
    return rows
