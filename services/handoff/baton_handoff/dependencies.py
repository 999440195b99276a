"""FastAPI dependencies: the process's runtime and definitions, as typed aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from baton_contracts.definitions import LoadedDefinitions
from baton_kit.runtime import Runtime


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _definitions(request: Request) -> LoadedDefinitions:
    definitions: LoadedDefinitions = request.app.state.definitions
    return definitions


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
DefinitionsDep = Annotated[LoadedDefinitions, Depends(_definitions)]
