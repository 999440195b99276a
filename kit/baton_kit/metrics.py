"""Prometheus metrics of the plumbing, named `baton_<service>_<thing>_<unit|total>`.

Never an id as a label: topics and outcomes only.
"""

from __future__ import annotations

from functools import cache

from prometheus_client import Counter, Gauge, Histogram


class KitMetrics:
    def __init__(self, service: str) -> None:
        prefix = f"baton_{service.replace('-', '_')}"
        self.records_applied = Counter(
            f"{prefix}_records_applied_total", "Kafka records applied (first delivery).", ["topic"]
        )
        self.records_duplicate = Counter(
            f"{prefix}_records_duplicate_total", "Kafka records skipped because the inbox had applied them.", ["topic"]
        )
        self.records_dead_lettered = Counter(
            f"{prefix}_records_dead_lettered_total", "Records sent to the dead-letter topic.", ["topic", "reason"]
        )
        self.handler_retries = Counter(
            f"{prefix}_handler_retries_total", "Retries of a record after a processing error.", ["topic"]
        )
        self.infrastructure_failures = Counter(
            f"{prefix}_infrastructure_failures_total",
            "Batches not applied because the database or broker failed; retried with backoff, nothing committed.",
            ["stage"],
        )
        self.batch_seconds = Histogram(
            f"{prefix}_batch_seconds", "Time to apply one consumed batch, commit included.", ["topic"]
        )
        self.consumer_idle_seconds = Counter(
            f"{prefix}_consumer_idle_seconds_total",
            "Time the consumer waited for records to arrive (nothing buffered): how far it is from busy.",
        )
        self.outbox_published = Counter(f"{prefix}_outbox_published_total", "Outbox rows published.", ["topic"])
        self.outbox_pending = Gauge(
            f"{prefix}_outbox_pending",
            "Outbox rows seen unsent at this instance's last relay pass: at most OUTBOX_BATCH_SIZE (a larger "
            "backlog reads as that), 0 on an instance while another one relays the database's outbox.",
        )


@cache
def kit_metrics(service: str) -> KitMetrics:
    """The plumbing metrics of `service` (one set per process)."""
    return KitMetrics(service)
