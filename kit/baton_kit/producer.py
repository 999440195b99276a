"""The Kafka producer every service publishes with: acks=all; idempotence is a setting (real Kafka
supports it; the embedded Tansu broker does not, and correctness comes from outbox + inbox anyway)."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer


def create_producer(
    *, bootstrap_servers: str, enable_idempotence: bool = False, client_id: str = "baton"
) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=enable_idempotence,
        linger_ms=2,
        max_batch_size=256 * 1024,
        request_timeout_ms=15000,
    )
