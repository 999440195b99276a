"""HTTP plumbing every service mounts: `/healthz`, `/readyz`, `/metrics`, and problem+json errors.

Errors follow RFC 9457 (`application/problem+json`): `type`, `title`, `status`, `detail`, and for
validation errors an `errors` list naming each field by its path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException

from baton_kit.consumer import is_infrastructure_error
from baton_kit.db import read_transaction, transaction

PROBLEM_JSON = "application/problem+json"
ReadinessCheck = Callable[[], Awaitable[None]]


class Problem(Exception):
    """An error with a meaning the client can act on; rendered as problem+json."""

    status: int = 400
    type: str = "about:blank"
    title: str = "Bad request"

    def __init__(
        self, detail: str, *, extra: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})


class BadPeriod(Problem):
    status = 422
    title = "Bad report period"
    type = "https://baton.dev/problems/bad-report-period"


def report_period(
    since: datetime | None, until: datetime | None, *, now: datetime, default_days: float
) -> tuple[datetime, datetime]:
    """A report's [since, until): `until` defaults to now, `since` to `default_days` before it."""
    until = until or now
    since = since or until - timedelta(days=default_days)
    if since >= until:
        raise BadPeriod(
            "`since` must be before `until`", extra={"since": since.isoformat(), "until": until.isoformat()}
        )
    return since, until


def problem_response(
    *,
    status: int,
    title: str,
    detail: str,
    type: str = "about:blank",
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"type": type, "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}))


def install_problem_handlers(app: FastAPI) -> None:
    install_unavailable_handler(app)

    @app.exception_handler(Problem)
    async def _problem(_request: Request, exc: Problem) -> Response:
        return problem_response(
            status=exc.status, title=exc.title, detail=exc.detail, type=exc.type, headers=exc.headers, **exc.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "field": ".".join(str(p) for p in err["loc"] if p != "body") or "body",
                "message": err["msg"],
                "type": err["type"],
            }
            for err in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(
            status=422,
            title="Request failed validation",
            detail=detail,
            type="https://baton.dev/problems/validation",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> Response:
        return problem_response(
            status=exc.status_code, title=str(exc.detail), detail=str(exc.detail), headers=getattr(exc, "headers", None)
        )


def add_ops_routes(app: FastAPI, *, readiness: Callable[[], Mapping[str, ReadinessCheck]]) -> None:
    """`/healthz` answers while the process runs; `/readyz` runs each named check (503 naming the failures)."""

    @app.get("/healthz", tags=["ops"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["ops"],
        summary="Readiness: database and Kafka reachable, workers running",
        responses={503: {"description": "Not ready; the body names the failing checks"}},
    )
    async def readyz() -> Response:
        failures: dict[str, str] = {}
        for name, check in readiness().items():
            try:
                await check()
            except Exception as error:  # a readiness probe reports, it never raises
                failures[name] = f"{type(error).__name__}: {error}"[:300]
        if failures:
            return problem_response(status=503, title="Not ready", detail=", ".join(failures), checks=failures)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work, shared by the endpoint and its dependencies (the caller's key).

    GET and HEAD read one snapshot (`read_transaction`) and take no write lock: on SQLite, with one
    writer per process, a poll or a report then never queues behind ingestion, nor ingestion behind
    it. Other methods write: commits after the endpoint returns and *before* the response is sent
    (scope="function"), so a 2xx always means committed."""
    sessions = request.app.state.runtime.sessions
    unit = read_transaction(sessions) if request.method in ("GET", "HEAD") else transaction(sessions)
    async with unit as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(request_session, scope="function")]


def install_unavailable_handler(app: FastAPI) -> None:
    """Database or broker unreachable → 503 with Retry-After, so the sender retries and nothing is lost."""

    @app.exception_handler(Exception)
    async def _unavailable(_request: Request, exc: Exception) -> Response:
        if is_infrastructure_error(exc):
            return problem_response(
                status=503,
                title="Temporarily unavailable",
                detail="storage is unreachable; nothing was recorded, retry later",
                type="https://baton.dev/problems/unavailable",
                headers={"Retry-After": "1"},
            )
        raise exc
