"""Database engines: SQLite (WAL) as the embedded default, PostgreSQL (asyncpg) for production.

Both are first-class. On SQLite every transaction starts with `BEGIN IMMEDIATE`, so a transaction
that reads and then writes never fails half-way with "database is locked": writers queue on the
busy timeout instead.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import orjson
import structlog
from sqlalchemy import MetaData, event, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.sqlite import aiosqlite as aiosqlite_dialect
from sqlalchemy.engine import URL, CursorResult, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from baton_kit.aio import sleep_or_stop

T = TypeVar("T")

log = structlog.get_logger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine for `url` (`sqlite+aiosqlite:///path` or `postgresql+asyncpg://…`)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if (path := sqlite_file(parsed)) is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        args, options = aiosqlite_dialect.dialect().create_connect_args(parsed)
        connector = functools.partial(sqlite3.connect, *args, **{**options, "timeout": 30, "check_same_thread": False})
        engine = create_async_engine(
            url,
            async_creator=lambda: _SqliteConnection(connector),
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
        )
    raise ValueError(
        f"unsupported database URL scheme {parsed.drivername!r}: use sqlite+aiosqlite or postgresql+asyncpg"
    )


class _SqliteConnection(aiosqlite.Connection):
    """aiosqlite's connection, with what cannot wait run in the event loop's own thread.

    aiosqlite runs every call (make a cursor, execute, fetch, close it, commit) on a thread of its
    own, and each call costs two thread switches and a wake-up of the loop: for a small transaction
    of two statements, 2.7 ms of CPU against 0.9 ms with the calls made inline (the handoff's
    transactions are of that kind, a few per lead). Nothing inside a write transaction waits: it
    holds SQLite's write lock from its `BEGIN IMMEDIATE`, and in WAL mode neither its statements nor
    its COMMIT wait for anyone. So once this connection holds the write lock (`_on_begin` says so),
    its calls run inline until the transaction ends. The `BEGIN IMMEDIATE` itself, which may wait for
    another process's writer, read transactions (which may scan a lot) and autocommit statements
    stay on the thread, where waiting blocks nothing else.

    It extends aiosqlite 0.22's private `_execute` and `_thread` (kit/pyproject.toml pins the minor
    version; the kit's database tests exercise both paths).
    """

    holds_write_lock = False

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._thread.daemon = True  # as SQLAlchemy makes aiosqlite's: an unclosed connection never holds up exit

    async def _execute(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        connection = self._connection
        if connection is None or not (self.holds_write_lock or _never_waits(fn, connection)):
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call,no-any-return]
        if not self._running:
            raise ValueError("Connection closed")
        try:
            return fn(*args, **kwargs)
        finally:
            if not _in_transaction(connection):
                self.holds_write_lock = False  # committed, rolled back or closed


def _in_transaction(connection: sqlite3.Connection) -> bool:
    try:
        return connection.in_transaction
    except sqlite3.ProgrammingError:  # closed
        return False


def _never_waits(fn: Callable[..., Any], connection: sqlite3.Connection) -> bool:
    """Making or closing a cursor, and a rollback outside any transaction (a pooled connection's reset)."""
    owner, name = getattr(fn, "__self__", None), getattr(fn, "__name__", "")
    if isinstance(owner, sqlite3.Cursor):
        return name == "close"
    return owner is connection and (name == "cursor" or (name == "rollback" and not connection.in_transaction))


def _json_dumps(value: Any) -> str:
    """JSON columns: orjson (several times faster than `json.dumps` on scorecards and payloads)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # Takes effect only on a new file (before its first table). Measured on the scoring batch at
        # 10,000 leads: 8 KiB pages wrote a third less per commit than the 4 KiB default (a lead row
        # with its explanation is ~2 KB; fewer, fuller pages per B-tree), 1 KiB pages more.
        cursor.execute("PRAGMA page_size=8192")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
        cursor.execute("PRAGMA cache_size=-65536")
        # Debian's SQLite zeroes every deleted byte by default, so deleting a sent outbox row wrote
        # its freed pages again; FAST zeroes only what costs no extra I/O.
        cursor.execute("PRAGMA secure_delete=FAST")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get("baton_read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
        if not read_only:
            raw = connection.connection.dbapi_connection._connection
            if isinstance(raw, _SqliteConnection):
                raw.holds_write_lock = True


def sqlite_file(url: str | URL) -> str | None:
    """The database file of a SQLite URL; None for PostgreSQL or an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return parsed.database


class SqliteCheckpointer:
    """Copies committed pages from the WAL into the database file, from a connection and thread of its own.

    SQLite's automatic checkpoint runs inside the commit that takes the WAL past `wal_autocheckpoint`,
    on the writer's connection, so that transaction waits for it: measured on the scoring service's
    batches, ~230 ms every fifth batch of 3,000 events, a third of their commit time. A PASSIVE
    checkpoint from another connection runs beside readers and writers and never blocks them. Run
    every `interval` seconds, it copies a batch or two of pages and usually completes, and the next
    write transaction then starts the WAL over, so the file stays small. The automatic checkpoint
    stays as the fallback; it finds only what this one has not copied yet.
    """

    def __init__(self, path: str, *, interval: float = 0.1) -> None:
        self.path = path
        self.interval = interval

    async def run(self, stop: asyncio.Event) -> None:
        connection = await asyncio.to_thread(self._connect)
        try:
            while not stop.is_set():
                try:
                    await asyncio.to_thread(self._checkpoint, connection)
                except sqlite3.Error:  # e.g. a full disk: the writers' own checkpoint still runs
                    log.warning("sqlite checkpoint failed; retrying", exc_info=True)
                    await sleep_or_stop(stop, 1.0)
                await sleep_or_stop(stop, self.interval)
        finally:
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        # mode=rw: never create the file (the migrations did); autocommit; used by one thread at a time
        return sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, isolation_level=None, check_same_thread=False)

    @staticmethod
    def _checkpoint(connection: sqlite3.Connection) -> None:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits when the block ends, rolls back when it raises.

    SQLite: the transactions of one process take turns through an `asyncio.Lock`, first come first
    served. SQLite's own busy handler would do it by sleeping and retrying with a growing backoff
    (up to 100 ms a try), which left a writer asleep while the lock stood free (measured: a third of
    the scoring consumer's time); the busy timeout still arbitrates between processes.
    """
    async with _sqlite_write_lock(sessions) or nullcontext(), sessions() as session, session.begin():
        yield session


@asynccontextmanager
async def read_transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A unit of work that only reads, every statement in one snapshot (PostgreSQL: REPEATABLE READ,
    where READ COMMITTED would let a commit land between two of its reads; SQLite: a deferred
    transaction in WAL mode), so a row and its related rows agree. On SQLite it neither takes the
    write lock nor waits for it; it must not write."""
    engine = sessions.kw["bind"]
    async with engine.connect() as connection:
        options: dict[str, Any] = {"baton_read_only": True}
        if engine.dialect.name == "postgresql":
            options["isolation_level"] = "REPEATABLE READ"
        connection = await connection.execution_options(**options)
        async with connection.begin(), sessions(bind=connection) as session:
            yield session


def upsert_insert(dialect: str) -> Callable[..., Any]:
    """`insert` with `ON CONFLICT` clauses for the dialect (`postgresql` or `sqlite`), for upserts and
    inserts that skip what is there."""
    return postgresql.insert if dialect == "postgresql" else sqlite_dialect.insert


async def read_once(database_url: str, read: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """`read` in one `read_transaction` on an engine of its own: for commands that must not write."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with read_transaction(session_factory(engine)) as session:
            return await read(session)
    finally:
        await engine.dispose()


async def sqlite_autocommit(sessions: async_sessionmaker[AsyncSession], sql: str, params: Sequence[Any]) -> None:
    """Run one SQLite statement that commits by itself: one round trip to the driver's thread instead
    of three (BEGIN, the statement, COMMIT), holding this process's write turn only for that trip."""
    lock = _sqlite_write_lock(sessions)
    assert lock is not None, "SQLite only"
    async with sessions.kw["bind"].connect() as connection:
        raw = await connection.get_raw_connection()
        async with lock:
            cursor = await raw.driver_connection.execute(sql, params)
            await cursor.close()


def _sqlite_write_lock(sessions: async_sessionmaker[AsyncSession]) -> asyncio.Lock | None:
    engine = sessions.kw.get("bind")
    if engine is None or engine.dialect.name != "sqlite":
        return None
    lock: asyncio.Lock | None = engine.sync_engine.__dict__.get("_baton_write_lock")
    if lock is None:
        lock = engine.sync_engine.__dict__["_baton_write_lock"] = asyncio.Lock()
    return lock


async def ping(engine: AsyncEngine) -> None:
    """Raise unless the database answers (readiness)."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run `callback` once, when the session's transaction commits; never on rollback.

    A session is one unit of work here, so a listener left by a rolled-back transaction dies with it.
    """
    event.listen(session.sync_session, "after_commit", lambda _session: callback(), once=True)


async def insert_many(
    connection: AsyncConnection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    suffix: str = "",
) -> None:
    """Insert `rows` (tuples in `columns` order, bound as the driver takes them), one batch at a time.

    PostgreSQL: a binary COPY (`copy_rows`), or with a `suffix` (an `ON CONFLICT` clause) through a
    staging table (`insert_staged`); SQLite: the driver's `executemany`. For hot paths only: this skips
    SQLAlchemy's type processing, so times and JSON must already be in stored form
    (`baton_kit.types.bind_time`, JSON text).
    """
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        if suffix:
            await insert_staged(connection, table, columns, rows, suffix=suffix)
        else:
            await copy_rows(connection, table, columns, rows)
        return
    names = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    await connection.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks}) {suffix}", list(rows))


async def copy_rows(
    connection: AsyncConnection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """PostgreSQL: `rows` into `table` by one binary COPY, inside the connection's transaction.

    Measured against the `INSERT … SELECT FROM unnest(…)` of a typed array per column that it
    replaced (batches of 3,300 rows, asyncpg 0.32): a `lead.scored` outbox row of ~3 kB cost 2 µs of
    the client's CPU and 8 µs of the server's, against 6 and 16. asyncpg checks every element of
    an array parameter against `collections.abc` classes, and the server builds each array before
    unnesting it; COPY streams the rows, each value encoded once.
    """
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None, "connected"
    if not driver.is_in_transaction():
        # SQLAlchemy's asyncpg adapter sends BEGIN with its first statement; a COPY sent before that
        # would commit on its own.
        await connection.exec_driver_sql("SELECT 1")
    await driver.copy_records_to_table(table, records=rows, columns=list(columns))


async def insert_staged(
    connection: AsyncConnection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    suffix: str,
) -> CursorResult[Any]:
    """PostgreSQL: `rows` copied into a staging table (`copy_rows`), then `INSERT INTO table … SELECT`
    from it with `suffix` (`ON CONFLICT …`, `RETURNING …`); returns that statement's result.

    The staging table is temporary, of this connection, made by the first call that finds it missing.
    The `INSERT` empties it as it reads it, and a rolled-back transaction leaves nothing in it either,
    so each call inserts exactly its own rows; each commit truncates it (`ON COMMIT DELETE ROWS`),
    since nothing vacuums a temporary table and deleted rows would otherwise keep their space. A
    lead's upsert (a ~4 kB row) cost 5 µs of the client's CPU this way against 13 through typed arrays.
    """
    names = ", ".join(columns)
    staging = f"{table}_staging"
    await connection.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS SELECT {names} FROM {table} WITH NO DATA"
    )
    await copy_rows(connection, staging, columns, rows)
    return await connection.exec_driver_sql(
        f"WITH batch AS (DELETE FROM {staging} RETURNING {names}) "
        f"INSERT INTO {table} ({names}) SELECT {names} FROM batch {suffix}"
    )
