"""What on-call sees of ingestion: responses per webhook format and status, events per outcome.

Labels are the format (the path segment after `/v1/webhooks/`), never the sender's `source`, which a
generic or unsigned CloudEvents sender chooses freely.
"""

from __future__ import annotations

from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "/v1/webhooks/"
FORMATS = frozenset({"generic", "hubspot", "segment", "marketo", "standard", "cloudevents"})

WEBHOOK_RESPONSES = Counter(
    "baton_handoff_webhook_responses_total",
    "Webhook calls answered, by format and HTTP status: 202 stored; 401 a signature or API key a sender got "
    "wrong; 400 malformed JSON, too deep a body or a stale timestamp; 413/415/422 a body refused; 429 "
    "rate-limited; 503 storage unavailable (the sender retries).",
    ["format", "status"],
)
WEBHOOK_EVENTS = Counter(
    "baton_handoff_webhook_events_total",
    "Events in committed webhook calls, by format and outcome (accepted, duplicate, ignored by the mapping).",
    ["format", "outcome"],
)


def webhook_format(path: str) -> str:
    name = path.removeprefix(PREFIX).split("/", 1)[0]
    return name if name in FORMATS else "other"


class WebhookResponses:
    """ASGI middleware: counts every response under `/v1/webhooks/`, including those refused before
    the endpoint runs (body limits, authentication, validation)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        webhook = webhook_format(scope["path"])

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                WEBHOOK_RESPONSES.labels(format=webhook, status=str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counted)
