"""Baton's contracts: what travels between the services.

Data only (pydantic and the standard library): the CloudEvents envelope, the event models,
the topic names and the shared definitions models. Services import this package; it imports
nothing of theirs.
"""

from baton_contracts.envelope import CloudEvent, new_event, parse_event, random_event_id
from baton_contracts.topics import Topic, dlq_topic

__all__ = ["CloudEvent", "Topic", "dlq_topic", "new_event", "parse_event", "random_event_id"]
