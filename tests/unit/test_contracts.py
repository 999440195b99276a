"""The contracts: published JSON Schemas in step with the models, every event type through the wire
and back, and the validation that keeps bad data out (naive times, data under the wrong type,
misspelt definitions keys)."""

from __future__ import annotations

import json
import os
import types
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, cast, get_args, get_origin

import annotated_types
import pytest
import yaml
from pydantic import AwareDatetime, BaseModel, ValidationError

from baton_contracts import CloudEvent, new_event, parse_event, random_event_id
from baton_contracts.definitions import EXAMPLE_PATH, DefinitionsError, parse_definitions
from baton_contracts.events import EVENT_DATA_MODELS, EngagementRecorded, EventType
from baton_contracts.export import all_schemas, render
from baton_contracts.topics import ALL_TOPICS, Topic, dlq_topic

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas" / "json"
T0 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
NAIVE = datetime(2026, 11, 23, 9, 30)

M = TypeVar("M", bound=BaseModel)


# ---------------------------------------------------------------------------------------------
# builders


def sample_value(annotation: Any, constraints: Sequence[Any] = ()) -> Any:
    """A valid value for a field of type `annotation` with pydantic `constraints`, filling optional
    fields too, so that every field of every event crosses the wire in the round trip."""
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *extra = get_args(annotation)
        return sample_value(inner, [*constraints, *extra])
    if origin in (Union, types.UnionType):
        return sample_value(next(a for a in get_args(annotation) if a is not type(None)), constraints)
    if origin is Literal:
        return get_args(annotation)[-1]
    if origin is list:
        return [sample_value(get_args(annotation)[0])]
    if origin is dict:
        return {"key": "value", "n": 1}
    if annotation is AwareDatetime or annotation is datetime:
        return T0
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return sample_data(annotation)
        if issubclass(annotation, Enum):
            return list(annotation)[-1]
        if annotation is bool:
            return True
        if annotation in (int, float):
            low = next((cast(float, c.ge) for c in constraints if isinstance(c, annotated_types.Ge)), None)
            above = next((cast(float, c.gt) for c in constraints if isinstance(c, annotated_types.Gt)), None)
            value = low if low is not None else (above + 1 if above is not None else 1)
            return annotation(value)
        if annotation is str:
            shortest = next((c.min_length for c in constraints if isinstance(c, annotated_types.MinLen)), 1)
            return "x" * max(1, shortest)
    raise NotImplementedError(f"no sample for {annotation!r}: teach sample_value this type")


def sample_data(model: type[M]) -> M:
    return model(**{name: sample_value(f.annotation, f.metadata) for name, f in model.model_fields.items()})


def event_of(event_type: EventType) -> CloudEvent[Any]:
    return new_event(
        event_type=event_type,
        source="/baton/tests",
        subject="lead-1",
        data=sample_data(EVENT_DATA_MODELS[event_type]),
        time=T0,
    )


def engagement_json(**changes: Any) -> dict[str, Any]:
    """A valid engagement envelope as JSON data, with top-level `changes` (`data__x` changes data.x)."""
    document = event_of(EventType.ENGAGEMENT_RECORDED).model_dump(mode="json")
    for key, value in changes.items():
        if key.startswith("data__"):
            document["data"][key.removeprefix("data__")] = value
        else:
            document[key] = value
    return document


def example_definitions() -> dict[str, Any]:
    return cast(dict[str, Any], yaml.safe_load(EXAMPLE_PATH.read_bytes()))


def as_yaml(document: dict[str, Any]) -> bytes:
    return yaml.safe_dump(document, sort_keys=False).encode()


# ---------------------------------------------------------------------------------------------
# JSON Schemas


def test_published_json_schemas_match_the_models() -> None:
    expected = {name: render(schema) for name, schema in all_schemas().items()}
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in SCHEMA_DIR.glob("*.schema.json")}

    drift = {
        "missing": sorted(set(expected) - set(on_disk)),
        "stale": sorted(set(on_disk) - set(expected)),
        "changed": sorted(name for name in set(expected) & set(on_disk) if expected[name] != on_disk[name]),
    }
    assert drift == {"missing": [], "stale": [], "changed": []}, (
        f"schemas/json is out of date with the contracts ({drift}): run `python -m baton_contracts.export`"
    )


# ---------------------------------------------------------------------------------------------
# events on the wire


def test_every_event_type_has_a_data_model() -> None:
    assert set(EVENT_DATA_MODELS) == set(EventType)


@pytest.mark.parametrize("event_type", list(EventType), ids=str)
def test_every_event_type_survives_the_round_trip_through_json(event_type: EventType) -> None:
    event = event_of(event_type)

    parsed = parse_event(event.model_dump_json().encode())

    assert parsed == event
    assert type(parsed.data) is EVENT_DATA_MODELS[event_type]
    assert parsed.time.tzinfo is not None
    assert parsed.model_dump_json() == event.model_dump_json()


def test_new_event_ids_are_unique_unless_given() -> None:
    data = sample_data(EngagementRecorded)
    first, second = (
        new_event(event_type=EventType.ENGAGEMENT_RECORDED, source="/t", subject="l", data=data, time=T0)
        for _ in range(2)
    )
    fixed = new_event(
        event_type=EventType.ENGAGEMENT_RECORDED, source="/t", subject="l", data=data, time=T0, id="derived-1"
    )

    assert first.id != second.id
    assert fixed.id == "derived-1"


def test_an_event_with_a_naive_time_cannot_be_built() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        new_event(
            event_type=EventType.ENGAGEMENT_RECORDED,
            source="/t",
            subject="lead-1",
            data=sample_data(EngagementRecorded),
            time=NAIVE,
        )


def test_event_data_with_a_naive_time_cannot_be_built() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        EngagementRecorded(lead_id="lead-1", activity="page_view", occurred_at=NAIVE, source="tests")


@pytest.mark.parametrize(
    ("changes", "bad_field"),
    [
        ({"time": "2026-11-23T09:30:00"}, "time"),
        ({"data__occurred_at": "2026-11-23T09:30:00"}, "data.occurred_at"),
    ],
    ids=["envelope-time", "data-time"],
)
def test_a_record_with_a_naive_time_is_rejected(changes: dict[str, Any], bad_field: str) -> None:
    raw = json.dumps(engagement_json(**changes)).encode()

    with pytest.raises(ValidationError) as caught:
        parse_event(raw)

    assert [".".join(map(str, e["loc"])) for e in caught.value.errors()] == [bad_field]
    assert "timezone" in str(caught.value)


def test_a_record_whose_data_does_not_match_its_type_is_rejected_naming_the_missing_fields() -> None:
    raw = json.dumps(engagement_json(type=EventType.LEAD_SCORED.value)).encode()

    with pytest.raises(ValidationError) as caught:
        parse_event(raw)

    locations = {".".join(map(str, e["loc"])) for e in caught.value.errors()}
    assert {"data.score", "data.scored_at", "data.definitions_version"} <= locations


@pytest.mark.parametrize("data_type", [EventType.LEAD_SCORED.value, "not-an-event-type"])
def test_a_type_key_inside_data_written_before_the_envelope_type_does_not_change_what_is_parsed(
    data_type: str,
) -> None:
    document = engagement_json(data__properties={"type": data_type})
    envelope_type = document.pop("type")
    raw = json.dumps({"data": document.pop("data"), **document, "type": envelope_type}).encode()

    event = parse_event(raw)

    assert event.type == EventType.ENGAGEMENT_RECORDED
    assert isinstance(event.data, EngagementRecorded)
    assert event.data.properties == {"type": data_type}


@pytest.mark.parametrize(
    "raw_or_changes",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00",
        b"[]",
        b"null",
        b'{"specversion": "1.0"}',
        {"type": "baton.no.such_type"},
        {"specversion": "0.3"},
        {"unexpected": "field"},
        {"data__unexpected": "field"},
        {"id": ""},
    ],
    ids=[
        "empty",
        "not-json",
        "not-utf8",
        "array",
        "null",
        "envelope-only",
        "unknown-type",
        "old-specversion",
        "extra-envelope-field",
        "extra-data-field",
        "empty-id",
    ],
)
def test_anything_that_is_not_a_valid_event_raises_value_error(raw_or_changes: bytes | dict[str, Any]) -> None:
    raw = (
        raw_or_changes if isinstance(raw_or_changes, bytes) else json.dumps(engagement_json(**raw_or_changes)).encode()
    )

    # The consumer runner dead-letters a record when decoding raises ValueError; anything else
    # would crash the consumer instead, so this is the contract.
    with pytest.raises(ValueError):  # noqa: PT011 - the type is the contract here
        parse_event(raw)


def test_a_record_with_no_value_a_tombstone_raises_value_error() -> None:
    with pytest.raises(ValueError, match="tombstone"):
        parse_event(None)


def test_every_topic_has_a_dead_letter_topic() -> None:
    assert set(ALL_TOPICS) == {t.value for t in Topic} | {dlq_topic(t.value) for t in Topic}
    assert dlq_topic(Topic.LEAD_SCORED) == "lead.scored.dlq"


# ---------------------------------------------------------------------------------------------
# definitions


def test_example_definitions_load_and_are_versioned_by_their_content() -> None:
    raw = EXAMPLE_PATH.read_bytes()

    loaded = parse_definitions(raw)

    assert loaded.version.startswith("sha256:")
    assert len(loaded.version.removeprefix("sha256:")) == 12
    assert parse_definitions(raw).version == loaded.version
    assert parse_definitions(raw + b"\n# a comment is a new version\n").version != loaded.version


def test_misspelt_definitions_key_is_rejected_naming_its_path() -> None:
    document = example_definitions()
    document["qualification"]["mql_treshold"] = document["qualification"].pop("mql_threshold")

    with pytest.raises(DefinitionsError) as caught:
        parse_definitions(as_yaml(document), origin="definitions.yaml")

    message = str(caught.value)
    assert message.startswith("definitions.yaml: ")
    assert "qualification.mql_treshold: Extra inputs are not permitted" in message


def test_misspelt_key_inside_a_list_is_named_with_its_index() -> None:
    document = example_definitions()
    rep = document["routing"]["reps"][1]
    rep["emial"] = rep.pop("email")

    with pytest.raises(DefinitionsError) as caught:
        parse_definitions(as_yaml(document))

    assert "routing.reps.1.emial: Extra inputs are not permitted" in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("timezone", "Mars/Olympus", "unknown IANA time zone 'Mars/Olympus'"),
        ("timezone", "../../etc/passwd", "unknown IANA time zone"),
        ("country", "us", "should match pattern"),
        ("country", "USA", "should match pattern"),
    ],
)
def test_a_reps_time_zone_and_holiday_country_are_checked_when_the_definitions_load(
    field: str, value: str, error: str
) -> None:
    """Used only when a lead is routed to the rep or an SLA clock opens for it: checked up front instead."""
    document = example_definitions()
    document["routing"]["reps"][2][field] = value

    with pytest.raises(DefinitionsError) as caught:
        parse_definitions(as_yaml(document))

    assert f"routing.reps.2.{field}: " in str(caught.value)
    assert error in str(caught.value)


def test_definitions_that_are_not_yaml_are_rejected() -> None:
    with pytest.raises(DefinitionsError, match="not valid YAML"):
        parse_definitions(b"scoring: [unclosed", origin="broken.yaml")


def test_new_event_ids_are_version_4_uuids_that_do_not_repeat_even_across_a_fork() -> None:
    ids = [random_event_id() for _ in range(50_000)]
    assert len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, ids[0])

    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child writes its next ids and leaves at once
        os.write(write, ",".join(random_event_id() for _ in range(3)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        child_ids = pipe.read().split(",")
    assert len(child_ids) == 3
    assert not set(child_ids) & {random_event_id() for _ in range(3)}
