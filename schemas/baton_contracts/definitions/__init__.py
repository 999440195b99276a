"""The shared definitions: the versioned rulebook marketing and sales both sign.

One YAML document, validated strictly (`extra="forbid"`: a misspelt key refuses to load and is
named with its path), versioned by the hash of its content. Every decision records that version.

Each section's models live in their own module (scoring, qualification, routing, sla).
This is the foundation's thin rulebook (points per activity, one MQL threshold, a rep list, one
acceptance SLA); the scoring, handoff and SLA issues grow each section.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml
from pydantic import ValidationError

from baton_contracts.definitions.base import Strict
from baton_contracts.definitions.crm import CrmDefinitions
from baton_contracts.definitions.qualification import QualificationDefinitions
from baton_contracts.definitions.routing import Rep, RoutingDefinitions
from baton_contracts.definitions.scoring import ScoringDefinitions
from baton_contracts.definitions.sla import SlaDefinitions, SlaPolicy

EXAMPLE_PATH = Path(__file__).parent.parent / "examples" / "definitions.yaml"


class Definitions(Strict):
    scoring: ScoringDefinitions
    qualification: QualificationDefinitions
    routing: RoutingDefinitions
    sla: SlaDefinitions
    crm: CrmDefinitions = CrmDefinitions()


class LoadedDefinitions(Strict):
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


__all__ = [
    "EXAMPLE_PATH",
    "CrmDefinitions",
    "Definitions",
    "DefinitionsError",
    "LoadedDefinitions",
    "QualificationDefinitions",
    "Rep",
    "RoutingDefinitions",
    "ScoringDefinitions",
    "SlaDefinitions",
    "SlaPolicy",
    "definitions_version",
    "load_definitions",
    "parse_definitions",
]
