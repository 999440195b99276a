"""The qualification section of the definitions."""

from __future__ import annotations

from pydantic import Field

from baton_contracts.definitions.base import Strict


class QualificationDefinitions(Strict):
    mql_threshold: float = Field(gt=0, description="A known lead whose score reaches this becomes an MQL.")
