from pydantic import Field

from baton_kit.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    http_port: int = Field(default=8001, ge=1, le=65535)
    consumer_group: str = "baton-scoring"
