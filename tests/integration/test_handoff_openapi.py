"""Schemathesis over the handoff's whole OpenAPI, in-process (SQLite, embedded broker): whatever
it generates, the API never answers 5xx, and every error is problem+json."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from test_handoff_harness import Handoff, running_handoff, scored

from baton_handoff.app import create_app
from baton_handoff.settings import HandoffSettings

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")  # schemathesis


def _operations() -> list[Any]:
    app = create_app(HandoffSettings(database_url="sqlite+aiosqlite:///unused.db", kafka_bootstrap_servers="unused:1"))
    schema = schemathesis.openapi.from_dict(app.openapi())
    # `/readyz` answers 503 by contract while a dependency is down.
    return [op for op in (result.ok() for result in schema.get_all_operations()) if op.path != "/readyz"]


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def live(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BlockingPortal, Handoff]]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite+aiosqlite:///{Path(tmp) / 'handoff.db'}"
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(
            running_handoff(database_url=url, kafka_bootstrap=kafka_bootstrap, tmp_path=tmp)
        ) as handoff,
    ):
        portal.call(handoff.score, scored("lead-1"))  # something real to act on
        yield portal, handoff


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_no_5xx_and_errors_are_problem_json(operation: Any, live: tuple[BlockingPortal, Handoff]) -> None:
    portal, handoff = live

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy())
    def check(case: schemathesis.Case) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://handoff")
        headers = dict(kwargs.get("headers") or {})
        headers.pop("User-Agent", None)
        if not {k.lower() for k in headers} & {"authorization", "x-api-key"}:
            headers |= dict(handoff.client.headers.items())
        request: dict[str, Any] = {
            "method": kwargs["method"],
            "url": kwargs["url"],
            "params": kwargs.get("params"),
            "headers": headers,
        }
        if "json" in kwargs:
            request["json"] = kwargs["json"]
        elif "data" in kwargs or "content" in kwargs:
            request["content"] = kwargs.get("content", kwargs.get("data"))
        response: httpx.Response = portal.call(partial(handoff.client.request, **request))
        assert response.status_code < 500, (case.as_curl_command(), response.text[:500])
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json", response.text[:300]

    check()
