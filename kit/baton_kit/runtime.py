"""Wiring shared by every service process: database, migrations, producer, outbox relay, consumers,
background workers and the HTTP server. Built in the app's lifespan, never at import."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import structlog
import uvicorn
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from baton_kit.aio import sleep_or_stop
from baton_kit.clock import Clock
from baton_kit.consumer import DEAD_LETTER_REASONS, ConsumerConfig, ConsumerRunner, Handler
from baton_kit.db import SqliteCheckpointer, create_engine, ping, session_factory, sqlite_file
from baton_kit.inbox import Inbox
from baton_kit.logging import configure_logging
from baton_kit.metrics import KitMetrics, kit_metrics
from baton_kit.migrations import upgrade_to_head
from baton_kit.outbox import Outbox, OutboxRelay
from baton_kit.producer import create_producer
from baton_kit.settings import S, ServiceSettings, load_settings

log = structlog.get_logger(__name__)

WorkerRun = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


class BackgroundWorkers:
    """Long-running loops of a service (consumers, relays, timers) sharing one stop event.

    A worker that dies unexpectedly takes the process down (SIGTERM to itself): a supervisor
    restarts it whole, rather than leaving a service that answers HTTP but processes nothing.
    """

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, run: WorkerRun) -> None:
        task = asyncio.create_task(run(self.stop), name=name)
        task.add_done_callback(self._on_done)
        self.tasks[name] = task

    def _on_done(self, task: asyncio.Task[None]) -> None:
        if self.stop.is_set() or task.cancelled():
            return
        log.error(
            "worker stopped unexpectedly; shutting the service down", worker=task.get_name(), exc_info=task.exception()
        )
        os.kill(os.getpid(), signal.SIGTERM)

    async def check(self) -> None:
        dead = [name for name, task in self.tasks.items() if task.done()]
        if dead:
            raise RuntimeError(f"workers not running: {', '.join(dead)}")

    async def shutdown(self, *, timeout: float = 30.0) -> None:
        """Ask every worker to stop (each drains its batch and commits), then wait for them."""
        self.stop.set()
        if not self.tasks:
            return
        done, pending = await asyncio.wait(self.tasks.values(), timeout=timeout)
        for task in pending:
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("worker failed", worker=task.get_name(), exc_info=task.exception())


@dataclass
class Runtime:
    """Everything a service's workers and endpoints share, built once per process."""

    service: str
    settings: ServiceSettings
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    producer: AIOKafkaProducer
    outbox: Outbox
    inbox: Inbox
    metrics: KitMetrics
    workers: BackgroundWorkers = field(default_factory=BackgroundWorkers)
    consumers: list[ConsumerRunner[Any]] = field(default_factory=list)

    def add_consumer(
        self,
        *,
        topics: list[str],
        group_id: str,
        handler: Handler,
        decode: Callable[[bytes], Any],
        event_id: Callable[[Any], str],
        dlq_topic: Callable[[str], str],
        own_inbox: bool = False,
        on_rebalance: Callable[[], None] | None = None,
        prepare: Callable[[list[Any]], Any] | None = None,
        pipelined: bool = False,
        on_abandoned: Callable[[], None] | None = None,
    ) -> ConsumerRunner[Any]:
        """Consume `topics` with `handler`. `own_inbox=True`: the handler de-duplicates by event id in its
        own tables and returns how many records it applied, so the kit's inbox is skipped (see
        `ConsumerRunner` for `on_rebalance`, `prepare`, `on_abandoned` and `ConsumerConfig.pipelined`)."""
        runner: ConsumerRunner[Any] = ConsumerRunner(
            config=ConsumerConfig(
                bootstrap_servers=self.settings.kafka_bootstrap_servers,
                group_id=group_id,
                topics=topics,
                max_batch=self.settings.consumer_max_batch,
                max_retries=self.settings.consumer_max_retries,
                session_timeout_ms=self.settings.kafka_session_timeout_ms,
                heartbeat_interval_ms=max(100, self.settings.kafka_session_timeout_ms // 10),
                fetch_max_wait_ms=self.settings.kafka_fetch_max_wait_ms,
                pipelined=pipelined,
            ),
            sessions=self.sessions,
            inbox=None if own_inbox else self.inbox,
            handler=handler,
            decode=decode,
            event_id=event_id,
            dlq_topic=dlq_topic,
            producer=self.producer,
            clock=self.clock,
            metrics=self.metrics,
            on_rebalance=on_rebalance,
            prepare=prepare,
            on_abandoned=on_abandoned,
        )
        for topic in topics:  # every series at 0 from the start: an alert on `increase(...) > 0` sees the first one
            for reason in DEAD_LETTER_REASONS:
                self.metrics.records_dead_lettered.labels(topic=topic, reason=reason)
        self.consumers.append(runner)
        self.workers.start(f"consumer:{group_id}", runner.run)
        return runner

    def readiness(self) -> Mapping[str, Callable[[], Awaitable[None]]]:
        async def consumers_joined() -> None:
            if not all(c.ready.is_set() for c in self.consumers):
                raise RuntimeError("consumers not started")

        return {"database": lambda: ping(self.engine), "workers": self.workers.check, "kafka": consumers_joined}


@asynccontextmanager
async def service_runtime(
    *,
    service: str,
    settings: ServiceSettings,
    clock: Clock,
    metadata: sa.MetaData,
    migrations: str,
) -> AsyncIterator[Runtime]:
    """Migrate, connect, start the outbox relay (and on SQLite the checkpointer); on exit stop workers,
    then clients (in that order)."""
    await upgrade_to_head(
        database_url=settings.database_url,
        script_location=migrations,
        version_table=f"alembic_version_{service.replace('-', '_')}",
    )
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    producer = create_producer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_idempotence=settings.kafka_enable_idempotence,
        client_id=f"baton-{service}",
    )
    await _start_with_retry(producer.start, what="kafka producer")
    outbox = Outbox(metadata.tables["outbox"])
    runtime = Runtime(
        service=service,
        settings=settings,
        clock=clock,
        engine=engine,
        sessions=sessions,
        producer=producer,
        outbox=outbox,
        inbox=Inbox(metadata.tables["inbox"]),
        metrics=kit_metrics(service),
    )
    relay = OutboxRelay(
        outbox=outbox,
        sessions=sessions,
        producer=producer,
        clock=clock,
        metrics=runtime.metrics,
        lock_name=f"baton-{service}-outbox-relay",
        batch_size=settings.outbox_batch_size,
    )
    runtime.workers.start("outbox-relay", relay.run)
    database_file = sqlite_file(settings.database_url)
    if database_file is not None:
        runtime.workers.start("sqlite-checkpoint", SqliteCheckpointer(database_file).run)
    try:
        yield runtime
    finally:
        await runtime.workers.shutdown()
        await producer.stop()
        await engine.dispose()


async def _start_with_retry(start: Callable[[], Awaitable[None]], *, what: str, attempts: int = 30) -> None:
    never = asyncio.Event()
    for attempt in range(1, attempts + 1):
        try:
            await start()
            return
        except Exception:
            if attempt == attempts:
                raise
            log.warning("could not start; retrying", what=what, attempt=attempt)
            await sleep_or_stop(never, min(0.2 * attempt, 2.0))


def serve(app: Any, *, host: str, port: int) -> None:
    """Run `app` under uvicorn; SIGTERM/SIGINT trigger a graceful shutdown of the lifespan."""
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=20
    )
    uvicorn.Server(config).run()


def run_service(settings_class: type[S], create_app: Callable[[S], Any]) -> None:
    """A service's `main()`: settings, logging, app, server. A bad setting or definitions file
    stops it here with exit code 2 and a message naming what is wrong (no traceback)."""
    settings = load_settings(settings_class)
    configure_logging(level=settings.log_level, json=settings.log_json)
    try:
        app = create_app(settings)
    except ValueError as error:  # e.g. DefinitionsError: names each bad key with its path
        print(f"{settings_class.__name__}: cannot start: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    tune_garbage_collector()
    serve(app, host=settings.http_host, port=settings.http_port)


def tune_garbage_collector() -> None:
    """Move what start-up allocated (modules, definitions, models) out of the collector's sight and
    collect the youngest generation only after a million more objects live than died (the default is
    700). A batch of events in flight holds a few hundred thousand young objects (decoded events, rows,
    scorecards) that refcounting frees when the batch ends, and a scan finds them all alive: measured on
    the scoring benchmark (100,000 events), the youngest generation's scans took 0.6-0.9 s of the event
    loop's thread at 100,000, 0.1 s at 300,000 and 0.02 s at 1,000,000 (a batch's objects are freed
    before the count gets there), with the same peak memory. Cycles are still collected, when garbage
    in cycles reaches that count; the older generations keep their thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(1_000_000, 20, 20)
