"""The lifecycle through the CRM API: a hypothesis state machine (no illegal transition is ever
accepted, every refusal names the current state) and concurrent terminal decisions (exactly one
wins per assignment), in-process on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from test_handoff_harness import Handoff, running_handoff, scored

from baton_contracts.events import LeadState as S
from baton_handoff.leads.rules import ALLOWED_TRANSITIONS, TERMINAL_DECISIONS

REPS = 4  # the example roster
COMMANDS: dict[str, tuple[S, dict[str, Any]]] = {
    "accept": (S.SAL, {}),
    "reject": (S.REJECTED, {"reason": "no_need"}),
    "disqualify": (S.DISQUALIFIED, {"reason": "spam"}),
    "recycle": (S.RECYCLED, {}),
    "reassign": (S.ASSIGNED, {"reason": "test"}),
    "sql": (S.SQL, {}),
    "opportunity": (S.OPPORTUNITY, {}),
    "won": (S.WON, {}),
    "lost": (S.LOST, {}),
}


@pytest.fixture
async def handoff(database_url: str, kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[Handoff]:
    async with running_handoff(database_url=database_url, kafka_bootstrap=kafka_bootstrap, tmp_path=tmp_path) as h:
        yield h


@pytest.mark.parametrize("round_", range(3))
async def test_concurrent_decisions_on_one_assignment_exactly_one_wins(handoff: Handoff, round_: int) -> None:
    lead_id = f"race-{round_}"
    await handoff.score(scored(lead_id))
    calls = [
        ("accept", {}),
        ("reject", {"reason": "no_budget"}),
        ("disqualify", {"reason": "spam"}),
        ("accept", {}),
        ("reject", {"reason": "bad_timing"}),
    ]
    responses = await asyncio.gather(*(handoff.client.post(f"/v1/leads/{lead_id}/{c}", json=b) for c, b in calls))
    outcome = [
        (c, r.status_code, r.json().get("state") or r.json().get("current_state"))
        for (c, _), r in zip(calls, responses, strict=True)
    ]
    timeline = (await handoff.lead(lead_id))["timeline"]
    after = timeline[[t["to_state"] for t in timeline].index("assigned") + 1 :]
    decisions = [t for t in after if t["from_state"] == "assigned" and t["to_state"] in TERMINAL_DECISIONS]
    # One decision ends the assignment; a later call may only act on what it left (rejected → disqualified).
    assert sum(r.status_code == 200 for r in responses) == len(after), outcome
    assert all(r.status_code in (200, 409) for r in responses), outcome
    assert len(decisions) == 1


# --- the state machine (sync, through TestClient: hypothesis drives it step by step) ---------------------


class SyncClient:
    """Blocking calls into the in-process app running on a portal's event loop (hypothesis is sync)."""

    def __init__(self, portal: BlockingPortal, handoff: Handoff) -> None:
        self.portal, self.handoff = portal, handoff

    def post(self, path: str, json: dict[str, Any]) -> httpx.Response:
        return self.portal.call(partial(self.handoff.client.post, path, json=json))

    def get(self, path: str) -> httpx.Response:
        return self.portal.call(self.handoff.client.get, path)

    def score(self, lead_id: str) -> None:
        self.portal.call(self.handoff.score, scored(lead_id))


@pytest.fixture
def sync_handoff(database_url: str, kafka_bootstrap: str, tmp_path: Path) -> Iterator[SyncClient]:
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(
            running_handoff(database_url=database_url, kafka_bootstrap=kafka_bootstrap, tmp_path=tmp_path)
        ) as handoff,
    ):
        yield SyncClient(portal, handoff)


def test_lifecycle_api_never_accepts_an_illegal_transition(sync_handoff: SyncClient) -> None:
    client = sync_handoff
    counter = itertools.count()

    class Lifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.lead_id = f"sm-{next(counter)}"
            client.score(self.lead_id)
            self.state = S.ASSIGNED
            self.assignees = 1

        @rule(command=st.sampled_from(sorted(COMMANDS)))
        def command(self, command: str) -> None:
            target, body = COMMANDS[command]
            response = client.post(f"/v1/leads/{self.lead_id}/{command}", json=body)
            legal = target in ALLOWED_TRANSITIONS[self.state]
            if command == "reassign" and legal:
                legal = self.assignees < REPS
                if not legal:
                    assert response.status_code == 409, response.text
                    return
            if legal:
                assert response.status_code == 200, (self.state, command, response.text)
                self.state = target
                self.assignees += command == "reassign"
            else:
                assert response.status_code == 409, (self.state, command, response.text)
                assert response.json()["current_state"] == self.state.value

        @precondition(lambda self: self.state in {S.ASSIGNED, S.SAL})
        @rule(minutes=st.integers(min_value=0, max_value=600))
        def first_response(self, minutes: int) -> None:
            at = f"2026-11-23T{15 + minutes // 60 % 9:02d}:{minutes % 60:02d}:00Z"
            response = client.post(
                f"/v1/leads/{self.lead_id}/first-response", json={"channel": "call", "occurred_at": at}
            )
            assert response.status_code == 200, response.text

        @invariant()
        def history_is_legal_and_matches(self) -> None:
            lead = client.get(f"/v1/leads/{self.lead_id}").json()
            assert lead["state"] == self.state.value
            for t in lead["timeline"]:
                previous = S(t["from_state"]) if t["from_state"] else None
                assert S(t["to_state"]) in ALLOWED_TRANSITIONS[previous]

    Lifecycle.TestCase.settings = settings(
        max_examples=15, stateful_step_count=12, deadline=None, suppress_health_check=list(HealthCheck)
    )
    Lifecycle.TestCase().runTest()
