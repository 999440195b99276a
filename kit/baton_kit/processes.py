"""Child processes of a local stack (the embedded runner, end-to-end tests, benchmarks).

A `ServiceProcess` is `python -m <module>` with an environment (plus `HTTP_HOST` and `HTTP_PORT`,
which every service's settings read), its stdout and stderr in a log file, ready when `GET /readyz`
answers 200. It can be stopped gracefully (SIGTERM), killed (SIGKILL, a crash) and started again on
the same port and log, with a marker line between runs. When readiness fails, the error carries the
log's tail.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from baton_kit.broker import free_port

READY_PATH = "/readyz"


class ServiceNotReady(RuntimeError):
    """The service exited, or did not answer 200 on /readyz in time. The message has its log tail."""


class ServiceProcess:
    def __init__(
        self,
        module: str,
        *,
        env: Mapping[str, str],
        log_path: Path,
        port: int | None = None,
        name: str | None = None,
    ) -> None:
        self.module = module
        self.name = name or module
        self.port = port or free_port()
        self.env = dict(env)
        self.log_path = log_path
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._process.poll() if self._process else None

    def start(self, *, env_updates: Mapping[str, str] | None = None) -> ServiceProcess:
        """Start the process (again, after a stop: same port, same log file, a marker line between runs)."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.env.update(env_updates or {})
        self.starts += 1
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "HTTP_HOST": "127.0.0.1", "HTTP_PORT": str(self.port), **self.env}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(
                f"\n----- {self.name}: start #{self.starts}: {sys.executable} -m {self.module} "
                f"(port {self.port}) -----\n".encode()
            )
            log.flush()
            self._process = subprocess.Popen(  # the child keeps its own copy of the log descriptor
                [sys.executable, "-m", self.module],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, timeout: float = 30.0) -> ServiceProcess:
        """Poll `GET /readyz` until it answers 200; raise `ServiceNotReady` with the log tail otherwise."""
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=1.0) as client:
            while True:
                try:
                    answer: httpx.Response | Exception = client.get(READY_PATH)
                except httpx.TransportError as error:
                    answer = error
                if self._ready(answer, deadline, timeout):
                    return self
                time.sleep(0.1)

    async def wait_ready_async(self, timeout: float = 30.0) -> ServiceProcess:
        """`wait_ready` that does not block the event loop (consumers in the caller keep running)."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=1.0) as client:
            while True:
                try:
                    answer: httpx.Response | Exception = await client.get(READY_PATH)
                except httpx.TransportError as error:
                    answer = error
                if self._ready(answer, deadline, timeout):
                    return self
                await asyncio.sleep(0.1)

    def _ready(self, answer: httpx.Response | Exception, deadline: float, timeout: float) -> bool:
        """Whether a readiness probe's `answer` says ready; raises once the process died or time is up."""
        process = self._require_process()
        if process.poll() is not None:
            raise ServiceNotReady(
                f"{self.name} exited with code {process.returncode} before it was ready\n{self.log_tail()}"
            )
        if isinstance(answer, httpx.Response) and answer.status_code == 200:
            return True
        if time.monotonic() >= deadline:
            last = (
                f"{answer.status_code} {answer.text[:300]}"
                if isinstance(answer, httpx.Response)
                else f"{type(answer).__name__}: {answer}"
            )
            raise ServiceNotReady(
                f"{self.name} not ready after {timeout:.0f}s (last /readyz: {last})\n{self.log_tail()}"
            )
        return False

    def signal_stop(self) -> None:
        """SIGTERM without waiting (to stop several at once, then `terminate` each)."""
        if self.running and self._process is not None:
            self._process.send_signal(signal.SIGTERM)

    def terminate(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (graceful: drain, commit, stop) and wait; SIGKILL if it has not exited within `timeout`.

        Returns the exit code, None if it was never started. A clean shutdown returns -15
        (`-signal.SIGTERM`), not 0: after draining, uvicorn re-raises the signal it caught so the
        process dies of it. -9 means it hung and was killed.
        """
        if self._process is None:
            return None
        self.signal_stop()
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        return self._process.returncode

    def kill(self) -> int:
        """SIGKILL and wait: a crash. Returns the exit code (-9)."""
        process = self._require_process()
        if process.poll() is None:
            process.kill()
            process.wait()
        return process.returncode

    def restart(self, *, env_updates: Mapping[str, str] | None = None, timeout: float = 30.0) -> ServiceProcess:
        """Stop gracefully if running, start again on the same port, wait until ready."""
        self.terminate()
        return self.start(env_updates=env_updates).wait_ready(timeout)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return f"(no log at {self.log_path})"
        tail = text.splitlines()[-lines:]
        return f"----- last {len(tail)} lines of {self.log_path} -----\n" + "\n".join(tail)

    def _require_process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._process

    def __repr__(self) -> str:
        return f"ServiceProcess({self.name!r}, port={self.port}, pid={self.pid}, returncode={self.returncode})"
