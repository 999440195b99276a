"""The Kafka consumer runner: apply a batch in one database transaction, then commit offsets.

Guarantees, and how:
- Nothing lost: offsets are committed only after the transaction that applied the records
  committed. An `asyncio.Lock` is held across each batch, and `on_partitions_revoked` takes it
  before committing, so a rebalance never commits a half-applied batch. aiokafka does not call
  revoke before `stop()`, so the runner commits itself on shutdown.
- Nothing applied twice: the handler runs in the same transaction as the inbox claim, and gets
  only records whose ids the inbox had not seen.
- A poison record never blocks its partition: a record that does not decode goes to
  `<topic>.dlq` at once; a record whose handler keeps failing goes there after `max_retries`,
  each with the error in its headers, and the partition moves on.
- An infrastructure failure (database or broker unreachable) is not poison: nothing is
  committed and the same batch is retried with capped backoff, logged and counted, until it
  succeeds or the runner is asked to stop. A broker error a fetch raises (aiokafka hands its group
  coordinator's failures to the next fetch) is counted and polled past, not the runner's end.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from aiokafka.structs import ConsumerRecord
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from baton_kit.aio import sleep_or_stop
from baton_kit.clock import Clock
from baton_kit.db import transaction
from baton_kit.inbox import Inbox
from baton_kit.metrics import KitMetrics

log = structlog.get_logger(__name__)

T = TypeVar("T")
YIELD_EVERY = 50  # records decoded between yields to the event loop
# A handler gets the batch's events (a `list[T]`), or what `prepare` made of them; it may return how
# many records it applied (when it de-duplicates them itself, see `inbox`).
Handler = Callable[[AsyncSession, Any], Awaitable[int | None]]


Fetched = list[tuple[TopicPartition, list[ConsumerRecord[Any, Any]]]]  # records per partition, in order
Polled = dict[TopicPartition, list[ConsumerRecord[Any, Any]]]  # what `getmany` returns


@dataclass
class _Batch(Generic[T]):
    decoded: list[tuple[ConsumerRecord[Any, Any], T]]
    prepared: Any  # what the handler gets: the items, or what `prepare` made of them
    started: float


_UNPREPARED = object()
"""A batch's `prepared` when `prepare` raised."""


INVALID, HANDLER_FAILED = "invalid", "handler_failed"
DEAD_LETTER_REASONS = (INVALID, HANDLER_FAILED)
"""Why a record was dead-lettered: it did not decode, or its handler kept failing."""


class StopRequested(Exception):
    """Raised inside the runner to abandon an unapplied batch when asked to stop."""


# SQLSTATEs meaning "the database is not there right now", whatever the record: connection
# exceptions (08), insufficient resources (53: too many connections, disk full), operator
# intervention (57P: shutting down, starting up, database dropped), system errors (58), and a
# database that does not exist (3D000: dropped or renamed under a running service). asyncpg's
# connect-time errors reach SQLAlchemy as a plain `DBAPIError`, so the class alone cannot tell.
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P", "58", "3D000")


def is_infrastructure_error(error: BaseException) -> bool:
    """True when `error` means the database or broker is unreachable (retry, never dead-letter)."""
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
            return True
    return isinstance(
        error,
        sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError | OSError | KafkaError | TimeoutError,
    )


@dataclass(frozen=True)
class ConsumerConfig:
    bootstrap_servers: str
    group_id: str
    topics: Sequence[str]
    max_batch: int = 500
    max_retries: int = 3
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 1_000
    fetch_max_wait_ms: int = 50
    max_backoff_seconds: float = 10.0
    # Fetch several batches per partition and prepare the next while the last one commits (see
    # `ConsumerRunner._apply_pipelined`): the handler's CPU work overlaps the database's.
    pipelined: bool = False


class ConsumerRunner(Generic[T]):
    """Consume `config.topics`, decode each record, apply batches with `handler` exactly once.

    `decode` turns a record value into an event or raises `ValueError` (poison); `event_id`
    gives the id the inbox de-duplicates on. `dlq_topic` names a topic's dead-letter topic.
    `inbox=None`: the handler de-duplicates itself (its own tables are keyed by the event id) and
    returns how many records it applied. `on_rebalance` runs whenever partitions are revoked or
    assigned, under the batch lock: a handler that keeps per-key state in memory drops it there.
    `prepare` (with `inbox=None`) does a batch's CPU work before its transaction opens; the handler
    then gets what it returned instead of the records' events. `on_abandoned` runs when a prepared
    batch or record is given up (its transaction failed, or `prepare` raised): what `prepare` folded
    into memory was never stored. A `prepare` that raises sends the batch's records one by one, so the
    record it cannot take is dead-lettered and the partition moves on.
    """

    def __init__(
        self,
        *,
        config: ConsumerConfig,
        sessions: async_sessionmaker[AsyncSession],
        inbox: Inbox | None,
        handler: Handler,
        decode: Callable[[bytes], T],
        event_id: Callable[[T], str],
        dlq_topic: Callable[[str], str],
        producer: AIOKafkaProducer,
        clock: Clock,
        metrics: KitMetrics,
        on_rebalance: Callable[[], None] | None = None,
        prepare: Callable[[list[T]], Any] | None = None,
        on_abandoned: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.on_rebalance = on_rebalance
        self.on_abandoned = on_abandoned
        self.prepare = prepare
        self.sessions = sessions
        self.inbox = inbox
        self.handler = handler
        self.decode = decode
        self.event_id = event_id
        self.dlq_topic = dlq_topic
        self.producer = producer
        self.clock = clock
        self.metrics = metrics
        self._lock = asyncio.Lock()
        self._uncommitted: dict[TopicPartition, int] = {}
        # Pipelined: the last batch's transaction, left running while the next records are fetched
        # and prepared; whoever needs its offset (the next batch, a revocation, the stop) awaits it.
        self._in_flight: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.ready = asyncio.Event()

    def progress(self) -> dict[str, Any]:
        """What the runner holds that the broker does not know yet, for logs and failing tests: the
        partitions assigned, offsets applied but not committed, and a pipelined transaction in flight."""
        return {
            "assigned": sorted(f"{tp.topic}:{tp.partition}" for tp in self._consumer.assignment())
            if self._consumer is not None
            else [],
            "uncommitted": {f"{tp.topic}:{tp.partition}": offset for tp, offset in self._uncommitted.items()},
            "in_flight": None if self._in_flight is None else ("done" if self._in_flight.done() else "running"),
        }

    async def run(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.config.bootstrap_servers,
            group_id=self.config.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self.config.session_timeout_ms,
            heartbeat_interval_ms=self.config.heartbeat_interval_ms,
            max_poll_records=self.config.max_batch,
            fetch_max_wait_ms=self.config.fetch_max_wait_ms,
        )
        self._consumer = consumer
        consumer.subscribe(list(self.config.topics), listener=_CommitOnRevoke(self))
        await consumer.start()
        self.ready.set()
        try:
            while not stop.is_set():
                if self.config.pipelined:
                    await self._apply_fetched(consumer, await self._fetch_each_partition(consumer, stop), stop)
                    continue
                for tp, records in await self._wait_for_records(consumer, stop):
                    async with self._lock:
                        if tp not in consumer.assignment():
                            continue  # revoked while we waited: the new owner gets these records
                        await self._apply(tp, records, stop)
                        self._uncommitted[tp] = records[-1].offset + 1
                        await self._commit_pending()
        except StopRequested:
            log.info("stopping with an unapplied batch; it will be redelivered")
        finally:
            try:
                async with self._lock:
                    await self._settle_in_flight(log_failure=True)
                    await self._commit_pending()
            finally:
                await consumer.stop()
                self.ready.clear()

    async def _fetch_each_partition(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> Fetched:
        """Up to four batches of buffered records of every assigned partition (a plain `getmany` drains
        one partition's buffer before the next); waits for the first record only when none is buffered."""
        ready = []
        for tp in consumer.assignment():
            fetched = await self._getmany(consumer, stop, tp, timeout_ms=0, max_records=4 * self.config.max_batch)
            if records := fetched.get(tp):
                ready.append((tp, records))
        if not ready:
            waited = time.perf_counter()
            ready = await self._wait_for_records(consumer, stop)
            self.metrics.consumer_idle_seconds.inc(time.perf_counter() - waited)
        return ready

    async def _wait_for_records(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> Fetched:
        """Up to a batch of records, of the partitions that have some; waits up to 200 ms for the first."""
        batches = await self._getmany(consumer, stop, timeout_ms=200, max_records=self.config.max_batch)
        return [(tp, records) for tp, records in batches.items() if records]

    async def _getmany(
        self, consumer: AIOKafkaConsumer, stop: asyncio.Event, *partitions: TopicPartition, **options: int
    ) -> Polled:
        """`consumer.getmany`, but a broker error it raises is counted, logged and waited out: aiokafka
        hands its group coordinator's failures (a join the broker refused, say) to the next fetch, having
        fetched nothing, and rejoins by itself once that error is taken. Ending the runner there would
        stop the service over a hiccup the next poll gets past."""
        try:
            fetched: Polled = await consumer.getmany(*partitions, **options)
            return fetched
        except KafkaError as error:
            self.metrics.infrastructure_failures.labels(stage="consumer").inc()
            log.warning("broker error while fetching; polling again", error=repr(error))
            await sleep_or_stop(stop, min(1.0, self.config.max_backoff_seconds))
            return {}

    async def _apply_fetched(
        self,
        consumer: AIOKafkaConsumer,
        ready: Fetched,
        stop: asyncio.Event,
    ) -> None:
        """Every partition's records in batches of `max_batch`, pipelined; then commit the offsets of
        the batches whose transactions have committed (the last one's commits on the next pass, or at
        once when nothing more was fetched).

        Partition after partition, not side by side: on SQLite the transactions take turns anyway, and
        a transaction holding the write lock would wait behind another partition's CPU work."""
        async with self._lock:
            batches = [
                (tp, records[start : start + self.config.max_batch])
                for tp, records in ready
                if tp in consumer.assignment()  # revoked while we waited: the new owner gets these records
                for start in range(0, len(records), self.config.max_batch)
            ]
            try:
                if batches:
                    await self._apply_pipelined(batches, stop)
                else:
                    await self._settle_in_flight()
            finally:
                await self._commit_pending()

    async def _commit_pending(self, only: set[TopicPartition] | None = None) -> None:
        assert self._consumer is not None
        offsets = {tp: o for tp, o in self._uncommitted.items() if only is None or tp in only}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError:
            # The records are applied and recorded in the inbox: a redelivery after this
            # failed commit changes nothing. Keep the offsets to try again.
            log.warning("offset commit failed; will retry", exc_info=True)
            return
        for tp, offset in offsets.items():
            # A pipelined batch that committed its transaction meanwhile has moved the offset on:
            # that one is still to commit.
            if self._uncommitted.get(tp) == offset:
                del self._uncommitted[tp]

    async def _apply(self, tp: TopicPartition, records: list[ConsumerRecord[Any, Any]], stop: asyncio.Event) -> None:
        await self._finish(await self._prepare_batch(records, stop), tp, stop)

    async def _apply_pipelined(self, batches: Fetched, stop: asyncio.Event) -> None:
        """`_apply` each batch in order, the next one prepared while the last one's transaction runs;
        a partition's offset is marked for commit once its batch's transaction has committed. The
        last batch's transaction is left running (`_in_flight`): the next records are fetched and
        prepared meanwhile.

        Transactions still run one at a time, in order; only the fetching and preparing (decoding, and
        the handler's `prepare`, which yields to the event loop now and then) overlap the database's work.
        """

        async def finish(batch: _Batch[T], tp: TopicPartition, last: ConsumerRecord[Any, Any]) -> None:
            await self._finish(batch, tp, stop)
            self._uncommitted[tp] = last.offset + 1

        try:
            for tp, records in batches:
                batch = await self._prepare_batch(records, stop)
                await self._settle_in_flight()
                self._in_flight = asyncio.create_task(finish(batch, tp, records[-1]))
        except BaseException:
            if self._in_flight is not None:
                self._in_flight.cancel()  # its records were not committed: they are redelivered
                self._in_flight = None
            raise

    async def _settle_in_flight(self, *, log_failure: bool = False) -> None:
        """Wait for the pipelined transaction still running, if any (its offset is then pending)."""
        task, self._in_flight = self._in_flight, None
        if task is None:
            return
        try:
            await task
        except Exception:
            if not log_failure:
                raise
            log.warning("the last batch did not commit; it will be redelivered", exc_info=True)

    async def _prepare_batch(self, records: list[ConsumerRecord[Any, Any]], stop: asyncio.Event) -> _Batch[T]:
        """Decode (dead-lettering what does not decode) and run the handler's `prepare`, if any."""
        started = time.perf_counter()
        decoded: list[tuple[ConsumerRecord[Any, Any], T]] = []
        for n, record in enumerate(records, 1):
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let a transaction in flight (pipelined) take its next step
            try:
                decoded.append((record, self.decode(record.value)))
            except Exception as error:  # decoding is pure: whatever it raises (a bug too), this record cannot be used
                await self._with_infra_retry(stop, functools.partial(self._dead_letter, record, error, reason=INVALID))
        try:
            prepared = await self._prepared([item for _, item in decoded])
        except Exception:  # a record `prepare` cannot take: the batch goes record by record (`_finish`)
            log.warning("prepare failed; the batch's records go one by one", exc_info=True)
            self._abandoned()
            prepared = _UNPREPARED
        return _Batch(decoded, prepared, started)

    def _abandoned(self) -> None:
        if self.on_abandoned is not None:
            self.on_abandoned()

    async def _prepared(self, items: list[T]) -> Any:
        if self.inbox is not None or self.prepare is None or not items:
            return items
        prepared = self.prepare(items)
        return await prepared if inspect.isawaitable(prepared) else prepared

    async def _finish(self, batch: _Batch[T], tp: TopicPartition, stop: asyncio.Event) -> None:
        """Apply a prepared batch in one transaction; if that keeps failing (or it could not be
        prepared), its records one by one."""
        if batch.prepared is _UNPREPARED or not await self._applied_whole(batch, tp, stop):
            for record, item in batch.decoded:
                await self._apply_one_with_retries(tp.topic, record, item, stop)
        self.metrics.batch_seconds.labels(topic=tp.topic).observe(time.perf_counter() - batch.started)

    async def _applied_whole(self, batch: _Batch[T], tp: TopicPartition, stop: asyncio.Event) -> bool:
        try:
            await self._with_infra_retry(
                stop, lambda: self._apply_in_one_transaction(tp.topic, batch.decoded, batch.prepared)
            )
        except StopRequested:
            raise
        except Exception:
            log.warning(
                "batch failed; applying its records one by one", topic=tp.topic, partition=tp.partition, exc_info=True
            )
            self._abandoned()
            return False
        return True

    async def _apply_in_one_transaction(
        self, topic: str, decoded: list[tuple[ConsumerRecord[Any, Any], T]], prepared: Any = None
    ) -> None:
        items = [item for _, item in decoded]
        if self.inbox is None:
            if prepared is None:
                prepared = await self._prepared(items)
            async with transaction(self.sessions) as session:
                applied = await self.handler(session, prepared) if items else 0
            applied = len(items) if applied is None else applied
            self.metrics.records_applied.labels(topic=topic).inc(applied)
            self.metrics.records_duplicate.labels(topic=topic).inc(len(items) - applied)
            return
        async with transaction(self.sessions) as session:
            fresh_ids = await self.inbox.claim(
                session, event_ids=[self.event_id(i) for i in items], topic=topic, now=self.clock.now()
            )
            fresh: list[T] = []
            for item in items:
                if self.event_id(item) in fresh_ids:
                    fresh_ids.discard(self.event_id(item))  # a repeat inside one batch applies once
                    fresh.append(item)
            if fresh:
                await self.handler(session, fresh)
        self.metrics.records_applied.labels(topic=topic).inc(len(fresh))
        self.metrics.records_duplicate.labels(topic=topic).inc(len(items) - len(fresh))

    async def _apply_one_with_retries(
        self, topic: str, record: ConsumerRecord[Any, Any], item: T, stop: asyncio.Event
    ) -> None:
        for attempt in range(1, self.config.max_retries + 1):
            try:
                await self._with_infra_retry(stop, lambda: self._apply_in_one_transaction(topic, [(record, item)]))
                return
            except StopRequested:
                raise
            except Exception as error:
                self._abandoned()
                self.metrics.handler_retries.labels(topic=topic).inc()
                if attempt == self.config.max_retries:
                    log.error(
                        "record failed after retries; dead-lettering",
                        topic=topic,
                        partition=record.partition,
                        offset=record.offset,
                        event_id=self.event_id(item),
                        exc_info=True,
                    )
                    await self._with_infra_retry(
                        stop, functools.partial(self._dead_letter, record, error, reason=HANDLER_FAILED)
                    )
                    return
                await sleep_or_stop(stop, 0.05 * attempt)

    async def _with_infra_retry(self, stop: asyncio.Event, attempt: Callable[[], Awaitable[None]]) -> None:
        backoff = 0.1
        while True:
            try:
                await attempt()
                return
            except Exception as error:
                if not is_infrastructure_error(error):
                    raise
                self.metrics.infrastructure_failures.labels(stage="consumer").inc()
                log.warning(
                    "infrastructure failure; nothing committed, retrying", error=str(error), backoff_seconds=backoff
                )
                await sleep_or_stop(stop, backoff)
                if stop.is_set():
                    raise StopRequested from error
                backoff = min(backoff * 2, self.config.max_backoff_seconds)

    async def _dead_letter(self, record: ConsumerRecord[Any, Any], error: BaseException, *, reason: str) -> None:
        headers = [
            ("error.reason", reason.encode()),
            ("error.type", type(error).__name__.encode()),
            ("error.message", str(error)[:4000].encode()),
            ("original.topic", record.topic.encode()),
            ("original.partition", str(record.partition).encode()),
            ("original.offset", str(record.offset).encode()),
            ("failed_at", self.clock.now().isoformat().encode()),
        ]
        try:
            await self.producer.send_and_wait(
                self.dlq_topic(record.topic), value=record.value, key=record.key, headers=headers
            )
        except MessageSizeTooLargeError:
            # The value and the headers together pass the producer's limit: the dead letter goes without
            # the value (it stays on the original topic, at the offset the headers name), not never.
            size = str(len(record.value or b"")).encode()
            await self.producer.send_and_wait(
                self.dlq_topic(record.topic),
                value=None,
                key=record.key,
                headers=[*headers, ("value.dropped_bytes", size)],
            )
        self.metrics.records_dead_lettered.labels(topic=record.topic, reason=reason).inc()
        log.warning(
            "record dead-lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
            error=str(error)[:500],
        )


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: ConsumerRunner[Any]) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.runner._lock:  # wait for the batch in flight to commit its transaction
            await self.runner._settle_in_flight(log_failure=True)
            await self.runner._commit_pending(set(revoked))
            for tp in revoked:
                self.runner._uncommitted.pop(tp, None)
            if self.runner.on_rebalance is not None:
                self.runner.on_rebalance()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if self.runner.on_rebalance is not None:
            async with self.runner._lock:
                self.runner.on_rebalance()
