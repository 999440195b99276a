"""The scoring section of the definitions."""

from __future__ import annotations

from pydantic import Field

from baton_contracts.definitions.base import Strict


class ScoringDefinitions(Strict):
    activity_points: dict[str, float] = Field(
        description="Points per engagement activity; an activity not listed scores 0."
    )
