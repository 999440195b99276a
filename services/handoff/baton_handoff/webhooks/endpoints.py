"""Webhook ingestion endpoints: generic JSON, HubSpot, Segment, Marketo, Standard Webhooks, CloudEvents.

Every call goes: size and depth limits (middleware, before the body is read in full) → signature
on the raw body (signed sources: HubSpot, Standard Webhooks, CloudEvents with secrets) or an API key
with the `ingest` scope (generic, Segment, Marketo, unsigned CloudEvents) → rate limit per source or key →
parse → map (per-source table) → store receipts and outbox rows in the request's transaction →
202 after commit. "Durable" means the outbox row is committed (not a broker ack): the relay
publishes it, even if Kafka is down now; storage down → 503 + Retry-After (kit's handler).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Path, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from baton_handoff.auth import Principal, Scope, authenticate, read_presented_key, require_scope
from baton_handoff.dependencies import IngestKey, RuntimeDep
from baton_handoff.settings import HandoffSettings
from baton_handoff.webhooks import examples
from baton_handoff.webhooks.exceptions import (
    InvalidSignature,
    RateLimited,
    ReservedSource,
    StaleTimestamp,
    TooManyEvents,
    UnknownSource,
)
from baton_handoff.webhooks.formats import (
    Documents,
    cloudevent_documents,
    generic_events,
    hubspot_documents,
    map_documents,
    marketo_documents,
    parse_json,
    segment_documents,
    standard_webhook_documents,
)
from baton_handoff.webhooks.limits import BodyLimits, Limit, TokenBuckets
from baton_handoff.webhooks.mapping import Mappings, SourceMapping, load_mappings
from baton_handoff.webhooks.metrics import WEBHOOK_EVENTS, WebhookResponses, webhook_format
from baton_handoff.webhooks.schemas import GenericWebhook, IngestResult
from baton_handoff.webhooks.service import EmailOwners, ingest
from baton_handoff.webhooks.signatures import SignatureError, verify_hubspot_v3, verify_standard_webhooks
from baton_handoff.webhooks.signatures import StaleTimestamp as StaleSignature
from baton_kit.db import after_commit
from baton_kit.http import DbSession
from baton_kit.runtime import Runtime
from baton_kit.webhooks import standard_webhooks_key

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

HUBSPOT = "hubspot"
SEGMENT = "segment"
MARKETO = "marketo"
SourceName = Annotated[
    str, Path(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9._-]*$", description="Configured source name.")
]


@dataclass
class Ingestion:
    """Per-process ingestion state, built in `create_app` (a bad mappings file stops the start)."""

    mappings: Mappings
    secrets: dict[str, list[str]]
    buckets: TokenBuckets
    max_events: int
    public_base_url: str | None
    owners: EmailOwners = field(default_factory=EmailOwners)

    def mapping(self, source: str, *, default: str) -> SourceMapping:
        return self.mappings.sources.get(source) or self.mappings.sources[default]

    def check_generic_source(self, source: str) -> None:
        """Refuse a generic call in the name of a signed source or of another format: an `ingest` key
        could otherwise store events as that source and, with its ids, make the real ones duplicates."""
        if source in (HUBSPOT, SEGMENT, MARKETO) or source in self.secrets:
            where = "a signed source" if source in self.secrets or source == HUBSPOT else "another endpoint's format"
            raise ReservedSource(
                f"source {source!r} is {where}: send its events to its own endpoint", extra={"field": "source"}
            )

    def secrets_of(self, source: str) -> list[str]:
        secrets = self.secrets.get(source)
        if not secrets:
            raise UnknownSource(f"no signing secrets are configured for source {source!r} (WEBHOOK_SECRETS)")
        return secrets

    def limit(self, key: str, runtime: Runtime) -> None:
        wait = self.buckets.take(key, now=runtime.clock.now().timestamp())
        if wait > 0:
            raise RateLimited(f"too many calls for {key!r}; retry after {wait:.1f}s", retry_after=wait)


def install_ingestion(app: FastAPI, settings: HandoffSettings) -> None:
    """Mount the webhook routes and the body limits middleware (every route's); load and check the
    source mappings."""
    mappings = load_mappings(settings.webhook_mappings_path)
    for required in (HUBSPOT, SEGMENT, MARKETO, "standard-webhooks", "cloudevents"):
        if required not in mappings.sources:
            raise ValueError(f"webhook mappings: sources.{required} is required (the default for its format)")
    for source, secrets in settings.webhook_secrets.items():
        for secret in secrets:
            standard_webhooks_key(secret)  # a malformed whsec_ secret stops the start, naming the source
            if not secret:
                raise ValueError(f"WEBHOOK_SECRETS: an empty secret for source {source!r}")
    app.state.ingestion = Ingestion(
        mappings=mappings,
        secrets={name: list(values) for name, values in settings.webhook_secrets.items()},
        buckets=TokenBuckets(rate=settings.webhook_rate_per_second, burst=settings.webhook_rate_burst),
        max_events=settings.max_webhook_events,
        public_base_url=settings.webhook_public_base_url,
    )
    app.add_middleware(
        BodyLimits,
        limits=[
            Limit("/v1/webhooks/", settings.webhook_max_body_bytes, settings.webhook_max_json_depth),
            Limit("/", settings.api_max_body_bytes, settings.webhook_max_json_depth),
        ],
    )
    app.add_middleware(WebhookResponses)  # outermost: counts what the limits refuse too
    app.include_router(router)


def _ingestion(request: Request) -> Ingestion:
    state: Ingestion = request.app.state.ingestion
    return state


async def _store(
    documents: Documents, request: Request, *, source: str, default: str, session: AsyncSession, runtime: Runtime
) -> IngestResult:
    """Map `documents` by the source's mapping (else `default`'s) and store them."""
    state = _ingestion(request)
    if len(documents) > state.max_events:
        raise TooManyEvents(f"{len(documents)} events in one call; the limit is {state.max_events}")
    events, ignored = map_documents(documents, state.mapping(source, default=default))
    result = await ingest(
        session,
        source=source,
        events=events,
        outbox=runtime.outbox,
        now=runtime.clock.now(),
        ignored=ignored,
        known=state.owners,
    )
    return _counted(request, session, result)


def _counted(request: Request, session: AsyncSession, result: IngestResult) -> IngestResult:
    """Count the call's events by outcome once its transaction commits (a 503 counts nothing), under
    the same format label as the middleware's response count."""
    webhook = webhook_format(request.url.path)

    def count() -> None:
        for outcome, n in (
            ("accepted", result.accepted),
            ("duplicate", result.duplicates),
            ("ignored", result.ignored),
        ):
            if n:
                WEBHOOK_EVENTS.labels(format=webhook, outcome=outcome).inc(n)

    after_commit(session, count)
    return result


async def _keyed_body(request: Request, principal: Principal, runtime: Runtime) -> Any:
    """The parsed body of a call that authenticates with an API key, once the key's rate allows it."""
    _ingestion(request).limit(f"key:{principal.key_id}", runtime)
    return parse_json(await request.body())


def _signature_failed(error: SignatureError | StaleSignature) -> InvalidSignature | StaleTimestamp:
    if isinstance(error, StaleSignature):
        return StaleTimestamp(str(error))
    return InvalidSignature(str(error))


def _verify_standard(
    secrets: list[str],
    *,
    msg_id: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    runtime: Runtime,
) -> None:
    """Check a Standard Webhooks signature (`webhook-*` headers); a failure is a 401 (or a 400 when stale)."""
    try:
        verify_standard_webhooks(
            secrets=secrets, msg_id=msg_id, timestamp=timestamp, signature=signature, body=body, now=runtime.clock.now()
        )
    except (SignatureError, StaleSignature) as error:
        raise _signature_failed(error) from None


COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed JSON, nested deeper than the limit, or (signed sources) a stale timestamp"},
    413: {"description": "Body larger than the limit, or more events than the per-call limit"},
    422: {"description": "Invalid body; `errors` names each field by its path"},
    429: {"description": "Rate limit of this source or API key exceeded; retry after `Retry-After`"},
    503: {"description": "Storage unavailable; nothing recorded, retry after `Retry-After`"},
}
KEYED_ERRORS: dict[int | str, dict[str, Any]] = {
    **COMMON_ERRORS,
    401: {"description": "Missing or unknown API key"},
    403: {"description": "The API key lacks the `ingest` scope"},
}
SIGNED_ERRORS: dict[int | str, dict[str, Any]] = {
    **COMMON_ERRORS,
    401: {"description": "Missing or invalid signature (no active secret of the source matches)"},
    404: {"description": "No signing secret configured for this source"},
}
ACCEPTED = "Stored durably (outbox row committed) before the 202; a replayed id has no second effect."


def _body(content_type: str, schema: dict[str, Any], example: Any) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {content_type: {"schema": schema, "example": example}}}}


@router.post(
    "/generic",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestResult,
    summary="Ingest a batch of engagement events (generic JSON)",
    description="Stored durably before the 202; replaying an event (same `source` + `external_id`) has no second "
    "effect and is counted in `duplicates`. 503 with `Retry-After` when storage is unavailable: retry. "
    "Needs an API key with the `ingest` scope; rate-limited per key.",
    responses={
        **KEYED_ERRORS,
        422: {"description": "Invalid body (`errors` names each field), or a `source` reserved for its own endpoint"},
    },
)
async def ingest_generic(
    body: GenericWebhook, request: Request, principal: IngestKey, session: DbSession, runtime: RuntimeDep
) -> IngestResult:
    state = _ingestion(request)
    state.limit(f"key:{principal.key_id}", runtime)
    if len(body.events) > state.max_events:
        raise TooManyEvents(f"{len(body.events)} events in one call; the limit is {state.max_events}")
    state.check_generic_source(body.source)
    result = await ingest(
        session,
        source=body.source,
        events=generic_events(body.events),
        outbox=runtime.outbox,
        now=runtime.clock.now(),
        known=state.owners,
    )
    return _counted(request, session, result)


@router.post(
    "/hubspot",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestResult,
    summary="Ingest a HubSpot webhook delivery (v3 signature, batched events)",
    description="HubSpot app webhooks: a JSON array of subscription events, signed with `X-HubSpot-Signature-v3` "
    "(HMAC-SHA256 of method + URI + body + timestamp with the app's client secret, 5-minute window). "
    "Each event is de-duplicated on `eventId` and mapped by the `hubspot` mapping (form conversions, opt-outs, "
    "bounces, profile properties). " + ACCEPTED,
    responses=SIGNED_ERRORS,
    openapi_extra=_body("application/json", examples.HUBSPOT_SCHEMA, examples.HUBSPOT),
)
async def ingest_hubspot(
    request: Request,
    session: DbSession,
    runtime: RuntimeDep,
    signature: Annotated[str | None, Header(alias="X-HubSpot-Signature-v3")] = None,
    timestamp: Annotated[str | None, Header(alias="X-HubSpot-Request-Timestamp", description="Epoch ms")] = None,
) -> IngestResult:
    state = _ingestion(request)
    body = await request.body()
    uri = str(request.url)
    if state.public_base_url:
        uri = (
            state.public_base_url.rstrip("/")
            + request.url.path
            + (f"?{request.url.query}" if request.url.query else "")
        )
    try:
        verify_hubspot_v3(
            secrets=state.secrets_of(HUBSPOT),
            method=request.method,
            uri=uri,
            body=body,
            signature=signature,
            timestamp=timestamp,
            now=runtime.clock.now(),
        )
    except (SignatureError, StaleSignature) as error:
        raise _signature_failed(error) from None
    state.limit(f"source:{HUBSPOT}", runtime)
    documents = hubspot_documents(parse_json(body))
    return await _store(documents, request, source=HUBSPOT, default=HUBSPOT, session=session, runtime=runtime)


@router.post(
    "/segment",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestResult,
    summary="Ingest Segment-style track / identify / page calls (one call or a batch)",
    description='A Segment spec call, or `{"batch": [...]}`. `track` → engagement (event name mapped to an '
    "activity), `identify` → profile, `page` → page views (pricing pages recognised); others are ignored. "
    "De-duplicated on `messageId`; the lead is `userId`, else the email's derived id; anonymous calls are "
    "ignored. Needs an API key with the `ingest` scope. " + ACCEPTED,
    responses=KEYED_ERRORS,
    openapi_extra=_body("application/json", examples.SEGMENT_SCHEMA, examples.SEGMENT),
)
async def ingest_segment(
    request: Request, principal: IngestKey, session: DbSession, runtime: RuntimeDep
) -> IngestResult:
    documents = segment_documents(await _keyed_body(request, principal, runtime))
    return await _store(documents, request, source=SEGMENT, default=SEGMENT, session=session, runtime=runtime)


@router.post(
    "/marketo",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestResult,
    summary="Ingest a Marketo Engage webhook call (Baton's payload template, one lead per call)",
    description="A smart campaign's Call Webhook flow step, POST with Request Token Encoding JSON and Baton's "
    "payload template (README, Marketo). Marketo signs nothing: set a custom header `Authorization: Bearer <key>` "
    "with an API key of the `ingest` scope. The lead is `marketo-<lead_id>`; the activity is the template's "
    "`activity` (a program token such as `demo_request`), else the trigger (Fills Out Form → form_submit, "
    "Clicks Link in Email → email_click…). Marketo sends no event id: the call's time is when it arrived, and "
    "an identical call within the same minute counts once (`event_id` in the template, if any, is used "
    "instead). " + ACCEPTED,
    responses=KEYED_ERRORS,
    openapi_extra=_body("application/json", examples.MARKETO_SCHEMA, examples.MARKETO),
)
async def ingest_marketo(
    request: Request, principal: IngestKey, session: DbSession, runtime: RuntimeDep
) -> IngestResult:
    body = await _keyed_body(request, principal, runtime)
    documents = marketo_documents(body, received_at=runtime.clock.now())
    return await _store(documents, request, source=MARKETO, default=MARKETO, session=session, runtime=runtime)


@router.post(
    "/standard/{source}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestResult,
    summary="Ingest a Standard Webhooks message from a configured source",
    description="Signed per Standard Webhooks 1.0: `webhook-id`, `webhook-timestamp` (epoch s, 5-minute window), "
    "`webhook-signature` (`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, several space-separated during a key "
    "rotation). De-duplicated on `webhook-id`. Mapped by the source's own mapping, else `standard-webhooks` "
    "(`data` in the generic event shape). " + ACCEPTED,
    responses=SIGNED_ERRORS,
    openapi_extra=_body("application/json", examples.STANDARD_SCHEMA, examples.STANDARD_WEBHOOK),
)
async def ingest_standard_webhook(
    source: SourceName,
    request: Request,
    session: DbSession,
    runtime: RuntimeDep,
    webhook_id: Annotated[str | None, Header(alias="webhook-id")] = None,
    webhook_timestamp: Annotated[str | None, Header(alias="webhook-timestamp", description="Epoch seconds")] = None,
    webhook_signature: Annotated[str | None, Header(alias="webhook-signature")] = None,
) -> IngestResult:
    state = _ingestion(request)
    body = await request.body()
    _verify_standard(
        state.secrets_of(source),
        msg_id=webhook_id,
        timestamp=webhook_timestamp,
        signature=webhook_signature,
        body=body,
        runtime=runtime,
    )
    assert webhook_id is not None
    state.limit(f"source:{source}", runtime)
    documents = standard_webhook_documents(parse_json(body), msg_id=webhook_id)
    return await _store(
        documents, request, source=source, default="standard-webhooks", session=session, runtime=runtime
    )


@router.post(
    "/cloudevents/{source}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestResult,
    summary="Ingest CloudEvents over HTTP (structured, binary or batch mode)",
    description="Structured mode (`application/cloudevents+json`), batch mode "
    "(`application/cloudevents-batch+json`, a JSON array) or binary mode (`ce-id`, `ce-source`, `ce-type`, "
    "`ce-specversion` headers, the JSON body is `data`). De-duplicated on CloudEvents `source` + `id`. When the "
    "source has signing secrets, the body must carry a Standard Webhooks signature (`webhook-*` headers); "
    "otherwise the call needs an API key with the `ingest` scope. "
    "Mapped by the source's own mapping, else `cloudevents` (`subject` = lead id, `data` a generic event). " + ACCEPTED,
    responses={
        **SIGNED_ERRORS,
        401: {"description": "Signed source: invalid signature. Unsigned source: missing or unknown API key"},
        403: {"description": "Unsigned source: the API key lacks the `ingest` scope"},
        404: {"description": "Not returned: a source without secrets is accepted with an `ingest` API key"},
        415: {"description": "Not a CloudEvents content mode this endpoint reads"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/cloudevents+json": {"schema": examples.CLOUDEVENT_SCHEMA, "example": examples.CLOUDEVENT},
                "application/cloudevents-batch+json": {
                    "schema": {"type": "array", "items": examples.CLOUDEVENT_SCHEMA},
                    "example": [examples.CLOUDEVENT],
                },
                "application/json": {
                    "schema": {"type": "object", "description": "Binary mode: `data`, with `ce-*` headers"},
                    "example": examples.CLOUDEVENT["data"],
                },
            },
        }
    },
)
async def ingest_cloudevents(
    source: SourceName,
    request: Request,
    session: DbSession,
    runtime: RuntimeDep,
    webhook_id: Annotated[str | None, Header(alias="webhook-id")] = None,
    webhook_timestamp: Annotated[str | None, Header(alias="webhook-timestamp")] = None,
    webhook_signature: Annotated[str | None, Header(alias="webhook-signature")] = None,
) -> IngestResult:
    state = _ingestion(request)
    body = await request.body()
    key = f"source:{source}"
    if not state.secrets.get(source):  # an unsigned source authenticates with an API key instead
        presented = read_presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
        principal = require_scope(await authenticate(session, presented, now=runtime.clock.now()), Scope.INGEST)
        key = f"key:{principal.key_id}"
    else:
        _verify_standard(
            state.secrets[source],
            msg_id=webhook_id,
            timestamp=webhook_timestamp,
            signature=webhook_signature,
            body=body,
            runtime=runtime,
        )
    state.limit(key, runtime)
    documents = cloudevent_documents(body, content_type=request.headers.get("content-type"), headers=request.headers)
    return await _store(documents, request, source=source, default="cloudevents", session=session, runtime=runtime)
