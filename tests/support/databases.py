"""Throw-away databases for tests: a SQLite file under the test's tmp_path, or a fresh PostgreSQL database.

PostgreSQL is reached through `BATON_TEST_POSTGRES_URL` (default
`postgresql+asyncpg://postgres@127.0.0.1:5432/test`), an admin URL whose database is only used to
run `CREATE DATABASE` / `DROP DATABASE`. Each test database is named `baton_t_<random>` and dropped
after its test, connections and all.

The admin work runs on its own event loop in a worker thread, so the factory is a plain function
usable from sync and async tests alike (it blocks the caller for a few milliseconds).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid
from collections.abc import Awaitable, Callable
from typing import Literal, Protocol, TypeVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import URL, make_url

Dialect = Literal["sqlite", "postgresql"]
DIALECTS: tuple[Dialect, ...] = ("sqlite", "postgresql")

ADMIN_URL_ENV = "BATON_TEST_POSTGRES_URL"
DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DATABASE_PREFIX = "baton_t_"

T = TypeVar("T")


class MakeDatabaseUrl(Protocol):
    """The `make_database_url` fixture: `make_database_url("postgresql", name="scoring")` → a new database's URL."""

    def __call__(self, dialect: Dialect, *, name: str | None = None) -> str: ...


def run_in_own_loop(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a fresh event loop in a worker thread (safe inside a running loop)."""

    async def _run() -> T:
        return await make()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-admin") as pool:
        return pool.submit(asyncio.run, _run()).result()


def database_name(url: str) -> str:
    name = make_url(url).database
    if not name:
        raise ValueError(f"no database name in {url!r}")
    return name


def _offline_name(name: str) -> str:
    return f"{name}_offline"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class PostgresAdmin:
    """Creates and drops test databases on the server `admin_url` points at."""

    def __init__(self, admin_url: str | None = None) -> None:
        self.admin_url: URL = make_url(admin_url or os.environ.get(ADMIN_URL_ENV) or DEFAULT_ADMIN_URL)
        if self.admin_url.get_backend_name() != "postgresql":
            raise ValueError(f"{ADMIN_URL_ENV} must be a postgresql+asyncpg:// URL, got {self.admin_url!r}")
        self._unreachable: str | None = None
        self._probed = False

    @property
    def display_url(self) -> str:
        return self.admin_url.render_as_string(hide_password=True)

    def _dsn(self) -> str:
        return self.admin_url.set(drivername="postgresql").render_as_string(hide_password=False)

    def url_for(self, name: str) -> str:
        """The SQLAlchemy URL (asyncpg driver) of database `name` on the same server."""
        return self.admin_url.set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)

    def unreachable_reason(self) -> str | None:
        """None when the server answers; otherwise why not. Probed once, then remembered."""
        if not self._probed:
            self._probed = True
            try:
                run_in_own_loop(lambda: self._execute("SELECT 1", timeout=3.0))
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
                self._unreachable = f"{type(error).__name__}: {error}"
        return self._unreachable

    def create_database(self, stem: str | None = None) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        suffix = uuid.uuid4().hex[:12]
        name = f"{DATABASE_PREFIX}{stem}_{suffix}" if stem else f"{DATABASE_PREFIX}{suffix}"
        run_in_own_loop(lambda: self._execute(f"CREATE DATABASE {_quote(name)}"))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop `name`, disconnecting whoever is still connected (PostgreSQL 13+)."""
        if not name.startswith(DATABASE_PREFIX):
            raise ValueError(f"refusing to drop {name!r}: not a test database")

        async def _drop() -> None:
            connection = await asyncpg.connect(self._dsn(), timeout=10)
            try:
                for candidate in (name, _offline_name(name)):  # a failed test may have left it offline
                    await connection.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = $1 AND pid <> pg_backend_pid()",
                        candidate,
                    )
                    await connection.execute(f"DROP DATABASE IF EXISTS {_quote(candidate)} WITH (FORCE)")
            finally:
                await connection.close()

        run_in_own_loop(_drop)

    def take_offline(self, name: str) -> None:
        """Make database `name` vanish under its clients, as a dropped or failed-over database does.

        Its connections are ended and it is renamed, so every client sees what a real outage
        looks like: a closed connection mid-transaction, then "database does not exist"
        (SQLSTATE 3D000) on every reconnect, until `bring_online`. The server itself keeps running.
        """

        async def _offline() -> None:
            connection = await asyncpg.connect(self._dsn(), timeout=10)
            try:
                await connection.execute(f"ALTER DATABASE {_quote(name)} ALLOW_CONNECTIONS false")
                # pg_terminate_backend(pid, timeout) waits for the backend to be gone (PostgreSQL 14+)
                await connection.execute(
                    "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    name,
                )
                await connection.execute(f"ALTER DATABASE {_quote(name)} RENAME TO {_quote(_offline_name(name))}")
            finally:
                await connection.close()

        run_in_own_loop(_offline)

    def bring_online(self, name: str) -> None:
        """Undo `take_offline`: the database is back under its name and accepts connections."""

        async def _online() -> None:
            connection = await asyncpg.connect(self._dsn(), timeout=10)
            try:
                await connection.execute(f"ALTER DATABASE {_quote(_offline_name(name))} RENAME TO {_quote(name)}")
                await connection.execute(f"ALTER DATABASE {_quote(name)} ALLOW_CONNECTIONS true")
            finally:
                await connection.close()

        run_in_own_loop(_online)

    async def _execute(self, sql: str, *, timeout: float = 10.0) -> None:
        connection = await asyncpg.connect(self._dsn(), timeout=timeout)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()
