"""The inbox: ids of applied events, written in the same transaction as their effects.

A redelivered event finds its id here and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

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
        returned once. Two consumers racing on one id: the second transaction fails on the
        primary key and is retried, then finds the id here.
        """
        unique = list(dict.fromkeys(event_ids))
        if not unique:
            return set()
        seen = set(
            (await session.execute(sa.select(self.table.c.event_id).where(self.table.c.event_id.in_(unique)))).scalars()
        )
        fresh = [event_id for event_id in unique if event_id not in seen]
        if fresh:
            await session.execute(
                sa.insert(self.table), [{"event_id": e, "topic": topic, "applied_at": now} for e in fresh]
            )
        return set(fresh)
