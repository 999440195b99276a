from __future__ import annotations

from fastapi import APIRouter, status

from baton_handoff.dependencies import RuntimeDep
from baton_handoff.webhooks.schemas import GenericWebhook, IngestResult
from baton_handoff.webhooks.service import ingest
from baton_kit.http import DbSession, Problem

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


class TooManyEvents(Problem):
    status = 413
    title = "Too many events in one call"
    type = "https://baton.dev/problems/too-many-events"


@router.post(
    "/generic",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestResult,
    summary="Ingest a batch of engagement events (generic JSON)",
    description="Stored durably before the 202; replaying an event (same `source` + `external_id`) has no second "
    "effect and is counted in `duplicates`. 503 with `Retry-After` when storage is unavailable: retry.",
    responses={
        413: {"description": "More events than the per-call limit"},
        422: {"description": "Invalid body; `errors` names each field"},
        503: {"description": "Storage unavailable; nothing recorded, retry after `Retry-After`"},
    },
)
async def ingest_generic(body: GenericWebhook, session: DbSession, runtime: RuntimeDep) -> IngestResult:
    limit = runtime.settings.max_webhook_events  # type: ignore[attr-defined]
    if len(body.events) > limit:
        raise TooManyEvents(f"{len(body.events)} events in one call; the limit is {limit}")
    return await ingest(session, source=body.source, events=body.events, outbox=runtime.outbox, now=runtime.clock.now())
