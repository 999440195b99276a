"""The outbound CRM webhook's deliveries, for the admin: what was sent, what failed and why, and
sending failed ones again once the receiver is fixed (after an outage longer than the retry
schedule, a rotated secret, a wrong URL)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from baton_handoff.crm import delivery
from baton_handoff.crm.delivery import described, status_of
from baton_handoff.crm.exceptions import DeliveryNotFound, DeliveryNotRetryable
from baton_handoff.crm.schemas import (
    DeliveryDetail,
    DeliveryList,
    DeliveryRead,
    DeliveryStatus,
    RetryFailed,
    RetryResult,
)
from baton_handoff.dependencies import AdminKey, RuntimeDep
from baton_handoff.leads.endpoints import AUTH
from baton_handoff.models import CrmDelivery
from baton_kit.http import DbSession

router = APIRouter(prefix="/v1/crm-webhook/deliveries", tags=["crm webhook"])

DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1)]  # a 64-bit row id
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such delivery"}}


async def _get(session: DbSession, delivery_id: int) -> CrmDelivery:
    row = await session.get(CrmDelivery, delivery_id)
    if row is None:
        raise DeliveryNotFound(f"no CRM webhook delivery {delivery_id}")
    return row


@router.get("", response_model=DeliveryList, summary="Outbound CRM webhook deliveries, newest first", responses=AUTH)
async def list_deliveries(
    session: DbSession,
    _principal: AdminKey,
    status: DeliveryStatus | None = None,
    lead_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> DeliveryList:
    rows, total = await delivery.list_deliveries(session, status=status, lead_id=lead_id, limit=limit, offset=offset)
    return DeliveryList(items=[DeliveryRead.model_validate(described(r)) for r in rows], total=total)


@router.get(
    "/{delivery_id}",
    response_model=DeliveryDetail,
    summary="One delivery, with the body it sends",
    responses={**AUTH, **NOT_FOUND},
)
async def get_delivery(delivery_id: DeliveryId, session: DbSession, _principal: AdminKey) -> DeliveryDetail:
    row = await _get(session, delivery_id)
    return DeliveryDetail.model_validate({**described(row), "payload": row.payload})


@router.post(
    "/{delivery_id}/retry",
    response_model=DeliveryRead,
    summary="Send a failed (or still pending) delivery again now, on a fresh retry schedule",
    responses={
        **AUTH,
        **NOT_FOUND,
        409: {
            "description": "Already delivered, or a later delivery of the same lead was delivered or is on its way "
            "(it would be undone)"
        },
    },
)
async def retry_delivery(
    delivery_id: DeliveryId, session: DbSession, runtime: RuntimeDep, _principal: AdminKey
) -> DeliveryRead:
    row = await _get(session, delivery_id)
    if status_of(row) == "delivered":
        raise DeliveryNotRetryable(f"delivery {delivery_id} was delivered at {row.delivered_at:%Y-%m-%dT%H:%M:%SZ}")
    if await delivery.superseded(session, row):
        raise DeliveryNotRetryable(
            f"a later delivery of lead {row.lead_id} was delivered or is on its way; sending this one would undo it"
        )
    delivery.send_again(row, runtime.clock.now())
    return DeliveryRead.model_validate(described(row))


@router.post(
    "/retry",
    response_model=RetryResult,
    summary="Send every failed delivery again (optionally: failed since a time, or of one lead)",
    responses={**AUTH, 422: {"description": "Invalid body (fields named in `errors`)"}},
)
async def retry_failed(
    session: DbSession, runtime: RuntimeDep, _principal: AdminKey, body: RetryFailed | None = None
) -> RetryResult:
    body = body or RetryFailed()  # no body (or `{}`): every failed delivery
    retried, superseded = await delivery.retry_failed(
        session, now=runtime.clock.now(), since=body.since, lead_id=body.lead_id
    )
    return RetryResult(retried=retried, superseded=superseded)
