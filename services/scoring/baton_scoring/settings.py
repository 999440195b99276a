from pydantic import Field

from baton_kit.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    http_port: int = Field(default=8001, ge=1, le=65535)
    consumer_group: str = "baton-scoring"
    consumer_max_batch: int = Field(
        default=2_000,
        ge=1,
        le=10_000,
        description="Events per transaction at most. Larger than the kit's 500: a scoring transaction has a "
        "fixed cost (about 20 ms of round trips) that a backlog amortises; a quiet stream makes small batches anyway.",
    )
    decay_review_interval_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="How often the decay review looks for leads whose band may drop."
    )
    decay_review_batch: int = Field(default=500, ge=1, le=10_000, description="Leads rescored per review transaction.")
    lead_memory_limit: int = Field(
        default=100_000,
        ge=0,
        description="Leads held in memory between events (least recently scored dropped first); 0 holds none.",
    )
