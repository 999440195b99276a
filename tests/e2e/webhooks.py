"""Helpers that act as a marketing-automation sender and a CRM would."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def event(lead_id: str, activity: str, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "external_id": f"{lead_id}-{n}-{activity}",
        "lead_id": lead_id,
        "activity": activity,
        "occurred_at": (START + timedelta(minutes=n)).isoformat(),
        **extra,
    }


async def send(
    client: httpx.AsyncClient, events: list[dict[str, Any]], *, source: str = "e2e", attempts: int = 200
) -> httpx.Response:
    """POST like a webhook sender: retry on connection errors and 503 until accepted (the service may be down)."""
    for _ in range(attempts):
        try:
            response = await client.post("/v1/webhooks/generic", json={"source": source, "events": events})
        except httpx.TransportError:
            await asyncio.sleep(0.1)
            continue
        if response.status_code != 503:
            return response
        await asyncio.sleep(float(response.headers.get("Retry-After", "0.2")))
    raise AssertionError(f"webhook not accepted after {attempts} attempts")
