"""Fixtures every Baton test can use: a Kafka broker, throw-away databases, service processes.

- `kafka_bootstrap` (session): `KAFKA_BOOTSTRAP_SERVERS` if set, else an embedded Tansu broker;
  every topic of `baton_contracts.topics.ALL_TOPICS` exists with 3 partitions.
- `make_topic` (async factory): a fresh topic and its `.dlq`, for tests that must not share topics.
- `kafka_producer`: a started producer configured as services configure theirs.
- `database_url`: runs the test once on SQLite and once on PostgreSQL (ids `sqlite`, `postgresql`).
- `make_database_url(dialect, name=...)`: more databases for one test (one per service).
- `start_service(module, env, ...)`: a service as a process, ready; stopped at teardown, its log
  tail attached to the report of a failing test.

PostgreSQL unreachable: postgres tests are skipped and a banner says so at the end of the run;
with `CI=true` they fail instead.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from support.databases import Dialect, MakeDatabaseUrl, PostgresAdmin, database_name
from support.kafka import DEFAULT_PARTITIONS, MakeTopic, unique_name
from support.processes import StartService

from baton_contracts import dlq_topic
from baton_contracts.topics import ALL_TOPICS
from baton_kit.broker import EmbeddedBroker, create_topics, ensure_topics
from baton_kit.processes import ServiceProcess
from baton_kit.producer import create_producer

KAFKA_ENV = "KAFKA_BOOTSTRAP_SERVERS"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


POSTGRES_UNREACHABLE = "PostgreSQL unreachable at"
CI_SUFFIX = " (CI=true: PostgreSQL tests must run)"
SERVICE_PROCESSES = pytest.StashKey[list[ServiceProcess]]()


def pytest_report_header(config: pytest.Config) -> list[str]:
    kafka = os.environ.get(KAFKA_ENV) or "embedded Tansu broker (started on first use)"
    return [f"baton: kafka={kafka}; postgres admin={PostgresAdmin().display_url}; CI={_in_ci()}"]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.failed:
        for process in item.stash.get(SERVICE_PROCESSES, []):
            report.sections.append((f"service log: {process.name}", process.log_tail(80)))
    return report


def _report_message(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)  # a skip's is (path, line, message)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """The unreachable-PostgreSQL banner, counted from the reports: under xdist they reach this process."""
    messages = [
        message
        for outcome in ("skipped", "failed", "error")
        for report in terminalreporter.stats.get(outcome, [])
        if POSTGRES_UNREACHABLE in (message := _report_message(report))
    ]
    if not messages:
        return
    verdict = "FAILED (CI=true)" if _in_ci() else "SKIPPED"
    reason = messages[0][messages[0].index(POSTGRES_UNREACHABLE) :].removesuffix(CI_SUFFIX)
    terminalreporter.write_sep(
        "!", f"POSTGRESQL UNREACHABLE: {len(messages)} postgres test(s) {verdict}", red=True, bold=True
    )
    terminalreporter.write_line(f"  {reason}", red=True)
    terminalreporter.write_line(
        "  Start PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) or set "
        "BATON_TEST_POSTGRES_URL; the PostgreSQL variants of these tests did not run.",
        red=True,
    )
    terminalreporter.write_sep("!", red=True, bold=True)


# ---------------------------------------------------------------------------------------------
# Kafka


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The broker's bootstrap address, with every Baton topic created (3 partitions)."""
    external = os.environ.get(KAFKA_ENV)
    if external:
        create_topics(external, ALL_TOPICS, partitions=DEFAULT_PARTITIONS)
        yield external
        return
    broker = EmbeddedBroker(log_path=tmp_path_factory.mktemp("kafka") / "tansu.log")
    broker.start()
    try:
        create_topics(broker.bootstrap_servers, ALL_TOPICS, partitions=DEFAULT_PARTITIONS)
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture
def make_topic(kafka_bootstrap: str) -> MakeTopic:
    """`await make_topic("consumer")` → a new topic `test.consumer.<random>` (and its `.dlq`), created now."""

    async def make(stem: str = "kit", *, partitions: int = DEFAULT_PARTITIONS, with_dlq: bool = True) -> str:
        topic = unique_name(stem)
        await ensure_topics(kafka_bootstrap, [topic, dlq_topic(topic)] if with_dlq else [topic], partitions=partitions)
        return topic

    return make


@pytest.fixture
async def kafka_producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """A started producer (acks=all, no idempotence: Tansu cannot do it), stopped after the test."""
    producer = create_producer(bootstrap_servers=kafka_bootstrap, client_id="baton-tests")
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


# ---------------------------------------------------------------------------------------------
# Databases


@pytest.fixture(scope="session")
def postgres_admin() -> PostgresAdmin:
    return PostgresAdmin()


@pytest.fixture
def make_database_url(tmp_path: Path, postgres_admin: PostgresAdmin) -> Iterator[MakeDatabaseUrl]:
    """`make_database_url("sqlite" | "postgresql", name="scoring")` → the URL of a new, empty database.

    SQLite: `sqlite+aiosqlite:///<tmp_path>/<name>.db`. PostgreSQL: a database `baton_t_…` created
    now and dropped after the test. Each call makes a different database.
    """
    created: list[str] = []

    def make(dialect: Dialect, *, name: str | None = None) -> str:
        if dialect == "sqlite":
            stem = name or "x"
            path = tmp_path / f"{stem}.db"
            n = 1
            while path.exists() or any(str(path) in url for url in created):
                n += 1
                path = tmp_path / f"{stem}-{n}.db"
            url = f"sqlite+aiosqlite:///{path}"
            created.append(url)
            return url
        if dialect == "postgresql":
            reason = postgres_admin.unreachable_reason()
            if reason is not None:
                message = f"{POSTGRES_UNREACHABLE} {postgres_admin.display_url}: {reason}"
                if _in_ci():
                    pytest.fail(message + CI_SUFFIX, pytrace=False)
                pytest.skip(message)
            url = postgres_admin.create_database(name)
            created.append(url)
            return url
        raise ValueError(f"unknown dialect {dialect!r}: use 'sqlite' or 'postgresql'")

    yield make
    for url in created:
        if url.startswith("postgresql"):
            postgres_admin.drop_database(database_name(url))


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, make_database_url: MakeDatabaseUrl) -> str:
    """The URL of an empty database; the test runs once per dialect."""
    dialect: Dialect = request.param
    return make_database_url(dialect)


# ---------------------------------------------------------------------------------------------
# Service processes


@pytest.fixture
def start_service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StartService]:
    """`start_service("baton_scoring", {"DATABASE_URL": …, "KAFKA_BOOTSTRAP_SERVERS": …})` → a ready process.

    Logs go to `<tmp_path>/<name>.log`. Every process is stopped at teardown (SIGTERM, then SIGKILL).
    """
    processes: list[ServiceProcess] = []
    request.node.stash[SERVICE_PROCESSES] = processes

    def start(
        module: str,
        env: dict[str, str],
        *,
        name: str | None = None,
        port: int | None = None,
        wait: bool = True,
        ready_timeout: float = 30.0,
    ) -> ServiceProcess:
        label = name or module
        if any(p.name == label for p in processes):
            raise ValueError(f"a service named {label!r} was already started in this test; pass name=")
        process = ServiceProcess(module, env=env, log_path=tmp_path / f"{label}.log", port=port, name=label)
        processes.append(process)
        process.start()
        if wait:
            process.wait_ready(ready_timeout)
        return process

    yield start
    for process in reversed(processes):
        process.terminate(timeout=10)
