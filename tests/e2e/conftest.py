"""End-to-end fixtures: a fresh broker per test and the three services as processes.

Each test gets its own embedded broker, so consumer groups and topics start empty and one test's
events never reach another's services. With `KAFKA_BOOTSTRAP_SERVERS` set, that broker is used
and must start empty.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest
import yaml
from support.databases import Dialect

from baton_contracts.definitions import EXAMPLE_PATH
from baton_contracts.topics import ALL_TOPICS
from baton_kit.broker import EmbeddedBroker, create_topics
from baton_kit.processes import ServiceProcess

pytestmark = pytest.mark.e2e

SERVICES = {"scoring": "baton_scoring", "handoff": "baton_handoff", "sla-monitor": "baton_sla_monitor"}
FAST_GROUP_ENV = {"KAFKA_SESSION_TIMEOUT_MS": "6000", "LOG_LEVEL": "INFO"}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        create_topics(external, ALL_TOPICS)
        yield external
        return
    embedded = EmbeddedBroker(log_path=tmp_path / "tansu.log")
    embedded.start()
    try:
        create_topics(embedded.bootstrap_servers, ALL_TOPICS)
        yield embedded.bootstrap_servers
    finally:
        embedded.stop()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def dialect(request: pytest.FixtureRequest) -> Dialect:
    return request.param  # type: ignore[no-any-return]


@dataclass
class Stack:
    bootstrap: str
    services: dict[str, ServiceProcess]

    @property
    def handoff(self) -> ServiceProcess:
        return self.services["handoff"]

    @property
    def scoring(self) -> ServiceProcess:
        return self.services["scoring"]

    @property
    def sla(self) -> ServiceProcess:
        return self.services["sla-monitor"]


class StartStack(Protocol):
    def __call__(
        self, *names: str, definitions: dict[str, object] | None = None, env: dict[str, str] | None = None
    ) -> Stack: ...


def write_definitions(path: Path, overrides: dict[str, object]) -> Path:
    """The example definitions with `overrides` merged in (one level deep per section)."""
    document = yaml.safe_load(EXAMPLE_PATH.read_text())
    for section, values in overrides.items():
        if isinstance(values, dict):
            document[section] = {**document[section], **values}
        else:
            document[section] = values
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def start_stack(broker: str, dialect: Dialect, make_database_url, start_service, tmp_path: Path) -> StartStack:  # type: ignore[no-untyped-def]
    """`start_stack("scoring", "handoff")` → those services running on `dialect`, each with its own database."""

    def start(*names: str, definitions: dict[str, object] | None = None, env: dict[str, str] | None = None) -> Stack:
        extra = dict(env or {})
        if definitions is not None:
            extra["DEFINITIONS_PATH"] = str(write_definitions(tmp_path / "definitions.yaml", definitions))
        processes = {
            name: start_service(
                SERVICES[name],
                {
                    "DATABASE_URL": make_database_url(dialect, name=name.replace("-", "_")),
                    "KAFKA_BOOTSTRAP_SERVERS": broker,
                    **FAST_GROUP_ENV,
                    **extra,
                },
                name=name,
                wait=False,
            )
            for name in (names or tuple(SERVICES))
        }
        for process in processes.values():
            process.wait_ready(60)
        return Stack(bootstrap=broker, services=processes)

    return start
