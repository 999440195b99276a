"""The CRM contract: first-class calls on a lead. Every write takes an optional `Idempotency-Key`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from baton_contracts.definitions import LoadedDefinitions
from baton_contracts.events import LeadState
from baton_handoff.auth import Principal
from baton_handoff.crm import service
from baton_handoff.crm.delivery import CrmWake
from baton_handoff.crm.idempotency import idempotent_request
from baton_handoff.crm.schemas import AcceptLead, Disqualify, FirstResponse, Reassign, Recycle, RejectLead, StageUpdate
from baton_handoff.dependencies import CrmKey, DefinitionsDep, IdempotencyKey, RuntimeDep
from baton_handoff.leads.endpoints import AUTH, NOT_FOUND, read_lead
from baton_handoff.leads.schemas import LeadRead
from baton_handoff.models import Lead
from baton_kit.http import DbSession
from baton_kit.outbox import Outbox
from baton_kit.runtime import Runtime

router = APIRouter(prefix="/v1/leads", tags=["crm"])

CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Illegal in the lead's current state (body has `current_state`), or another rep's"}
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "Invalid body (fields named in `errors`), or Idempotency-Key reused"}
}
RESPONSES: dict[int | str, dict[str, Any]] = {**AUTH, **NOT_FOUND, **CONFLICT, **INVALID}

B = TypeVar("B", bound=BaseModel)
B_contra = TypeVar("B_contra", bound=BaseModel, contravariant=True)


@dataclass(frozen=True)
class Call(Generic[B]):
    """What a CRM command is given: the request's lead, body, caller and process state."""

    session: DbSession
    lead_id: str
    body: B
    principal: Principal
    definitions: LoadedDefinitions
    runtime: Runtime
    crm_webhook: CrmWake = None


class Decision(Protocol[B_contra]):
    """A service command with the common shape: the lead, the body, the caller and the definitions."""

    def __call__(
        self,
        session: DbSession,
        *,
        lead_id: str,
        body: B_contra,
        principal: Principal,
        definitions: LoadedDefinitions,
        outbox: Outbox,
        now: datetime,
    ) -> Awaitable[Lead]: ...


def _decision(decide: Decision[B]) -> Callable[[Call[B]], Awaitable[Lead]]:
    return lambda c: decide(
        c.session,
        lead_id=c.lead_id,
        body=c.body,
        principal=c.principal,
        definitions=c.definitions,
        outbox=c.runtime.outbox,
        now=c.runtime.clock.now(),
    )


def _command(
    path: str,
    body_model: type[B],
    command: Callable[[Call[B]], Awaitable[Lead]],
    *,
    name: str,
    summary: str,
    operation_id: str | None = None,
) -> None:
    """Register `POST /v1/leads/{lead_id}/<path>`: run `command` once per Idempotency-Key, answer the lead."""

    async def endpoint(
        lead_id: str,
        body: B,
        request: Request,
        session: DbSession,
        runtime: RuntimeDep,
        definitions: DefinitionsDep,
        principal: CrmKey,
        key: IdempotencyKey = None,
    ) -> JSONResponse:
        async def run() -> LeadRead:
            crm_webhook = request.app.state.crm_webhook
            lead = await command(Call(session, lead_id, body, principal, definitions, runtime, crm_webhook))
            return await read_lead(session, lead)

        return await idempotent_request(
            request, session, key=key, scope=principal.key_id, body=body, now=runtime.clock.now(), run=run
        )

    endpoint.__annotations__["body"] = body_model  # FastAPI reads the request body's model from here
    endpoint.__name__ = name
    router.post(
        f"/{{lead_id}}/{path}",
        response_model=LeadRead,
        responses=RESPONSES,
        summary=summary,
        operation_id=operation_id,
    )(endpoint)


_command(
    "accept",
    AcceptLead,
    lambda c: service.accept(
        c.session,
        lead_id=c.lead_id,
        rep_id=c.body.rep_id,
        principal=c.principal,
        definitions=c.definitions,
        outbox=c.runtime.outbox,
        now=c.runtime.clock.now(),
    ),
    name="accept_lead",
    summary="Accept an assigned lead (it becomes a SAL)",
)
_command(
    "reject",
    RejectLead,
    _decision(service.reject),
    name="reject_lead",
    summary="Reject an assigned lead with a reason from the taxonomy (optionally recycle it until a date)",
)
_command(
    "first-response",
    FirstResponse,
    lambda c: service.record_first_response(
        c.session,
        lead_id=c.lead_id,
        body=c.body,
        principal=c.principal,
        outbox=c.runtime.outbox,
        now=c.runtime.clock.now(),
    ),
    name="first_response",
    summary="Record the rep's first response (the earliest reported one wins)",
)
_command(
    "disqualify",
    Disqualify,
    _decision(service.disqualify),
    name="disqualify_lead",
    summary="Disqualify a lead that has not been accepted",
)
_command(
    "recycle",
    Recycle,
    _decision(service.recycle),
    name="recycle_lead",
    summary="Recycle a rejected lead to marketing (re-MQL after the cool-down or the given date)",
)
_command(
    "reassign",
    Reassign,
    lambda c: service.reassign(
        c.session,
        lead_id=c.lead_id,
        body=c.body,
        principal=c.principal,
        definitions=c.definitions,
        outbox=c.runtime.outbox,
        now=c.runtime.clock.now(),
        crm_webhook=c.crm_webhook,
    ),
    name="reassign_lead",
    summary="Reassign an assigned lead: to a named rep, or routed again skipping previous assignees",
)


def _stage(to: LeadState, summary: str) -> None:
    _command(
        to.value,
        StageUpdate,
        _decision(partial(service.stage, to=to)),
        name=f"mark_{to.value}",
        summary=summary,
        operation_id=f"mark_lead_{to.value}",
    )


_stage(LeadState.SQL, "The CRM reports the lead is sales-qualified (sal → sql)")
_stage(LeadState.OPPORTUNITY, "The CRM reports an opportunity (sql → opportunity)")
_stage(LeadState.WON, "The CRM reports the opportunity won")
_stage(LeadState.LOST, "The CRM reports the opportunity lost")
