"""Run a Baton service as a real process for end-to-end tests.

`ServiceProcess` starts `python -m <module>` with the environment you give it (plus `HTTP_HOST`
and `HTTP_PORT`, which every service's settings read), sends its stdout and stderr to a log file,
and knows how to wait for `/readyz`, stop it gracefully (SIGTERM), kill it (SIGKILL) and start it
again on the same port and log. When readiness times out, the error carries the log's tail; the
`start_service` fixture also attaches every service's log tail to a failing test's report.
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
from typing import Protocol

import httpx

from baton_kit.broker import free_port

READY_PATH = "/readyz"


class StartService(Protocol):
    """The `start_service` fixture: a started (and by default ready) service process, stopped at teardown."""

    def __call__(
        self,
        module: str,
        env: dict[str, str],
        *,
        name: str | None = None,
        port: int | None = None,
        wait: bool = True,
        ready_timeout: float = 30.0,
    ) -> ServiceProcess: ...


class ServiceNotReady(AssertionError):
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
    def base_url(self) -> str:
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
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.port),
            **self.env,
        }
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

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll `GET /readyz` until it answers 200; raise `ServiceNotReady` with the log tail otherwise."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        with httpx.Client(base_url=self.base_url, timeout=1.0) as client:
            while True:
                self._raise_if_exited()
                try:
                    response = client.get(READY_PATH)
                    if response.status_code == 200:
                        return
                    last = f"{response.status_code} {response.text[:300]}"
                except httpx.TransportError as error:
                    last = f"{type(error).__name__}: {error}"
                if time.monotonic() >= deadline:
                    raise ServiceNotReady(
                        f"{self.name} not ready after {timeout:.0f}s (last /readyz: {last})\n{self.log_tail()}"
                    )
                time.sleep(0.1)

    async def wait_ready_async(self, timeout: float = 30.0) -> None:
        """`wait_ready` for async tests: does not block the event loop (consumers in the test keep running)."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        async with httpx.AsyncClient(base_url=self.base_url, timeout=1.0) as client:
            while True:
                self._raise_if_exited()
                try:
                    response = await client.get(READY_PATH)
                    if response.status_code == 200:
                        return
                    last = f"{response.status_code} {response.text[:300]}"
                except httpx.TransportError as error:
                    last = f"{type(error).__name__}: {error}"
                if time.monotonic() >= deadline:
                    raise ServiceNotReady(
                        f"{self.name} not ready after {timeout:.0f}s (last /readyz: {last})\n{self.log_tail()}"
                    )
                await asyncio.sleep(0.1)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: the graceful shutdown path. Returns the exit code.

        A clean shutdown returns -15 (`-signal.SIGTERM`), not 0: after draining, uvicorn re-raises
        the signal it caught so the process dies of it. A service that does not exit within
        `timeout` is killed and this raises: a shutdown that hangs is a bug the test should see.
        """
        process = self._require_process()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise AssertionError(
                    f"{self.name} did not exit within {timeout:.0f}s of SIGTERM; killed\n{self.log_tail()}"
                ) from None
        return process.returncode

    def kill(self) -> int:
        """SIGKILL and wait: a crash. Returns the exit code (-9)."""
        process = self._require_process()
        if process.poll() is None:
            process.kill()
            process.wait()
        return process.returncode

    def restart(self, *, env_updates: Mapping[str, str] | None = None, timeout: float = 30.0) -> ServiceProcess:
        """Stop gracefully if running, start again on the same port, wait until ready."""
        if self.running:
            self.terminate()
        self.start(env_updates=env_updates)
        self.wait_ready(timeout)
        return self

    def stop_quietly(self) -> None:
        """Teardown: SIGTERM, then SIGKILL after a grace period; never raises."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return f"(no log at {self.log_path})"
        tail = text.splitlines()[-lines:]
        return f"----- last {len(tail)} lines of {self.log_path} -----\n" + "\n".join(tail)

    def _raise_if_exited(self) -> None:
        process = self._require_process()
        if process.poll() is not None:
            raise ServiceNotReady(
                f"{self.name} exited with code {process.returncode} before it was ready\n{self.log_tail()}"
            )

    def _require_process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._process

    def __repr__(self) -> str:
        return f"ServiceProcess({self.name!r}, port={self.port}, pid={self.pid}, returncode={self.returncode})"
