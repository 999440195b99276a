from pydantic import Field, SecretStr, model_validator

from baton_kit.settings import ServiceSettings
from baton_kit.webhooks import standard_webhooks_key


class HandoffSettings(ServiceSettings):
    http_port: int = Field(default=8000, ge=1, le=65535)
    consumer_group: str = "baton-handoff"
    max_webhook_events: int = Field(default=500, ge=1, le=10_000, description="Events per webhook call.")
    # Webhook ingestion (baton_handoff.webhooks)
    webhook_secrets: dict[str, list[str]] = Field(
        default_factory=dict,
        description='Source → active signing secrets, JSON (`{"hubspot": ["<client secret>"], "forms": '
        '["whsec_…"]}`). Any listed secret is accepted: list the old and the new one while rotating.',
    )
    webhook_public_base_url: str | None = Field(
        default=None, description="The https://host the senders call, when behind a proxy (HubSpot signs the URL)."
    )
    webhook_mappings_path: str | None = Field(
        default=None, description="Per-source payload mappings YAML; the packaged `webhooks/mappings.yaml` when unset."
    )
    webhook_max_body_bytes: int = Field(default=1_048_576, ge=1_024, le=67_108_864, description="413 above this.")
    webhook_max_json_depth: int = Field(
        default=32, ge=4, le=512, description="400 when a request body (any route's) is nested deeper."
    )
    api_max_body_bytes: int = Field(
        default=4_194_304,
        ge=1_024,
        le=67_108_864,
        description="413 above this for the API's other routes (an accounts import of 10,000 rows fits).",
    )
    webhook_rate_per_second: float = Field(
        default=1_000.0, gt=0, description="Calls per second per source or API key (token bucket, per process)."
    )
    webhook_rate_burst: int = Field(default=2_000, ge=1, description="Calls a key may make at once after a pause.")
    admin_api_key: SecretStr | None = Field(
        default=None,
        min_length=24,
        description="Bootstrap admin API key (env ADMIN_API_KEY), stored hashed at start; create scoped keys with it.",
    )
    crm_webhook_url: str | None = Field(
        default=None, description="Where assignments and reassignments are POSTed (Standard Webhooks)."
    )
    crm_webhook_secret: SecretStr | None = Field(
        default=None, description="`whsec_<base64>` signing secret for the CRM webhook."
    )
    crm_webhook_max_attempts: int = Field(
        default=10,
        ge=1,
        le=100,
        description="Tries before a delivery fails; 10 follows the Standard Webhooks schedule (about three days).",
    )
    crm_webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    crm_webhook_concurrency: int = Field(
        default=16,
        ge=1,
        le=200,
        description="Deliveries in flight to the CRM at once, so a backlog (after an outage) does not flood it.",
    )
    crm_webhook_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often the sender looks for due retries; a new delivery goes out as soon as it commits.",
    )
    routing_queue_interval_seconds: float = Field(
        default=30.0, gt=0, description="How often queued MQLs are offered to the roster again."
    )

    @model_validator(mode="after")
    def _webhook_needs_a_secret(self) -> "HandoffSettings":
        if self.crm_webhook_url and self.crm_webhook_secret is None:
            raise ValueError("CRM_WEBHOOK_URL needs CRM_WEBHOOK_SECRET (whsec_…): deliveries are always signed")
        if self.crm_webhook_secret is not None:
            try:  # a malformed one would stop every delivery at its first signature, and say nothing
                standard_webhooks_key(self.crm_webhook_secret.get_secret_value())
            except ValueError as error:
                raise ValueError(f"CRM_WEBHOOK_SECRET: {error}") from None
        return self
