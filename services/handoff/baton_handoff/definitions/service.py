"""Each definitions file the handoff starts with is kept by version (its hash), text and all."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts.definitions import LoadedDefinitions
from baton_handoff.models import DefinitionsVersion
from baton_kit.db import upsert_insert


async def record_version(session: AsyncSession, loaded: LoadedDefinitions, *, now: datetime) -> None:
    """At start-up: a new version is stored; a known one is marked as loaded again. One upsert, so
    instances starting together with the same file do not trip over each other."""
    insert = upsert_insert(session.get_bind().dialect.name)
    await session.execute(
        insert(DefinitionsVersion)
        .values(version=loaded.version, text=loaded.text, first_loaded_at=now, last_loaded_at=now)
        .on_conflict_do_update(index_elements=["version"], set_={"last_loaded_at": now})
    )


async def versions(session: AsyncSession) -> list[DefinitionsVersion]:
    """Newest first loaded first."""
    query = select(DefinitionsVersion).order_by(DefinitionsVersion.first_loaded_at.desc(), DefinitionsVersion.version)
    return list(await session.scalars(query))
