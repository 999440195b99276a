from pydantic import Field, SecretStr

from baton_kit.settings import ServiceSettings


class SlaMonitorSettings(ServiceSettings):
    """On-call channels are configured here (secrets as `SecretStr`, never logged); which step goes to
    which channel is business data in the definitions. An unconfigured channel's alerts are skipped."""

    http_port: int = Field(default=8002, ge=1, le=65535)
    consumer_group: str = "baton-sla-monitor"
    timer_max_sleep_seconds: float = Field(default=5.0, gt=0, le=60)
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    pagerduty_routing_key: SecretStr | None = None
    alertmanager_url: str | None = Field(default=None, description="Base URL, e.g. http://alertmanager:9093")
    slack_webhook_url: SecretStr | None = None
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = Field(default=None, description="Standard Webhooks secret, `whsec_<base64>`.")
    delivery_max_attempts: int = Field(default=8, ge=1, le=50)
    delivery_backoff_seconds: float = Field(default=1.0, gt=0)
    delivery_max_backoff_seconds: float = Field(default=300.0, gt=0)
    delivery_timeout_seconds: float = Field(default=10.0, gt=0)
