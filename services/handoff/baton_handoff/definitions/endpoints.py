"""`GET /v1/definitions…`: the rulebook in force (and its rejection taxonomy, for CRM integrations),
and the text of any version a decision records."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from baton_handoff.definitions import service
from baton_handoff.definitions.schemas import DefinitionsRead, RejectionReasons, VersionRead, VersionSummary
from baton_handoff.dependencies import DefinitionsDep, ReadKey
from baton_handoff.leads.endpoints import AUTH
from baton_handoff.models import DefinitionsVersion
from baton_kit.http import DbSession, Problem

router = APIRouter(prefix="/v1/definitions", tags=["definitions"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "The handoff never ran with this version"}}


class UnknownVersion(Problem):
    status = 404
    title = "Unknown definitions version"
    type = "https://baton.dev/problems/unknown-definitions-version"


@router.get("", response_model=DefinitionsRead, summary="The definitions in force and their version", responses=AUTH)
async def current_definitions(definitions: DefinitionsDep, _principal: ReadKey) -> DefinitionsRead:
    return DefinitionsRead(
        version=definitions.version,
        definitions=definitions.definitions.model_dump(mode="json"),
        warnings=definitions.definitions.warnings(),
    )


@router.get(
    "/rejection-reasons",
    response_model=RejectionReasons,
    summary="The rejection taxonomy: the reason codes a reject takes",
    responses=AUTH,
)
async def rejection_reasons(definitions: DefinitionsDep, _principal: ReadKey) -> RejectionReasons:
    return RejectionReasons(
        version=definitions.version, rejection_reasons=definitions.definitions.crm.rejection_reasons
    )


def _summary(row: DefinitionsVersion, current: str) -> dict[str, Any]:
    return {
        "version": row.version,
        "first_loaded_at": row.first_loaded_at,
        "last_loaded_at": row.last_loaded_at,
        "current": row.version == current,
    }


@router.get(
    "/versions",
    response_model=list[VersionSummary],
    summary="Every definitions version the handoff has run with, newest first",
    responses=AUTH,
)
async def list_versions(session: DbSession, definitions: DefinitionsDep, _principal: ReadKey) -> list[VersionSummary]:
    return [VersionSummary.model_validate(_summary(r, definitions.version)) for r in await service.versions(session)]


@router.get(
    "/versions/{version}",
    response_model=VersionRead,
    summary="One version's file as it was loaded (the version a score, transition or route records)",
    responses={**AUTH, **NOT_FOUND},
)
async def get_version(
    version: Annotated[str, Path(max_length=100)], session: DbSession, definitions: DefinitionsDep, _principal: ReadKey
) -> VersionRead:
    row = await session.get(DefinitionsVersion, version)
    if row is None:
        raise UnknownVersion(f"the handoff never ran with definitions {version!r}")
    return VersionRead.model_validate({**_summary(row, definitions.version), "text": row.text})
