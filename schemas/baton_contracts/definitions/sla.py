"""The sla section of the definitions."""

from __future__ import annotations

from pydantic import Field

from baton_contracts.definitions.base import Strict


class SlaPolicy(Strict):
    name: str
    target_seconds: int = Field(gt=0)


class SlaDefinitions(Strict):
    acceptance: SlaPolicy
