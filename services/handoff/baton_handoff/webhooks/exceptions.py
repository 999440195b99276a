"""Webhook errors, each a problem+json response with a `type` a sender can switch on."""

from __future__ import annotations

from collections.abc import Sequence

from baton_kit.http import Problem

PROBLEMS = "https://baton.dev/problems/"


class InvalidSignature(Problem):
    status = 401
    title = "Signature verification failed"
    type = PROBLEMS + "invalid-signature"


class StaleTimestamp(Problem):
    status = 400
    title = "Webhook timestamp outside the 5-minute window"
    type = PROBLEMS + "stale-timestamp"


class UnknownSource(Problem):
    status = 404
    title = "Unknown webhook source"
    type = PROBLEMS + "unknown-source"


class ReservedSource(Problem):
    """A generic call naming a source that arrives through its own endpoint (signed, or a named
    format): its events, and the ids that de-duplicate them, are that endpoint's alone."""

    status = 422
    title = "Source reserved for its own endpoint"
    type = PROBLEMS + "reserved-source"


class BodyTooLarge(Problem):
    status = 413
    title = "Request body too large"
    type = PROBLEMS + "body-too-large"


class TooManyEvents(Problem):
    status = 413
    title = "Too many events in one call"
    type = "https://baton.dev/problems/too-many-events"


class UnsupportedMediaType(Problem):
    status = 415
    title = "Unsupported content type"
    type = PROBLEMS + "unsupported-media-type"


class RateLimited(Problem):
    status = 429
    title = "Rate limit exceeded"
    type = PROBLEMS + "rate-limited"

    def __init__(self, detail: str, *, retry_after: float) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, round(retry_after + 0.5)))})


class InvalidPayload(Problem):
    """The body is not what the format requires; `errors` names each field by its path, as 422s do."""

    status = 422
    title = "Request failed validation"
    type = PROBLEMS + "validation"

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        listed = [{"field": path, "message": message, "type": "value_error"} for path, message in errors]
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors), extra={"errors": listed})


class MalformedJson(Problem):
    status = 400
    title = "Body is not valid JSON"
    type = PROBLEMS + "malformed-json"


class TooDeep(Problem):
    status = 400
    title = "JSON nested too deeply"
    type = PROBLEMS + "json-too-deep"
