"""The routing section of the definitions."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from baton_contracts.definitions.base import Strict


class Rep(Strict):
    id: Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9._-]*$")]
    name: str
    email: str
    timezone: str = "UTC"


class RoutingDefinitions(Strict):
    reps: list[Rep] = Field(min_length=1, description="Reps who receive MQLs, in round-robin order.")
