"""On-call delivery: sends committed `sla_alert_deliveries` rows to PagerDuty, Alertmanager, Slack and a
Standard-Webhooks-signed generic webhook.

Delivery is driven from committed state, never from the consumer's or timer's transaction: a row
is leased (`next_attempt_at` pushed ahead, claimed `FOR UPDATE SKIP LOCKED`), sent, then marked.
A crash between sending and marking sends it again after the lease: delivery is at least once,
and every channel de-duplicates on a stable key (PagerDuty `dedup_key`, Alertmanager's label set,
the webhook's `webhook-id`). 429, 5xx, 408 and timeouts are retried with exponential backoff (a
429's `Retry-After` is honoured); other 4xx and the last failed try leave a dead-letter row
(`state = dead`, `last_error`). Secrets (routing key, Slack URL, webhook secret) come from
settings as `SecretStr`, and errors are recorded as status codes or exception class names only,
so neither logs nor the table ever hold one.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import structlog
from prometheus_client import Counter, Histogram
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from baton_contracts.definitions.sla import Channel
from baton_kit.aio import wait_any
from baton_kit.clock import Clock
from baton_kit.db import read_transaction, transaction
from baton_kit.webhook_client import Answer, Unreachable, WebhookClient
from baton_kit.webhooks import retry_after_seconds, standard_webhooks_headers
from baton_sla_monitor.models import AlertDelivery, DeliveryState

log = structlog.get_logger(__name__)

DELIVERIES = Counter(
    "baton_sla_monitor_alert_deliveries_total",
    "Alert delivery attempts by channel and outcome (sent, retry, dead, skipped).",
    ["channel", "outcome"],
)
for _channel in get_args(
    Channel
):  # every series at 0 from the start: an alert on `increase(...) > 0` sees the first one
    for _outcome in ("sent", "retry", "dead", "skipped"):
        DELIVERIES.labels(channel=_channel, outcome=_outcome)
DELIVERY_SECONDS = Histogram(
    "baton_sla_monitor_alert_delivery_seconds",
    "Time of one delivery attempt.",
    ["channel"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
_WEBHOOK_IDS = uuid.UUID("0c9e1d55-54a3-4f55-8d3c-2f7e3c7b1a10")


@dataclass(frozen=True)
class ChannelConfig:
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    pagerduty_routing_key: SecretStr | None = None
    alertmanager_url: str | None = None
    slack_webhook_url: SecretStr | None = None
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    max_attempts: int = 8
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 300.0
    timeout_seconds: float = 10.0
    lease_seconds: float = 30.0

    def configured(self, channel: str) -> bool:
        return {
            "pagerduty": self.pagerduty_routing_key is not None,
            "alertmanager": self.alertmanager_url is not None,
            "slack": self.slack_webhook_url is not None,
            "webhook": self.webhook_url is not None and self.webhook_secret is not None,
        }.get(channel, False)


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str]


class Permanent(Exception):
    """Not worth retrying (a 4xx other than 408/429): dead-lettered at once."""


class Retryable(Exception):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --- wire formats (pure) -----------------------------------------------------------------------


def summary(alert: dict[str, Any]) -> str:
    step = alert["step"]
    what = {"breach": "breached"}.get(step, step.replace("_", " "))
    rep = alert.get("rep_id") or "unassigned"
    return (
        f"SLA {alert['kind']} ({alert['policy']}) {what} for lead {alert['lead_id']}, rep {rep}, due {alert['due_at']}"
    )


def pagerduty_event(alert: dict[str, Any], *, routing_key: str) -> dict[str, Any]:
    """PagerDuty Events API v2: one incident per (clock, step), resolved by the same `dedup_key`."""
    if alert["action"] == "resolve":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": alert["dedup_key"]}
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": alert["dedup_key"],
        "payload": {
            "summary": summary(alert)[:1024],
            "source": "baton-sla-monitor",
            "severity": alert["severity"],
            "timestamp": alert["at"],
            "component": alert["kind"],
            "group": alert.get("team_id") or "unassigned",
            "class": alert["step"],
            "custom_details": {
                k: alert.get(k)
                for k in ("lead_id", "rep_id", "team_id", "manager_id", "policy", "due_at", "step_due_at", "target")
            },
        },
    }


ALERTMANAGER_HOLD = timedelta(days=7)
"""How long a firing SLA alert stays firing in Alertmanager without Baton's resolve. Alertmanager ends an
alert that has no `endsAt` after its `resolve_timeout` (5 minutes by default), which would tell
on-call an unhandled breach was resolved; Baton posts each alert once and resolves it explicitly."""


def alertmanager_alerts(alert: dict[str, Any]) -> list[dict[str, Any]]:
    """Alertmanager `POST /api/v2/alerts`: the label set identifies the alert; `endsAt` resolves it (a
    trigger's `endsAt` is `ALERTMANAGER_HOLD` ahead, so it fires until Baton's resolve)."""
    labels = {
        "alertname": "BatonSlaStep",
        "service": "baton-sla-monitor",
        "severity": alert["severity"],
        "kind": alert["kind"],
        "policy": alert["policy"],
        "step": alert["step"],
        "lead_id": alert["lead_id"],
        "clock_id": alert["clock_id"],
    }
    body: dict[str, Any] = {
        "labels": labels,
        "annotations": {"summary": summary(alert), "rep_id": alert.get("rep_id") or "", "due_at": alert["due_at"]},
        "startsAt": alert["at"] if alert["action"] == "trigger" else alert.get("step_due_at") or alert["at"],
        "generatorURL": f"/v1/leads/{alert['lead_id']}/clocks",
    }
    if alert["action"] == "resolve":
        body.pop("startsAt")
        body["endsAt"] = alert["at"]
    else:
        body["endsAt"] = (datetime.fromisoformat(body["startsAt"]) + ALERTMANAGER_HOLD).isoformat()
    return [body]


def slack_message(alert: dict[str, Any]) -> dict[str, Any]:
    if alert["action"] == "resolve":
        return {"text": f":white_check_mark: SLA {alert['kind']} for lead {alert['lead_id']} handled; alerts resolved."}
    icon = {"warning": ":hourglass_flowing_sand:", "error": ":rotating_light:", "critical": ":fire:"}
    return {"text": f"{icon.get(alert['severity'], '')} {summary(alert)}".strip()}


def standard_webhook(alert: dict[str, Any], *, msg_id: str, secret: str, now: datetime) -> tuple[bytes, dict[str, str]]:
    """The generic channel: a Standard-Webhooks-signed `{type, timestamp, data}` body."""
    event_type = "baton.sla.alert_triggered" if alert["action"] == "trigger" else "baton.sla.alert_resolved"
    body = json.dumps({"type": event_type, "timestamp": now.isoformat(), "data": alert}, separators=(",", ":")).encode()
    return body, standard_webhooks_headers(secret=secret, msg_id=msg_id, now=now, body=body)


def build_request(
    delivery_id: str, channel: str, alert: dict[str, Any], config: ChannelConfig, *, now: datetime
) -> Request:
    json_headers = {"content-type": "application/json"}
    if channel == "pagerduty":
        assert config.pagerduty_routing_key is not None
        body = pagerduty_event(alert, routing_key=config.pagerduty_routing_key.get_secret_value())
        return Request(config.pagerduty_url, json.dumps(body).encode(), json_headers)
    if channel == "alertmanager":
        assert config.alertmanager_url is not None
        url = config.alertmanager_url.rstrip("/") + "/api/v2/alerts"
        return Request(url, json.dumps(alertmanager_alerts(alert)).encode(), json_headers)
    if channel == "slack":
        assert config.slack_webhook_url is not None
        return Request(
            config.slack_webhook_url.get_secret_value(), json.dumps(slack_message(alert)).encode(), json_headers
        )
    if channel == "webhook":
        assert config.webhook_url is not None
        assert config.webhook_secret is not None
        msg_id = "msg_" + uuid.uuid5(_WEBHOOK_IDS, delivery_id).hex
        body_bytes, headers = standard_webhook(
            alert, msg_id=msg_id, secret=config.webhook_secret.get_secret_value(), now=now
        )
        return Request(config.webhook_url, body_bytes, headers)
    raise Permanent(f"unknown channel {channel}")


async def _resolves_after_their_alerts(
    session: AsyncSession, rows: list[AlertDelivery], *, now: datetime
) -> list[AlertDelivery]:
    """`rows` without the resolves whose alerts are not out yet: a resolve goes to a channel only once
    no alert of its clock on that channel is still pending, or a trigger that failed once would reach
    PagerDuty after its resolve and leave an incident open on a lead that was handled. A held resolve
    waits until that alert's next try (it is checked again then)."""
    resolves = [row for row in rows if row.action == "resolve"]
    if not resolves:
        return rows
    pending = (
        await session.execute(
            select(AlertDelivery.delivery_id, AlertDelivery.next_attempt_at).where(
                AlertDelivery.state == DeliveryState.PENDING,
                AlertDelivery.action != "resolve",
                AlertDelivery.channel.in_({row.channel for row in resolves}),
            )
        )
    ).all()
    held: set[str] = set()
    for row in resolves:
        prefix = _alerts_of(row)
        waits = [at for delivery_id, at in pending if delivery_id.startswith(prefix)]
        if waits:
            row.next_attempt_at = max(min(waits), now)
            held.add(row.delivery_id)
    return [row for row in rows if row.delivery_id not in held]


def _alerts_of(resolve: AlertDelivery) -> str:
    """The `delivery_id` prefix of every delivery of the resolve's clock on its channel."""
    return f"{resolve.channel}/{resolve.alert['clock_id']}/"


def backoff(attempts: int, config: ChannelConfig) -> float:
    """Seconds before try `attempts + 1`: base * 2^(attempts-1), capped."""
    return float(min(config.backoff_seconds * 2 ** max(attempts - 1, 0), config.max_backoff_seconds))


# --- the worker --------------------------------------------------------------------------------


class DeliveryWorker:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        config: ChannelConfig,
        batch_size: int = 50,
        max_sleep_seconds: float = 2.0,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.config = config
        self.batch_size = batch_size
        self.max_sleep_seconds = max_sleep_seconds
        self.wake = asyncio.Event()

    def notify(self) -> Callable[[], None]:
        return self.wake.set

    async def run(self, stop: asyncio.Event) -> None:
        client = WebhookClient(timeout_seconds=self.config.timeout_seconds)
        try:
            backoff_seconds = 0.1
            while not stop.is_set():
                self.wake.clear()
                try:
                    delay = await self.pass_once(client)
                    backoff_seconds = 0.1
                except Exception:
                    log.warning("alert delivery pass failed; retrying", exc_info=True)
                    delay, backoff_seconds = backoff_seconds, min(backoff_seconds * 2, 10.0)
                await wait_any(stop, self.wake, timeout=delay)
        finally:
            await client.aclose()

    async def pass_once(self, client: WebhookClient) -> float:
        """Lease a batch, send it, record outcomes; returns seconds until the next pending try."""
        now = self.clock.now()
        lease_until = now + timedelta(seconds=self.config.lease_seconds)
        async with transaction(self.sessions) as session:
            rows = list(
                await session.scalars(
                    select(AlertDelivery)
                    .where(AlertDelivery.state == DeliveryState.PENDING, AlertDelivery.next_attempt_at <= now)
                    .order_by(AlertDelivery.next_attempt_at)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            )
            rows = await _resolves_after_their_alerts(session, rows, now=now)
            leased = [(r.delivery_id, r.channel, dict(r.alert), r.attempts) for r in rows]
            for row in rows:
                row.next_attempt_at = lease_until
        if leased:
            outcomes = await asyncio.gather(*(self._send(client, *item) for item in leased))
            async with transaction(self.sessions) as session:
                for (delivery_id, _channel, _alert, attempts), (state, error, retry_after) in zip(
                    leased, outcomes, strict=True
                ):
                    marked = await session.get(AlertDelivery, delivery_id, with_for_update=True)
                    if marked is None or marked.state != DeliveryState.PENDING:
                        continue
                    done_at = self.clock.now()
                    row = marked
                    row.attempts = attempts + 1
                    row.last_error = error
                    if state == DeliveryState.PENDING:
                        wait = retry_after if retry_after is not None else backoff(row.attempts, self.config)
                        row.next_attempt_at = done_at + timedelta(seconds=wait)
                    else:
                        row.state = state
                        row.sent_at = done_at if state == DeliveryState.SENT else None
            if len(leased) == self.batch_size:
                return 0.0
        async with read_transaction(self.sessions) as session:  # on SQLite, without taking the write lock
            upcoming: datetime | None = await session.scalar(
                select(func.min(AlertDelivery.next_attempt_at)).where(AlertDelivery.state == DeliveryState.PENDING)
            )
        if upcoming is None:
            return self.max_sleep_seconds
        return min(max((upcoming - self.clock.now()).total_seconds(), 0.0), self.max_sleep_seconds)

    async def _send(
        self, client: WebhookClient, delivery_id: str, channel: str, alert: dict[str, Any], attempts: int
    ) -> tuple[DeliveryState, str | None, float | None]:
        if not self.config.configured(channel):
            DELIVERIES.labels(channel=channel, outcome="skipped").inc()
            return DeliveryState.SKIPPED, "channel not configured", None
        started = asyncio.get_running_loop().time()
        try:
            request = build_request(delivery_id, channel, alert, self.config, now=self.clock.now())
            await self._post(client, request)
        except Permanent as exc:
            DELIVERIES.labels(channel=channel, outcome="dead").inc()
            log.warning(
                "alert delivery refused; dead-lettered", channel=channel, delivery_id=delivery_id, error=str(exc)
            )
            return DeliveryState.DEAD, str(exc), None
        except Retryable as exc:
            if attempts + 1 >= self.config.max_attempts:
                DELIVERIES.labels(channel=channel, outcome="dead").inc()
                log.warning(
                    "alert delivery failed its last try; dead-lettered",
                    channel=channel,
                    delivery_id=delivery_id,
                    attempts=attempts + 1,
                    error=str(exc),
                )
                return DeliveryState.DEAD, str(exc), None
            DELIVERIES.labels(channel=channel, outcome="retry").inc()
            log.info(
                "alert delivery failed; will retry",
                channel=channel,
                delivery_id=delivery_id,
                attempts=attempts + 1,
                error=str(exc),
            )
            return DeliveryState.PENDING, str(exc), exc.retry_after
        finally:
            DELIVERY_SECONDS.labels(channel=channel).observe(asyncio.get_running_loop().time() - started)
        DELIVERIES.labels(channel=channel, outcome="sent").inc()
        log.info("alert delivered", channel=channel, delivery_id=delivery_id, action=alert["action"])
        return DeliveryState.SENT, None, None

    async def _post(self, client: WebhookClient, request: Request) -> None:
        try:
            answer = await client.post(request.url, body=request.body, headers=request.headers)
        except Unreachable as exc:
            raise Retryable(f"{'timeout' if exc.timed_out else 'transport error'} ({exc.error})") from None
        status = answer.status
        if 200 <= status < 300:
            return
        if status == 429 or status == 408 or status >= 500:
            raise Retryable(f"HTTP {status}", retry_after=_retry_after(answer))
        raise Permanent(f"HTTP {status}")


def _retry_after(answer: Answer) -> float | None:
    seconds = retry_after_seconds(answer.retry_after, now=datetime.now(UTC))
    return None if seconds is None else min(seconds, 300.0)
