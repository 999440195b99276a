"""Per-source mapping of a sender's payload to Baton's engagement and profile contracts, as data.

Each source (HubSpot, Segment, a Standard Webhooks or CloudEvents sender) has a `SourceMapping`
in `mappings.yaml` (or the file `WEBHOOK_MAPPINGS_PATH` names): where the lead id, email and time
are, and an ordered list of rules — the first rule whose `when` matches the document decides the
activity, the properties and the profile fields. No sender is special-cased in code: supporting a
new one, or a new HubSpot property, is a change to the YAML.

Paths are dotted (`context.traits.email`); `a|b` tries `a`, then `b`. Templates put paths in braces
(`hubspot-{portalId}-{objectId}`). `map_document` is pure: (document, mapping) → a `MappedEvent`,
`None` when a rule says to ignore it (or none matches), or a `MappingError` naming the path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator

from baton_contracts.events import ProfileFields
from baton_handoff.webhooks.rules import lead_id_from_email, normalise_email

DEFAULT_MAPPINGS_PATH = Path(__file__).parent / "mappings.yaml"
PROFILE_FIELDS = frozenset(ProfileFields.model_fields)
_TEMPLATE = re.compile(r"\{([^{}]+)\}")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ActivityTable(_Strict):
    """The activity from a value in the document: `values` (case-insensitive), else `default`."""

    path: str
    values: dict[str, str] = Field(default_factory=dict)
    prefixes: dict[str, str] = Field(
        default_factory=dict, description="Value prefix → activity, tried after `values` (e.g. `/pricing`)."
    )
    default: str | None = Field(default=None, description="Unlisted values; with neither it nor `slug`, ignored.")
    slug: bool = Field(default=False, description="Unlisted values become `snake_case` activities (score 0).")

    @field_validator("values")
    @classmethod
    def _casefold(cls, values: dict[str, str]) -> dict[str, str]:
        return {k.casefold(): v for k, v in values.items()}


class ProfilePairs(_Strict):
    """A name/value pair in the document (HubSpot `propertyName`/`propertyValue`) → one profile field."""

    name: str
    value: str
    fields: dict[str, str] = Field(description="The sender's property name → Baton profile field.")

    @field_validator("fields")
    @classmethod
    def _known(cls, fields: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(fields.values()) - PROFILE_FIELDS)
        if unknown:
            raise ValueError(f"unknown profile fields {unknown}; known: {sorted(PROFILE_FIELDS)}")
        return fields


class Rule(_Strict):
    when: dict[str, str | list[str]] = Field(default_factory=dict, description="Path → accepted value(s).")
    ignore: bool = False
    activity: str | ActivityTable | None = None
    properties: dict[str, str] = Field(default_factory=dict, description="Property name → path.")
    properties_from: str | None = Field(default=None, description="Path of an object merged into the properties.")
    profile: dict[str, str] = Field(default_factory=dict, description="Profile field → path.")
    profile_pairs: ProfilePairs | None = None

    @field_validator("profile")
    @classmethod
    def _known(cls, profile: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(profile) - PROFILE_FIELDS)
        if unknown:
            raise ValueError(f"unknown profile fields {unknown}; known: {sorted(PROFILE_FIELDS)}")
        return profile


class OccurredAt(_Strict):
    path: str
    format: Literal["iso8601", "epoch_ms", "epoch_s"] = "iso8601"


class SourceMapping(_Strict):
    lead_id: list[str] = Field(
        default_factory=list, description="Templates tried in order; then the email's derived id; else ignored."
    )
    email: str | None = Field(default=None, description="Path(s) of the lead's email.")
    occurred_at: OccurredAt
    rules: list[Rule] = Field(min_length=1)


class Mappings(_Strict):
    sources: dict[str, SourceMapping]


class MappingError(ValueError):
    """The document does not fit its mapping; `path` names the offending field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class MappedEvent:
    """One inbound event in Baton's terms, ready to be stored (see `service.ingest`)."""

    external_id: str
    lead_id: str
    occurred_at: datetime
    activity: str | None = None
    email: str | None = None
    properties: dict[str, JsonValue] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)


def load_mappings(path: Path | str | None = None) -> Mappings:
    """Read and validate a mappings file; raises `ValueError` naming each bad key and its path."""
    origin = Path(path or DEFAULT_MAPPINGS_PATH)
    try:
        return Mappings.model_validate(yaml.safe_load(origin.read_bytes()))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{origin}: {problems}") from None


_MISSING = object()


def resolve(document: Any, path: str) -> Any:
    """The value at a dotted path (`a|b` = first present); None when absent or null."""
    for alternative in path.split("|"):
        value: Any = document
        for part in alternative.strip().split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                value = _MISSING
                break
        if value is not _MISSING and value is not None and value != "":
            return value
    return None


def render(document: Any, template: str) -> str | None:
    """Fill `{path}` placeholders; None when any of them is absent."""
    values: list[str] = []
    for path in _TEMPLATE.findall(template):
        value = resolve(document, path)
        if value is None or isinstance(value, dict | list):
            return None
        values.append(str(value))
    parts = iter(values)
    return _TEMPLATE.sub(lambda _m: next(parts), template)


def _matches(document: Any, when: dict[str, str | list[str]]) -> bool:
    for path, accepted in when.items():
        value = resolve(document, path)
        options = accepted if isinstance(accepted, list) else [accepted]
        if value is None or str(value) not in options:
            return False
    return True


def _slug(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", value.casefold()).strip("_")[:100]


def _activity(document: Any, spec: str | ActivityTable | None) -> str | None:
    if spec is None or isinstance(spec, str):
        return spec
    value = resolve(document, spec.path)
    if value is None:
        return spec.default
    text = str(value)
    if text.casefold() in spec.values:
        return spec.values[text.casefold()]
    for prefix, activity in spec.prefixes.items():
        if text.casefold().startswith(prefix.casefold()):
            return activity
    if spec.default is not None:
        return spec.default
    return _slug(text) or None if spec.slug else None


def _occurred_at(document: Any, spec: OccurredAt) -> datetime:
    value = resolve(document, spec.path)
    if value is None:
        raise MappingError(spec.path, "required: when the event happened")
    try:
        if spec.format == "iso8601":
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                raise MappingError(spec.path, "needs a time zone offset")
            return parsed
        number = float(value)
        return datetime.fromtimestamp(number / 1000 if spec.format == "epoch_ms" else number, tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise MappingError(spec.path, f"not a valid {spec.format} time: {str(value)[:50]!r}") from None


def map_document(document: Any, mapping: SourceMapping, *, external_id: str) -> MappedEvent | None:
    """Map one sender document to a `MappedEvent`; None when it is ignored (by a rule, or unidentified)."""
    rule = next((r for r in mapping.rules if _matches(document, r.when)), None)
    if rule is None or rule.ignore:
        return None
    activity = _activity(document, rule.activity)
    profile: dict[str, Any] = {}
    paths: dict[str, str] = {}  # profile field → the path it came from, to name it in errors
    for name, path in rule.profile.items():
        value = resolve(document, path)
        if value is not None:
            profile[name], paths[name] = value, path
    if rule.profile_pairs is not None:
        name = resolve(document, rule.profile_pairs.name)
        target = rule.profile_pairs.fields.get(str(name)) if name is not None else None
        if target is not None:
            profile[target], paths[target] = resolve(document, rule.profile_pairs.value), rule.profile_pairs.value
    profile_email = profile.pop("email", None)
    profile = _valid_profile({k: v for k, v in profile.items() if v is not None}, paths)
    if activity is None and not profile and profile_email is None:
        return None

    email_value = resolve(document, mapping.email) if mapping.email else None
    email_path = mapping.email or "email"
    if email_value is None and profile_email is not None:
        email_value, email_path = profile_email, paths["email"]
    email = None
    if email_value is not None:
        if not isinstance(email_value, str) or not _EMAIL.match(email_value.strip()) or len(email_value) > 320:
            raise MappingError(email_path, "not an email address")
        email = normalise_email(email_value)
        if profile_email is not None:
            profile["email"] = email
    lead_id = next((rendered for t in mapping.lead_id if (rendered := render(document, t)) is not None), None)
    if lead_id is None and email is not None:
        lead_id = lead_id_from_email(email)
    if lead_id is None:
        return None  # anonymous: nothing to attach it to
    if len(lead_id) > 200:
        raise MappingError("lead_id", "longer than 200 characters")

    properties: dict[str, JsonValue] = {}
    merged = resolve(document, rule.properties_from) if rule.properties_from else None
    if merged is not None:
        if not isinstance(merged, dict):
            raise MappingError(rule.properties_from or "", "must be an object")
        properties.update(merged)
    for name, path in rule.properties.items():
        value = resolve(document, path)
        if value is not None:
            properties[name] = value
    return MappedEvent(
        external_id=external_id,
        lead_id=lead_id,
        occurred_at=_occurred_at(document, mapping.occurred_at),
        activity=activity[:100] if activity else None,
        email=email,
        properties=properties,
        profile=profile,
    )


def _valid_profile(profile: dict[str, Any], paths: dict[str, str]) -> dict[str, Any]:
    """Coerce as the contract will (`"420"` → 420 employees); a value it refuses names its path."""
    try:
        valid = ProfileFields.model_validate(profile)
    except ValidationError as exc:
        error = exc.errors()[0]
        field_name = str(error["loc"][0]) if error["loc"] else "profile"
        raise MappingError(paths.get(field_name, field_name), error["msg"]) from None
    return valid.model_dump(exclude_none=True)
