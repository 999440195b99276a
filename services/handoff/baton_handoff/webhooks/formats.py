"""Wire formats: split an already-authenticated body into (dedupe id, document) pairs and map them.

Which field is the dedupe id is fixed by each protocol (HubSpot `eventId`, Segment `messageId`,
Standard Webhooks `webhook-id`, CloudEvents `source` + `id`; Marketo has none, see
`marketo_documents`); everything else about the payload is the source's mapping (`mapping.py`).
Pure functions: no I/O, no clock (the Marketo receipt time is passed in).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from baton_handoff.webhooks.exceptions import InvalidPayload, MalformedJson, UnsupportedMediaType
from baton_handoff.webhooks.mapping import MappedEvent, MappingError, SourceMapping, map_document
from baton_handoff.webhooks.rules import lead_id_from_email, normalise_email
from baton_handoff.webhooks.schemas import GenericEvent

CLOUDEVENTS_JSON = "application/cloudevents+json"
CLOUDEVENTS_BATCH = "application/cloudevents-batch+json"
_CE_HEADERS = ("id", "source", "type", "specversion", "time", "subject", "dataschema")

Documents = list[tuple[str, str, Any]]  # (field path for errors, external id, document)


def parse_json(body: bytes) -> Any:
    """Parse a body already checked for size and depth (`limits.BodyLimits`)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:
        raise MalformedJson(f"body: {error}", extra={"field": "body"}) from None


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _as_list(payload: Any, *, what: str) -> list[Any]:
    if isinstance(payload, list):
        if not payload:
            raise InvalidPayload([("body", f"an empty {what} batch")])
        return payload
    return [payload]


def _external_id(value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
        raise InvalidPayload([(path, "required: the sender's unique id (string or integer)")])
    text = str(value)
    return text if len(text) <= 200 else "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def hubspot_documents(payload: Any) -> Documents:
    """A HubSpot delivery: a JSON array of events (a single object is accepted too); dedupe on `eventId`."""
    documents: Documents = []
    for index, item in enumerate(_as_list(payload, what="HubSpot")):
        path = f"[{index}]"
        if not isinstance(item, dict):
            raise InvalidPayload([(path, "each HubSpot event must be an object")])
        documents.append((path, _external_id(item.get("eventId"), f"{path}.eventId"), item))
    return documents


def segment_documents(payload: Any) -> Documents:
    """One Segment call or `{"batch": [...]}`; dedupe on `messageId`."""
    if isinstance(payload, dict) and isinstance(payload.get("batch"), list):
        items, prefix = _as_list(payload["batch"], what="Segment"), "batch"
    elif isinstance(payload, dict):
        items, prefix = [payload], ""
    else:
        raise InvalidPayload([("body", 'a Segment call (an object) or {"batch": [...]}')])
    documents: Documents = []
    for index, item in enumerate(items):
        path = f"{prefix}[{index}]" if prefix else "body"
        if not isinstance(item, dict):
            raise InvalidPayload([(path, "each Segment call must be an object")])
        if not isinstance(item.get("type"), str):
            raise InvalidPayload([(f"{path}.type", "required: track, identify, page…")])
        documents.append((path, _external_id(item.get("messageId"), f"{path}.messageId"), item))
    return documents


def standard_webhook_documents(payload: Any, *, msg_id: str) -> Documents:
    """One Standard Webhooks message `{type, timestamp, data}`; dedupe on the `webhook-id` header."""
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise InvalidPayload([("type", 'required: a Standard Webhooks payload is {"type", "timestamp", "data"}')])
    return [("body", _external_id(msg_id, "webhook-id"), payload)]


def marketo_documents(payload: Any, *, received_at: datetime) -> Documents:
    """A Marketo "Call Webhook" flow step: one object from Baton's payload template (an array is
    accepted too, for backfills). Marketo sends no event id and calls in the flow step itself, so the
    receipt time is the event's time unless the template gives `occurred_at`, and the dedupe id is the
    template's `event_id` when it has one, else a hash of the body and the minute it arrived: a call
    repeated within that minute (a proxy's retry) counts once."""
    minute = received_at.replace(second=0, microsecond=0).isoformat()
    received = received_at.isoformat()
    documents: Documents = []
    for index, item in enumerate(_as_list(payload, what="Marketo")):
        path = f"[{index}]" if isinstance(payload, list) else "body"
        if not isinstance(item, dict):
            raise InvalidPayload([(path, "each Marketo call is a JSON object (Request Token Encoding: JSON)")])
        if "event_id" in item:
            external_id = _external_id(item["event_id"], f"{path}.event_id" if path != "body" else "event_id")
        else:
            canonical = json.dumps(item, sort_keys=True, separators=(",", ":"))
            external_id = "sha256:" + hashlib.sha256(f"{minute} {canonical}".encode()).hexdigest()
        documents.append((path, external_id, {**item, "received_at": received}))
    return documents


def _cloudevent_id(event: Mapping[str, Any], path: str, *, binary: bool = False) -> str:
    def named(attribute: str) -> str:
        if binary:
            return f"ce-{attribute}"
        return attribute if path == "body" else f"{path}.{attribute}"

    problems = [
        (named(name), "required CloudEvents attribute")
        for name in ("id", "source", "type")
        if not isinstance(event.get(name), str) or not event.get(name)
    ]
    if event.get("specversion") != "1.0":
        problems.append((named("specversion"), 'must be "1.0"'))
    if problems:
        raise InvalidPayload(problems)
    return _external_id(f"{event['source']} {event['id']}", named("id"))


def cloudevent_documents(body: bytes, *, content_type: str | None, headers: Mapping[str, str]) -> Documents:
    """CloudEvents over HTTP: structured (`application/cloudevents+json`), batch
    (`application/cloudevents-batch+json`) or binary mode (`ce-*` headers, the body is `data`).
    Dedupe on `source` + `id`, as the spec defines uniqueness."""
    kind = media_type(content_type)
    if kind == CLOUDEVENTS_JSON:
        event = parse_json(body)
        if not isinstance(event, dict):
            raise InvalidPayload([("body", "a structured CloudEvent is a JSON object")])
        return [("body", _cloudevent_id(event, "body"), event)]
    if kind == CLOUDEVENTS_BATCH:
        events = parse_json(body)
        if not isinstance(events, list) or not events:
            raise InvalidPayload([("body", "a CloudEvents batch is a non-empty JSON array")])
        documents: Documents = []
        for index, event in enumerate(events):
            path = f"[{index}]"
            if not isinstance(event, dict):
                raise InvalidPayload([(path, "each CloudEvent is an object")])
            documents.append((path, _cloudevent_id(event, path), event))
        return documents
    if headers.get("ce-id") is None:
        raise UnsupportedMediaType(
            f"content-type {kind or '(none)'}: send {CLOUDEVENTS_JSON}, {CLOUDEVENTS_BATCH}, "
            "or binary mode (ce-* headers with a JSON body)"
        )
    if kind != "application/json" and not kind.endswith("+json"):
        raise UnsupportedMediaType(f"content-type {kind or '(none)'}: binary-mode data must be JSON")
    event = {name: headers[f"ce-{name}"] for name in _CE_HEADERS if f"ce-{name}" in headers}
    event["datacontenttype"] = kind
    event["data"] = parse_json(body) if body else None
    return [("body", _cloudevent_id(event, "body", binary=True), event)]


def map_documents(documents: Documents, mapping: SourceMapping) -> tuple[list[MappedEvent], int]:
    """Map each document; returns the events and how many were ignored. Every error names its path."""
    events: list[MappedEvent] = []
    ignored = 0
    errors: list[tuple[str, str]] = []
    for path, external_id, document in documents:
        try:
            mapped = map_document(document, mapping, external_id=external_id)
        except MappingError as error:
            errors.append((f"{path}.{error.path}" if path.startswith("[") else error.path, error.message))
            continue
        if mapped is None:
            ignored += 1
        else:
            events.append(mapped)
    if errors:
        raise InvalidPayload(errors)
    return events, ignored


def generic_events(events: list[GenericEvent]) -> list[MappedEvent]:
    """The generic format is Baton's own shape: no mapping table, only the email-derived lead id."""
    return [
        MappedEvent(
            external_id=event.external_id,
            lead_id=event.lead_id or lead_id_from_email(event.email or ""),
            occurred_at=event.occurred_at,
            activity=event.activity,
            email=normalise_email(event.email) if event.email else None,
            properties=event.properties,
            profile=event.profile.model_dump() if event.profile is not None else {},
        )
        for event in events
    ]
