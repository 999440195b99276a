"""FastAPI dependencies: the process's runtime, definitions and the caller's API key, as typed aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyHeader, HTTPBearer

from baton_contracts.definitions import LoadedDefinitions
from baton_handoff.auth import Principal, Scope, authenticate, read_presented_key, require_scope
from baton_kit.http import DbSession
from baton_kit.runtime import Runtime

# Declared for OpenAPI (security schemes); the checks below read the headers themselves.
_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer bk_…`")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: bk_…`")


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _definitions(request: Request) -> LoadedDefinitions:
    definitions: LoadedDefinitions = request.app.state.definitions
    return definitions


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
DefinitionsDep = Annotated[LoadedDefinitions, Depends(_definitions)]


async def _principal(
    request: Request,
    session: DbSession,
    _b: Annotated[object, Depends(_bearer)] = None,
    _k: Annotated[object, Depends(_api_key)] = None,
) -> Principal:
    """The caller, read in the request's own unit of work (a GET's snapshot, or a write's transaction)."""
    presented = read_presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
    return await authenticate(session, presented, now=request.app.state.runtime.clock.now())


def scoped(scope: Scope) -> object:
    async def check(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        return require_scope(principal, scope)

    return Depends(check)


ReadKey = Annotated[Principal, scoped(Scope.READ)]
CrmKey = Annotated[Principal, scoped(Scope.CRM)]
AdminKey = Annotated[Principal, scoped(Scope.ADMIN)]
IngestKey = Annotated[Principal, scoped(Scope.INGEST)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Makes the write safe to retry: a replay with the same key and body returns the first response "
        "and has no second effect (a different body with the same key is refused, 422).",
    ),
]
