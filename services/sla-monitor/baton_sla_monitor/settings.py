from pydantic import Field

from baton_kit.settings import ServiceSettings


class SlaMonitorSettings(ServiceSettings):
    http_port: int = Field(default=8002, ge=1, le=65535)
    consumer_group: str = "baton-sla-monitor"
