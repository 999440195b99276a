"""Roster, teams, accounts (with bulk import), a rep's queue, and API keys. Writes are admin-only
and take an optional `Idempotency-Key`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts.events import LeadState
from baton_handoff.auth import Forbidden, Principal, hash_secret, new_key
from baton_handoff.crm.idempotency import idempotent_request
from baton_handoff.dependencies import AdminKey, IdempotencyKey, ReadKey, RuntimeDep
from baton_handoff.leads import service as leads
from baton_handoff.leads.endpoints import AUTH
from baton_handoff.leads.schemas import LeadList, LeadSummary
from baton_handoff.models import Account, ApiKey, Rep, Team
from baton_handoff.routing.schemas import (
    AccountImport,
    AccountRead,
    AccountWrite,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    ImportResult,
    RepRead,
    RepWrite,
    TeamRead,
    TeamWrite,
)
from baton_kit.http import DbSession, Problem

router = APIRouter(prefix="/v1", tags=["routing"])
keys_router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])

IdPath = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9._-]*$")]

WRITE: dict[int | str, dict[str, Any]] = {**AUTH, 422: {"description": "Invalid body, or Idempotency-Key reused"}}
UPSERT: dict[int | str, dict[str, Any]] = {**WRITE, 404: {"description": "Never: PUT creates what does not exist"}}


@dataclass(frozen=True)
class _AdminWrite:
    """An admin write's session and time; `respond` runs it once per `Idempotency-Key`."""

    request: Request
    session: AsyncSession
    now: datetime
    principal: Principal
    key: str | None

    async def respond(
        self,
        body: BaseModel | None,
        run: Callable[[], Awaitable[BaseModel]],
        *,
        status_code: int = 200,
        kept: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> JSONResponse:
        return await idempotent_request(
            self.request,
            self.session,
            key=self.key,
            scope=self.principal.key_id,
            body=body,
            now=self.now,
            run=run,
            status_code=status_code,
            kept=kept,
        )


async def _admin_write(
    request: Request, session: DbSession, runtime: RuntimeDep, principal: AdminKey, key: IdempotencyKey = None
) -> _AdminWrite:
    return _AdminWrite(request, session, runtime.clock.now(), principal, key)


AdminWrite = Annotated[_AdminWrite, Depends(_admin_write)]


class NotFound(Problem):
    status = 404
    title = "Not found"
    type = "https://baton.dev/problems/not-found"


class UnknownOwners(Problem):
    """An import naming owners who are not on the roster: nothing imported (as `PUT` refuses one)."""

    status = 422
    title = "Unknown account owners"
    type = "https://baton.dev/problems/unknown-owners"


def _rep_read(rep: Rep) -> RepRead:
    return RepRead.model_validate(
        {
            **{
                c: getattr(rep, c)
                for c in (
                    "rep_id",
                    "name",
                    "email",
                    "team_id",
                    "weight",
                    "active",
                    "timezone",
                    "country",
                    "calendar",
                    "manager_id",
                    "daily_cap",
                    "weekly_cap",
                    "working_hours",
                    "pass_value",
                    "updated_at",
                )
            },
            "out_of_office": [{"start": s, "end": e} for s, e in rep.out_of_office or []],
        }
    )


@router.get("/reps", response_model=list[RepRead], summary="The roster", responses=AUTH)
async def list_reps(session: DbSession, _principal: ReadKey) -> list[RepRead]:
    return [_rep_read(r) for r in await session.scalars(select(Rep).order_by(Rep.rep_id))]


@router.put(
    "/reps/{rep_id}",
    response_model=RepRead,
    summary="Add or update a rep (team, weight, capacity, calendar, working hours, out-of-office, active)",
    description="A rep who joins a team, or comes back, starts at the team's current virtual time: no burst of "
    "catch-up leads, no lost place for the others.",
    responses=UPSERT,
)
async def put_rep(rep_id: IdPath, body: RepWrite, write: AdminWrite) -> JSONResponse:
    session, now = write.session, write.now

    async def run() -> RepRead:
        team = await session.scalar(select(Team).where(Team.team_id == body.team_id).with_for_update())
        if team is None:
            team = Team(team_id=body.team_id, name=body.team_id, virtual_time=0.0, updated_at=now)
            session.add(team)
        rep = await session.get(Rep, rep_id, with_for_update=True)
        values = body.model_dump(exclude={"out_of_office", "working_hours"})
        values["working_hours"] = body.working_hours.model_dump() if body.working_hours else None
        values["out_of_office"] = [[o.start.isoformat(), o.end.isoformat()] for o in body.out_of_office]
        if rep is None:
            rep = Rep(rep_id=rep_id, pass_value=team.virtual_time, updated_at=now, **values)
            session.add(rep)
        else:
            moved = rep.team_id != body.team_id  # read before the new values overwrite it
            rejoining = moved or (body.active and not rep.active)
            for name, value in values.items():
                setattr(rep, name, value)
            if rejoining:  # at the team's current place: a place in another team's rotation means nothing here
                rep.pass_value = team.virtual_time if moved else max(rep.pass_value, team.virtual_time)
            rep.updated_at = now
        await session.flush()
        return _rep_read(rep)

    return await write.respond(body, run)


@router.get(
    "/reps/{rep_id}/queue",
    response_model=LeadList,
    summary="A rep's leads (assigned and accepted)",
    responses={**AUTH, 404: {"description": "No such rep"}},
)
async def rep_queue(
    rep_id: str,
    session: DbSession,
    principal: ReadKey,
    state: LeadState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> LeadList:
    if principal.rep_id is not None and principal.rep_id != rep_id:
        raise Forbidden(f"this key acts for {principal.rep_id!r} only")
    if await session.get(Rep, rep_id) is None:
        raise NotFound(f"no rep {rep_id!r}")
    states = [state] if state else [LeadState.ASSIGNED, LeadState.SAL]
    items: list[LeadSummary] = []
    total = 0
    for s in states:
        found, count = await leads.list_leads(
            session, state=s, rep_id=rep_id, team_id=principal.team_id, limit=limit, offset=offset
        )
        items += [LeadSummary.model_validate(lead) for lead in found]
        total += count
    return LeadList(items=items[:limit], total=total)


@router.get("/teams", response_model=list[TeamRead], summary="Teams", responses=AUTH)
async def list_teams(session: DbSession, _principal: ReadKey) -> list[TeamRead]:
    return [TeamRead.model_validate(t) for t in await session.scalars(select(Team).order_by(Team.team_id))]


@router.put("/teams/{team_id}", response_model=TeamRead, summary="Add or rename a team", responses=UPSERT)
async def put_team(team_id: IdPath, body: TeamWrite, write: AdminWrite) -> JSONResponse:
    session, now = write.session, write.now

    async def run() -> TeamRead:
        team = await session.get(Team, team_id, with_for_update=True)
        if team is None:
            team = Team(team_id=team_id, name=body.name, virtual_time=0.0, updated_at=now)
            session.add(team)
        team.name, team.updated_at = body.name, now
        await session.flush()
        return TeamRead.model_validate(team)

    return await write.respond(body, run)


@router.get("/accounts", response_model=list[AccountRead], summary="Accounts", responses=AUTH)
async def list_accounts(
    session: DbSession,
    _principal: ReadKey,
    domain: Annotated[str | None, Query(max_length=253)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[AccountRead]:
    query = select(Account).order_by(Account.account_id).limit(limit).offset(offset)
    if domain:
        query = query.where(Account.domain == domain.lower())
    return [AccountRead.model_validate(a) for a in await session.scalars(query)]


async def _upsert_account(session: DbSession, account_id: str, body: AccountWrite, now: Any) -> tuple[Account, bool]:
    account = await session.get(Account, account_id)
    values = body.model_dump()
    values["domain"] = body.domain.lower() if body.domain else None
    created = account is None
    if account is None:
        account = Account(account_id=account_id, updated_at=now, **values)
        session.add(account)
    else:
        for name, value in values.items():
            setattr(account, name, value)
        account.updated_at = now
    return account, created


@router.put(
    "/accounts/{account_id}",
    response_model=AccountRead,
    summary="Add or update an account and its owner",
    responses={**WRITE, 404: {"description": "The owner rep is not on the roster"}},
)
async def put_account(account_id: IdPath, body: AccountWrite, write: AdminWrite) -> JSONResponse:
    session, now = write.session, write.now

    async def run() -> AccountRead:
        if body.owner_rep_id is not None and await session.get(Rep, body.owner_rep_id) is None:
            raise NotFound(f"no rep {body.owner_rep_id!r} on the roster", extra={"field": "owner_rep_id"})
        account, _ = await _upsert_account(session, account_id, body, now)
        await session.flush()
        return AccountRead.model_validate(account)

    return await write.respond(body, run)


@router.post(
    "/accounts/import",
    response_model=ImportResult,
    summary="Bulk import accounts and owners (upsert); nothing is imported if a row names an unknown owner",
    responses=WRITE,
)
async def import_accounts(body: AccountImport, write: AdminWrite) -> JSONResponse:
    session, now = write.session, write.now

    async def run() -> ImportResult:
        owners = {row.owner_rep_id for row in body.accounts} - {None}
        known = set(await session.scalars(select(Rep.rep_id).where(Rep.rep_id.in_(owners)))) if owners else set()
        unknown = [
            {"field": f"accounts.{n}.owner_rep_id", "message": f"no rep {row.owner_rep_id!r} on the roster"}
            for n, row in enumerate(body.accounts)
            if row.owner_rep_id is not None and row.owner_rep_id not in known
        ]
        if unknown:
            raise UnknownOwners(f"{len(unknown)} rows name an owner not on the roster", extra={"errors": unknown})
        created = updated = 0
        for row in body.accounts:
            _, was_created = await _upsert_account(
                session, row.account_id, AccountWrite(**row.model_dump(exclude={"account_id"})), now
            )
            created += was_created
            updated += not was_created
        return ImportResult(created=created, updated=updated)

    return await write.respond(body, run)


@keys_router.get("", response_model=list[ApiKeyRead], summary="API keys (never the secrets)", responses=AUTH)
async def list_keys(session: DbSession, _principal: AdminKey) -> list[ApiKeyRead]:
    return [ApiKeyRead.model_validate(k) for k in await session.scalars(select(ApiKey).order_by(ApiKey.created_at))]


@keys_router.post(
    "",
    response_model=ApiKeyCreated,
    status_code=201,
    responses=WRITE,
    summary="Create a scoped API key (optionally bound to a rep or a team); the key is shown once",
)
async def create_key(body: ApiKeyCreate, write: AdminWrite) -> JSONResponse:
    session, now = write.session, write.now

    async def run() -> ApiKeyCreated:
        key_id, secret = new_key()
        row = ApiKey(
            key_id=key_id,
            name=body.name,
            secret_hash=hash_secret(secret),
            scopes=sorted(set(body.scopes)),
            rep_id=body.rep_id,
            team_id=body.team_id,
            created_at=now,
        )
        session.add(row)
        await session.flush()
        return ApiKeyCreated.model_validate({**ApiKeyRead.model_validate(row).model_dump(), "key": secret})

    # A replay (same Idempotency-Key) answers the same key's record without the secret: shown once.
    return await write.respond(body, run, status_code=201, kept=lambda answer: {**answer, "key": None})


@keys_router.post(
    "/{key_id}/revoke",
    response_model=ApiKeyRead,
    summary="Revoke an API key",
    responses={**WRITE, 404: {"description": "No such key"}},
)
async def revoke_key(key_id: str, write: AdminWrite) -> JSONResponse:
    session, now = write.session, write.now

    async def run() -> ApiKeyRead:
        row = await session.get(ApiKey, key_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no API key {key_id!r}")
        row.revoked_at = row.revoked_at or now
        return ApiKeyRead.model_validate(row)

    return await write.respond(None, run)
