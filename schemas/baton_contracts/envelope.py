"""The CloudEvents 1.0 envelope (structured JSON mode) that every Kafka record carries.

`id` is unique per event and is what consumers de-duplicate on; `subject` is the lead id and
also the Kafka key. Times are timezone-aware, always.
"""

from __future__ import annotations

import os
import random
import re
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar, cast

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

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
    # Parametrise with the concrete data class (`CloudEvent[type(data)]`, spelt so mypy accepts a runtime
    # type argument) so that pydantic validates and serialises `data` as that model.
    model = cast("type[CloudEvent[DataT]]", CloudEvent.__class_getitem__(type(data)))
    return model(id=id or random_event_id(), source=source, type=event_type, subject=subject, data=data, time=time)


_ids = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _ids.seed(os.urandom(32)))  # a forked child never repeats its parent
_UUID4_BITS = (0x4 << 76) | (0x8 << 60)  # version 4, RFC 4122 variant
_UUID4_KEEP = ~((0xF << 76) | (0xC << 60)) & ((1 << 128) - 1)


def random_event_id() -> str:
    """A random (version 4) UUID as text, for a new event's id.

    From a generator seeded once per process by the OS, not `uuid.uuid4()`, which reads the OS
    for every id (a system call, ~3x the cost): ids need to be unique, not unguessable.
    """
    text = "%032x" % ((_ids.getrandbits(128) & _UUID4_KEEP) | _UUID4_BITS)
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def parse_event(raw: bytes | str | None) -> CloudEvent[Any]:
    """Decode and validate a record value; raises `pydantic.ValidationError` when it is not a valid event,
    and `ValueError` when the record has no value at all (a tombstone).

    The data model is chosen by the envelope's `type`, so a record whose `data` does not match
    its declared type fails here (and goes to the dead-letter topic), never deeper in a service.
    """
    # One pass when the record is valid: find the type's text without parsing, and validate the JSON
    # straight into the envelope of that type (pydantic's JSON mode builds no intermediate dict). The
    # first `"type": "…"` may belong to `data`, hence the check that the envelope's own type is the one
    # guessed. Anything else takes the two-step path below, which raises the errors it always has.
    if raw is None:
        raise ValueError("the record has no value (a tombstone): not an event")
    found = _TYPE_TEXT.search(raw.encode() if isinstance(raw, str) else raw)
    guess = found.group(1).decode() if found else ""
    envelope_model = _ENVELOPE_BY_TYPE.get(guess)
    if envelope_model is not None:
        try:
            event = envelope_model.model_validate_json(raw)
        except ValidationError:
            pass
        else:
            if event.type == guess:  # a StrEnum: compared as its text, without the `.value` property
                return event
    envelope = EnvelopeOnly.model_validate_json(raw)
    model = EVENT_DATA_MODELS[envelope.type]
    return CloudEvent[model].model_validate(envelope.model_dump())  # type: ignore[valid-type]


_TYPE_TEXT = re.compile(rb'"type"\s*:\s*"([a-z_.]+)"')
_ENVELOPE_BY_TYPE: dict[str, type[CloudEvent[Any]]] = {
    event_type.value: CloudEvent[model]  # type: ignore[valid-type]
    for event_type, model in EVENT_DATA_MODELS.items()
}
