"""Each definitions file the handoff starts with is kept by version (its hash), text and all."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts.definitions import LoadedDefinitions
from baton_handoff.models import DefinitionsVersion


async def record_version(session: AsyncSession, loaded: LoadedDefinitions, *, now: datetime) -> None:
    """At start-up: a new version is stored; a known one is marked as loaded again."""
    row = await session.get(DefinitionsVersion, loaded.version, with_for_update=True)
    if row is None:
        session.add(
            DefinitionsVersion(version=loaded.version, text=loaded.text, first_loaded_at=now, last_loaded_at=now)
        )
    else:
        row.last_loaded_at = now


async def versions(session: AsyncSession) -> list[DefinitionsVersion]:
    """Newest first loaded first."""
    query = select(DefinitionsVersion).order_by(DefinitionsVersion.first_loaded_at.desc(), DefinitionsVersion.version)
    return list(await session.scalars(query))
