from pydantic import Field

from baton_kit.settings import ServiceSettings


class HandoffSettings(ServiceSettings):
    http_port: int = Field(default=8000, ge=1, le=65535)
    consumer_group: str = "baton-handoff"
    max_webhook_events: int = Field(default=500, ge=1, le=10_000, description="Events per webhook call.")
