from pydantic import Field

from baton_kit.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    http_port: int = Field(default=8001, ge=1, le=65535)
    consumer_group: str = "baton-scoring"
    consumer_max_batch: int = Field(
        default=8_000,
        ge=1,
        le=10_000,
        description="Events per transaction at most. Far larger than the kit's 500: a scoring batch has a cost that "
        "grows with the leads and accounts it touches, not its events (their rows and index pages are rewritten, "
        "their accounts summed), so a backlog is worked off in few large batches; a quiet stream makes small "
        "batches anyway. Measured at 10,000 leads: 2,000 → 7,700 events/s, 4,000 → 8,600, 8,000 → 11,100 (SQLite).",
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
