"""Scoring's hot-path statements as plain SQL on the transaction's connection, one per batch each.

Why not SQLAlchemy Core here: binding parameters through Core costs several microseconds per row and
per statement, which at thousands of events a second is most of the budget. These statements bind
pre-built tuples straight to the driver: SQLite gets multi-row `VALUES` (with `RETURNING` where the
fresh ids are needed) or `executemany`; PostgreSQL gets a binary COPY, straight into the table or,
for an upsert or a `RETURNING`, into a staging table then `INSERT … SELECT` (`baton_kit.db.insert_staged`).
Values are written in the form SQLAlchemy's own types write them (`AwareDateTime` as naive UTC text on
SQLite, JSON as text), so the models read them back as usual.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from baton_kit.db import insert_many, insert_staged
from baton_kit.types import bind_time

Row = tuple[Any, ...]

ENGAGEMENT_COLUMNS = ("event_id", "lead_id", "activity", "occurred_at", "source", "external_id", "email", "properties")
PROFILE_COLUMNS = ("event_id", "lead_id", "occurred_at", "fields")
LEAD_COLUMNS = (
    "lead_id",
    "email",
    "account_key",
    "profile",
    "score",
    "fit_score",
    "engagement_score",
    "fit_grade",
    "engagement_band",
    "grade",
    "demand_state",
    "high_intent",
    "disqualifiers",
    "contributions",
    "account",
    "definitions_version",
    "scored_at",
    "last_event_at",
    "review_at",
    "state_version",
)
HISTORY_COLUMNS = (
    "lead_id",
    "event_id",
    "reason",
    "score",
    "fit_score",
    "engagement_score",
    "grade",
    "demand_state",
    "high_intent",
    "cause_event_id",
    "definitions_version",
    "scored_at",
)
_LEAD_UPDATES = ", ".join(f"{name} = excluded.{name}" for name in LEAD_COLUMNS[1:])
_SQLITE_CHUNK = 2000  # rows per multi-row statement: 8 columns x 2,000 stays under SQLite's 32,766 variables


class StoredLead(NamedTuple):
    version: int  # `leads.state_version`
    account_key: str | None
    engagement_score: float


def json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


class Store:
    """The statements for one dialect (`sqlite` or `postgresql`)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.postgresql = dialect == "postgresql"

    def time(self, moment: datetime | None) -> Any:
        """A time as a bound parameter: aware on PostgreSQL, naive UTC text on SQLite (as `AwareDateTime`)."""
        return bind_time(moment, dialect=self.dialect)

    async def insert_new(
        self, connection: AsyncConnection, table: str, columns: Sequence[str], rows: Sequence[Row]
    ) -> set[str]:
        """Insert `rows` (first column the event id), skipping any already stored (by the event id or any
        other unique key); returns the event ids inserted now."""
        if not rows:
            return set()
        if self.postgresql:
            result = await insert_staged(
                connection, table, columns, rows, suffix="ON CONFLICT DO NOTHING RETURNING event_id"
            )
            return {row[0] for row in result}
        names = ", ".join(columns)
        fresh: set[str] = set()
        for start in range(0, len(rows), _SQLITE_CHUNK):
            chunk = rows[start : start + _SQLITE_CHUNK]
            sql = _sqlite_insert_returning(table, names, len(columns), len(chunk))
            result = await connection.exec_driver_sql(sql, tuple(value for row in chunk for value in row))
            fresh.update(row[0] for row in result)
        return fresh

    async def stored_leads(self, connection: AsyncConnection, lead_ids: Sequence[str]) -> dict[str, StoredLead]:
        """What is stored of each lead that has a row; PostgreSQL locks the rows until commit, so two
        instances never rescore one lead at once."""
        select = "SELECT lead_id, state_version, account_key, engagement_score FROM leads WHERE lead_id "
        if self.postgresql:
            result = await connection.exec_driver_sql(select + "= ANY($1::text[]) FOR UPDATE", (list(lead_ids),))
        else:
            result = await connection.exec_driver_sql(select + f"IN ({_marks(len(lead_ids))})", tuple(lead_ids))
        rows: Sequence[Any] = result.all()
        return {row[0]: StoredLead(row[1], row[2], row[3]) for row in rows}

    async def account_totals(
        self, connection: AsyncConnection, keys: Iterable[str], *, engaged_min: float
    ) -> dict[str, tuple[int, float]]:
        """Per account key: (leads with engagement ≥ `engaged_min`, summed engagement) over its stored leads."""
        keys = list(keys)
        if not keys:
            return {}
        select = (
            "SELECT account_key, SUM(CASE WHEN engagement_score >= {0} THEN 1 ELSE 0 END), SUM(engagement_score) "
            "FROM leads WHERE account_key {1} GROUP BY account_key"
        )
        if self.postgresql:
            result = await connection.exec_driver_sql(select.format("$1", "= ANY($2::text[])"), (engaged_min, keys))
        else:
            sql = select.format("?", f"IN ({_marks(len(keys))})")
            result = await connection.exec_driver_sql(sql, (engaged_min, *keys))
        rows: Sequence[Any] = result.all()
        return {row[0]: (int(row[1] or 0), float(row[2] or 0.0)) for row in rows}

    async def upsert_leads(self, connection: AsyncConnection, rows: Sequence[Row]) -> None:
        await insert_many(
            connection, "leads", LEAD_COLUMNS, rows, suffix=f"ON CONFLICT (lead_id) DO UPDATE SET {_LEAD_UPDATES}"
        )

    async def insert_history(self, connection: AsyncConnection, rows: Sequence[Row]) -> None:
        await insert_many(connection, "score_history", HISTORY_COLUMNS, rows)


def _marks(count: int) -> str:
    return ", ".join("?" * count)


@cache
def _sqlite_insert_returning(table: str, names: str, width: int, count: int) -> str:
    row = f"({_marks(width)})"
    return f"INSERT INTO {table} ({names}) VALUES {', '.join([row] * count)} ON CONFLICT DO NOTHING RETURNING event_id"
