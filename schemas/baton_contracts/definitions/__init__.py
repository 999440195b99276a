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
from pydantic import Field, ValidationError, model_validator

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

    @model_validator(mode="after")
    def _fast_track_signals_are_reported(self) -> Definitions:
        """A fast-track signal scoring never reports (a typo) would silently turn the fast track off."""
        engagement = self.scoring.engagement
        reported = {rule.name for rule in engagement.rules if rule.high_intent}
        reported |= {"+".join(names) for names in engagement.high_intent_combinations}
        unknown = [signal for signal in self.qualification.fast_track.signals if signal not in reported]
        if unknown:
            raise ValueError(
                f"qualification.fast_track.signals: {', '.join(unknown)} is not a signal scoring reports "
                f"(engagement rules with high_intent, and high_intent_combinations joined by '+': "
                f"{', '.join(sorted(reported)) or 'none'})"
            )
        return self

    def warnings(self) -> list[str]:
        """What loads but is probably a mistake: routing to teams or reps these definitions do not
        declare. They may exist in the live roster (the API adds teams and reps), so this does not refuse."""
        routing = self.routing
        teams = {team.id for team in routing.teams} | {rep.team for rep in routing.reps}
        reps = {rep.id for rep in routing.reps}
        unless = "unless the live roster has it,"
        found = []
        if routing.default_team not in teams:
            found.append(
                f"routing.default_team: team {routing.default_team!r} is not declared: {unless} "
                f"leads no rule routes wait in {routing.fallback_queue}"
            )
        for index, rule in enumerate(routing.rules):
            if rule.team is not None and rule.team not in teams:
                found.append(
                    f"routing.rules.{index}.team: team {rule.team!r} is not declared: {unless} "
                    f"rule {rule.name}'s leads wait in {routing.fallback_queue}"
                )
            if rule.rep is not None and rule.rep not in reps:
                found.append(
                    f"routing.rules.{index}.rep: rep {rule.rep!r} is not declared: {unless} "
                    f"rule {rule.name}'s leads go to the default team"
                )
        return found


class LoadedDefinitions(Strict):
    """Definitions with the version every decision is stamped with."""

    version: str
    definitions: Definitions
    text: str = Field(default="", repr=False, description="The file as loaded, comments and all: what was signed.")


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
    return LoadedDefinitions(
        version=definitions_version(raw), definitions=definitions, text=raw.decode("utf-8", errors="replace")
    )


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
