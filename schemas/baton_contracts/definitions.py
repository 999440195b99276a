"""The shared definitions: the versioned rulebook marketing and sales both sign.

One YAML document, validated strictly (`extra="forbid"`: a misspelt key refuses to load and is
named with its path), versioned by the hash of its content. Every decision records that version.

This is the foundation's thin rulebook (points per activity, one MQL threshold, a rep list, one
acceptance SLA); the scoring, handoff and SLA issues grow each section.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

EXAMPLE_PATH = Path(__file__).parent / "examples" / "definitions.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScoringDefinitions(_Strict):
    activity_points: dict[str, float] = Field(
        description="Points per engagement activity; an activity not listed scores 0."
    )


class QualificationDefinitions(_Strict):
    mql_threshold: float = Field(gt=0, description="A known lead whose score reaches this becomes an MQL.")


class Rep(_Strict):
    id: Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9._-]*$")]
    name: str
    email: str
    timezone: str = "UTC"


class RoutingDefinitions(_Strict):
    reps: list[Rep] = Field(min_length=1, description="Reps who receive MQLs, in round-robin order.")


class SlaPolicy(_Strict):
    name: str
    target_seconds: int = Field(gt=0)


class SlaDefinitions(_Strict):
    acceptance: SlaPolicy


class Definitions(_Strict):
    scoring: ScoringDefinitions
    qualification: QualificationDefinitions
    routing: RoutingDefinitions
    sla: SlaDefinitions


class LoadedDefinitions(_Strict):
    """Definitions with the version every decision is stamped with."""

    version: str
    definitions: Definitions


class DefinitionsError(ValueError):
    """The definitions file could not be loaded; the message names every bad key and its path."""


def load_definitions(path: Path | str) -> LoadedDefinitions:
    raw = Path(path).read_bytes()
    return parse_definitions(raw, origin=str(path))


def parse_definitions(raw: bytes, *, origin: str = "<definitions>") -> LoadedDefinitions:
    try:
        document = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise DefinitionsError(f"{origin}: not valid YAML: {exc}") from exc
    try:
        definitions = Definitions.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise DefinitionsError(f"{origin}: {problems}") from exc
    return LoadedDefinitions(version=definitions_version(raw), definitions=definitions)


def definitions_version(raw: bytes) -> str:
    """The content hash that names a definitions version (12 hex digits of SHA-256)."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:12]
