"""Column types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class AwareDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime on every database: stored as UTC, returned with `tzinfo=UTC`.

    SQLite keeps no offset, so without this a value read back would be naive.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = _in_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        return stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)


def bind_time(moment: datetime | None, *, dialect: str) -> Any:
    """`moment` as a raw driver parameter, in the form `AwareDateTime` stores it: aware on PostgreSQL,
    naive UTC text on SQLite (SQLAlchemy's SQLite format, which sorts as text). For hand-written SQL."""
    if moment is None or dialect != "sqlite":
        return moment
    # "YYYY-MM-DD HH:MM:SS.ffffff" (+ the offset, cut off): several times cheaper than strftime
    return _in_utc(moment).isoformat(" ", "microseconds")[:26]


def _in_utc(moment: datetime) -> datetime:
    """`moment` at offset 0 (itself when it is already); refuses a naive one."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: Baton stores timezone-aware times only")
    return moment.astimezone(UTC) if moment.utcoffset() else moment
