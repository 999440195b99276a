from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts.definitions import RoutingDefinitions
from baton_handoff.models import RoutingCursor
from baton_handoff.routing.rules import next_in_rotation

DEFAULT_ROTATION = "default"


async def choose_rep(session: AsyncSession, *, routing: RoutingDefinitions) -> str:
    """Take the next rep of the persistent rotation. The cursor row is locked until the caller
    commits, so two handoff instances never hand out the same turn."""
    cursor = await session.scalar(
        select(RoutingCursor).where(RoutingCursor.rotation == DEFAULT_ROTATION).with_for_update()
    )
    if cursor is None:
        cursor = RoutingCursor(rotation=DEFAULT_ROTATION, last_rep_id=None, assignments=0)
        session.add(cursor)
    rep_id = next_in_rotation([rep.id for rep in routing.reps], last_rep_id=cursor.last_rep_id)
    cursor.last_rep_id = rep_id
    cursor.assignments += 1
    return rep_id
