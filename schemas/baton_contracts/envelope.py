"""The CloudEvents 1.0 envelope (structured JSON mode) that every Kafka record carries.

`id` is unique per event and is what consumers de-duplicate on; `subject` is the lead id and
also the Kafka key. Times are timezone-aware, always.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from baton_contracts.events import EVENT_DATA_MODELS, EventType

DataT = TypeVar("DataT", bound=BaseModel)


class CloudEvent(BaseModel, Generic[DataT]):
    """A CloudEvents 1.0 envelope around one event's `data`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=200, description="Unique per event; the de-duplication key.")
    source: str = Field(min_length=1, description="URI-reference of the producer, e.g. `/baton/scoring`.")
    type: EventType
    time: AwareDatetime
    subject: str = Field(min_length=1, description="The lead id; also the Kafka record key.")
    datacontenttype: Literal["application/json"] = "application/json"
    data: DataT


class EnvelopeOnly(BaseModel):
    """The envelope with `data` left unparsed: used to pick the data model by `type`."""

    model_config = ConfigDict(extra="forbid")

    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1)
    type: EventType
    time: AwareDatetime
    subject: str = Field(min_length=1)
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]


def new_event(
    *,
    event_type: EventType,
    source: str,
    subject: str,
    data: DataT,
    time: datetime,
    id: str | None = None,
) -> CloudEvent[DataT]:
    """Build an envelope. Pass `id` when the event must be the same on a retry (a derived id)."""
    return CloudEvent[type(data)](  # type: ignore[misc]
        id=id or str(uuid.uuid4()), source=source, type=event_type, subject=subject, data=data, time=time
    )


def parse_event(raw: bytes | str) -> CloudEvent[Any]:
    """Decode and validate a record value; raises `pydantic.ValidationError` when it is not a valid event.

    The data model is chosen by the envelope's `type`, so a record whose `data` does not match
    its declared type fails here (and goes to the dead-letter topic), never deeper in a service.
    """
    envelope = EnvelopeOnly.model_validate_json(raw)
    model = EVENT_DATA_MODELS[envelope.type]
    return CloudEvent[model].model_validate(envelope.model_dump())  # type: ignore[valid-type]
