"""`Idempotency-Key` for writes: the first response is stored in the same transaction as the
write's effects, so a replay returns it and changes nothing.

The key row is inserted first (`ON CONFLICT DO NOTHING`): a concurrent request with the same key
waits on it (PostgreSQL's unique index; SQLite's single writer) and then replays the committed
response. An error response is not stored: the transaction rolls back with the key, and a retry
is decided again (it can only fail again or, if the state changed meanwhile, succeed once).
Keys are scoped per API key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from baton_handoff.crm.exceptions import IdempotencyKeyReused, IdempotentRequestInProgress
from baton_handoff.models import IdempotencyRecord
from baton_kit.db import upsert_insert

REPLAYED_HEADER = "Idempotent-Replayed"


def fingerprint(method: str, path: str, body: BaseModel | dict[str, Any] | None) -> str:
    payload = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    raw = json.dumps([method, path, payload], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


async def idempotent_request(
    request: Request,
    session: AsyncSession,
    *,
    key: str | None,
    scope: str,
    body: BaseModel | None,
    now: datetime,
    run: Callable[[], Awaitable[BaseModel]],
    status_code: int = 200,
    kept: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> JSONResponse:
    """`idempotent` for an HTTP write: the request's method, path and body are its fingerprint."""
    return await idempotent(
        session,
        key=key,
        scope=scope,
        fingerprint=fingerprint(request.method, request.url.path, body),
        now=now,
        run=run,
        status_code=status_code,
        kept=kept,
    )


async def idempotent(
    session: AsyncSession,
    *,
    key: str | None,
    scope: str,
    fingerprint: str,
    now: datetime,
    run: Callable[[], Awaitable[BaseModel]],
    status_code: int = 200,
    kept: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> JSONResponse:
    """Run `run` once per (`scope`, `key`); a replay answers what the first call answered, as `kept`
    (when given) leaves it to be stored: a secret shown once is not kept for replays."""
    if key is None:
        result = await run()
        return JSONResponse(result.model_dump(mode="json"), status_code=status_code)
    insert = upsert_insert(session.get_bind().dialect.name)
    inserted = await session.execute(
        insert(IdempotencyRecord)
        .values(scope=scope, key=key, fingerprint=fingerprint, status_code=0, body=None, created_at=now)
        .on_conflict_do_nothing(index_elements=["scope", "key"])
    )
    if inserted.rowcount == 0:  # type: ignore[attr-defined]
        record = await session.scalar(
            select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
        )
        assert record is not None
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                f"Idempotency-Key {key!r} was first used for a different request", extra={"idempotency_key": key}
            )
        if record.status_code == 0:
            raise IdempotentRequestInProgress(f"a request with Idempotency-Key {key!r} is in progress; retry")
        return JSONResponse(record.body, status_code=record.status_code, headers={REPLAYED_HEADER: "true"})
    result = await run()
    body = result.model_dump(mode="json")
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
        .values(status_code=status_code, body=kept(body) if kept is not None else body)
    )
    return JSONResponse(body, status_code=status_code)
