from __future__ import annotations

from baton_kit.http import Problem


class InvalidRejection(Problem):
    status = 422
    title = "Rejection reason not in the taxonomy"
    type = "https://baton.dev/problems/invalid-rejection"

    def __init__(self, detail: str, *, field: str, allowed: list[str] | None = None) -> None:
        super().__init__(
            detail,
            extra={
                "errors": [{"field": field, "message": detail, "type": "taxonomy"}],
                **({"allowed": allowed} if allowed is not None else {}),
            },
        )


class NoEligibleRep(Problem):
    status = 409
    title = "No eligible rep"
    type = "https://baton.dev/problems/no-eligible-rep"


class IdempotencyKeyReused(Problem):
    status = 422
    title = "Idempotency-Key reused with a different request"
    type = "https://baton.dev/problems/idempotency-key-reused"


class IdempotentRequestInProgress(Problem):
    status = 409
    title = "A request with this Idempotency-Key is in progress"
    type = "https://baton.dev/problems/idempotency-in-progress"


class DeliveryNotFound(Problem):
    status = 404
    title = "No such CRM webhook delivery"
    type = "https://baton.dev/problems/not-found"


class DeliveryNotRetryable(Problem):
    """A delivered message is not sent again, nor one that a later delivery of its lead superseded."""

    status = 409
    title = "This delivery cannot be sent again"
    type = "https://baton.dev/problems/delivery-not-retryable"
