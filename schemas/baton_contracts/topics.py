"""Topic names. Every topic is keyed by `lead_id`, so one lead's events stay in order."""

from enum import StrEnum


class Topic(StrEnum):
    # Engagement recorded and profile updated share a topic: a lead's profile and its
    # behaviour must be applied in the order they happened.
    LEAD_ENGAGEMENT = "lead.engagement"
    LEAD_SCORED = "lead.scored"
    LEAD_LIFECYCLE = "lead.lifecycle"
    SLA_EVENTS = "sla.events"


def dlq_topic(topic: str) -> str:
    """The dead-letter topic for `topic`: records that could not be processed, with the error in headers."""
    return f"{topic}.dlq"


ALL_TOPICS: tuple[str, ...] = tuple(t.value for t in Topic) + tuple(dlq_topic(t.value) for t in Topic)
