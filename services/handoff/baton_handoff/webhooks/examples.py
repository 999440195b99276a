"""Request examples and schemas for the OpenAPI document of the raw-body (signed) webhook endpoints.

Their bodies are read raw (the signature covers the exact bytes), so FastAPI cannot derive the
schema from a model; these describe them. Realistic full samples live in `tests/fixtures/webhooks/`.
"""

from __future__ import annotations

from typing import Any

HUBSPOT_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["eventId", "subscriptionType", "objectId", "occurredAt"],
    "properties": {
        "eventId": {"type": "integer", "description": "De-duplication key"},
        "subscriptionId": {"type": "integer"},
        "portalId": {"type": "integer"},
        "appId": {"type": "integer"},
        "occurredAt": {"type": "integer", "description": "Epoch milliseconds"},
        "subscriptionType": {"type": "string", "examples": ["contact.propertyChange", "contact.creation"]},
        "attemptNumber": {"type": "integer"},
        "objectId": {"type": "integer", "description": "The HubSpot contact id"},
        "propertyName": {"type": "string"},
        "propertyValue": {"type": "string"},
        "changeSource": {"type": "string"},
    },
}
HUBSPOT_SCHEMA: dict[str, Any] = {"type": "array", "items": HUBSPOT_EVENT_SCHEMA, "minItems": 1}
HUBSPOT: list[dict[str, Any]] = [
    {
        "eventId": 3817730133,
        "subscriptionId": 2381921,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": 1794999780000,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": 10451,
        "propertyName": "recent_conversion_event_name",
        "propertyValue": "Demo request",
        "changeSource": "FORM",
    }
]

SEGMENT_CALL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "messageId"],
    "properties": {
        "type": {"type": "string", "enum": ["track", "identify", "page", "screen", "group", "alias"]},
        "messageId": {"type": "string", "description": "De-duplication key"},
        "userId": {"type": "string"},
        "anonymousId": {"type": "string"},
        "event": {"type": "string", "description": "track: the event name"},
        "properties": {"type": "object"},
        "traits": {"type": "object", "description": "identify: the profile"},
        "context": {"type": "object"},
        "timestamp": {"type": "string", "format": "date-time"},
    },
}
SEGMENT_SCHEMA: dict[str, Any] = {
    "oneOf": [
        SEGMENT_CALL_SCHEMA,
        {
            "type": "object",
            "required": ["batch"],
            "properties": {"batch": {"type": "array", "items": SEGMENT_CALL_SCHEMA}},
        },
    ]
}
SEGMENT: dict[str, Any] = {
    "type": "track",
    "event": "Demo Requested",
    "userId": "usr_8f2a61",
    "messageId": "ajs-next-1794999780123-4c1d",
    "timestamp": "2026-11-23T09:43:00.123Z",
    "properties": {"plan": "team", "seats": 25},
    "context": {
        "traits": {"email": "maria.lopez@acme-analytics.example"},
        "page": {"url": "https://northwind.example/demo"},
    },
}

_TEXT: dict[str, Any] = {"type": "string"}
MARKETO_CALL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Baton's Marketo payload template, as Marketo fills it in (README, Marketo). Keys are Baton's; "
    "any other key is kept out of the event.",
    "properties": {
        "lead_id": {"type": ["string", "integer"], "description": "`{{lead.Id}}`: the lead is `marketo-<id>`"},
        "email": _TEXT,
        "first_name": _TEXT,
        "last_name": _TEXT,
        "title": _TEXT,
        "department": _TEXT,
        "company": _TEXT,
        "industry": _TEXT,
        "employees": {"type": ["string", "integer"]},
        "country": _TEXT,
        "activity": {"type": "string", "description": "A program token naming Baton's activity, e.g. `demo_request`"},
        "trigger": {"type": "string", "description": "`{{trigger.Trigger Name}}`, used when `activity` is empty"},
        "asset": _TEXT,
        "campaign": _TEXT,
        "campaign_id": {"type": ["string", "integer"]},
        "occurred_at": {"type": "string", "format": "date-time", "description": "Default: when Baton received it"},
        "event_id": {"type": ["string", "integer"], "description": "A unique id, when the template has one"},
    },
}
MARKETO_SCHEMA: dict[str, Any] = {"oneOf": [MARKETO_CALL_SCHEMA, {"type": "array", "items": MARKETO_CALL_SCHEMA}]}
MARKETO: dict[str, Any] = {
    "lead_id": "1048576",
    "email": "maria.lopez@acme-analytics.example",
    "first_name": "Maria",
    "last_name": "Lopez",
    "title": "Director of Data Engineering",
    "department": "Engineering",
    "company": "Acme Analytics",
    "industry": "Computer Software",
    "employees": "420",
    "country": "US",
    "activity": "demo_request",
    "trigger": "Fills Out Form",
    "asset": "Demo Request Form",
    "campaign_id": "5120",
    "campaign": "Demo request - send to Baton",
}

STANDARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "timestamp", "data"],
    "properties": {
        "type": {"type": "string", "examples": ["form.submitted"]},
        "timestamp": {"type": "string", "format": "date-time"},
        "data": {"type": "object", "description": "With the default mapping: one event in the generic shape"},
    },
}
STANDARD_WEBHOOK: dict[str, Any] = {
    "type": "form.submitted",
    "timestamp": "2026-11-23T09:43:00Z",
    "data": {
        "email": "maria.lopez@acme-analytics.example",
        "activity": "contact_sales",
        "occurred_at": "2026-11-23T09:42:58Z",
        "properties": {"form": "Talk to sales"},
        "profile": {"first_name": "María", "company": "Acme Analytics", "country": "ES"},
    },
}

CLOUDEVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["specversion", "id", "source", "type"],
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {"type": "string", "description": "Unique per `source`: with it, the de-duplication key"},
        "source": {"type": "string"},
        "type": {"type": "string"},
        "time": {"type": "string", "format": "date-time"},
        "subject": {"type": "string"},
        "datacontenttype": {"type": "string"},
        "data": {"type": "object"},
    },
}
CLOUDEVENT: dict[str, Any] = {
    "specversion": "1.0",
    "id": "att-7d1c9e",
    "source": "https://api.webinarly.example/webinars/wbn_204",
    "type": "com.webinarly.attendee.attended",
    "time": "2026-11-23T16:05:00Z",
    "datacontenttype": "application/json",
    "data": {
        "webinar": {"id": "wbn_204", "title": "Data observability in 30 minutes"},
        "attendee": {"email": "maria.lopez@acme-analytics.example", "first_name": "María", "minutes_watched": 41},
    },
}
