"""The `start_service` fixture's signature; the process itself is `baton_kit.processes.ServiceProcess`."""

from __future__ import annotations

from typing import Protocol

from baton_kit.processes import ServiceProcess


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
