"""Structured logs (structlog): JSON lines in production, readable lines on a terminal."""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(*, level: str = "INFO", json: bool = False) -> None:
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    quiet_third_party_loggers(level)


# aiokafka and kafka: a line per connection and rebalance. httpx and httpcore (the kit's readiness
# probes; any code that posts with httpx): a line per request with its whole URL, and a Slack or CRM
# webhook URL carries its secret in the path. aiohttp's client (`webhook_client`) logs no requests.
QUIETED_LOGGERS = ("aiokafka", "kafka", "httpx", "httpcore")


def quiet_third_party_loggers(level: str) -> None:
    """Their warnings and errors only, whatever `level` the services log at."""
    for name in QUIETED_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))
