"""The inbox: ids of applied events, written in the same transaction as their effects.

A redelivered event finds its id here and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from baton_kit.db import upsert_insert
from baton_kit.types import AwareDateTime


def inbox_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "inbox",
        metadata,
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("applied_at", AwareDateTime(), nullable=False),
    )


class Inbox:
    def __init__(self, table: sa.Table) -> None:
        self.table = table

    async def claim(self, session: AsyncSession, *, event_ids: Sequence[str], topic: str, now: datetime) -> set[str]:
        """Record `event_ids` as applied and return those not seen before.

        Call inside the transaction that applies the events. Ids repeated within `event_ids` are
        returned once. Two consumers racing on one id: the second transaction waits for the
        first and then skips the id (PostgreSQL), or runs after it (SQLite's single writer).
        """
        unique = list(dict.fromkeys(event_ids))
        if not unique:
            return set()
        # One statement: insert every id, skip those already there, return the ones inserted. A
        # concurrent transaction inserting the same id makes this one wait for it (PostgreSQL) or
        # cannot run at the same time at all (SQLite's single writer), so an id is fresh exactly once.
        connection = await session.connection()
        insert = upsert_insert(connection.dialect.name)
        result = await connection.execute(
            insert(self.table)
            .on_conflict_do_nothing(index_elements=[self.table.c.event_id])
            .returning(self.table.c.event_id),
            [{"event_id": e, "topic": topic, "applied_at": now} for e in unique],
        )
        return set(result.scalars())
