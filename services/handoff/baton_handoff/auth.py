"""API keys: scoped (ingest, crm, read, admin), stored as SHA-256 hashes, optionally bound to a rep
or a team, in which case the key acts only on that rep's or team's leads.

A key looks like `bk_<key_id>_<secret>`; it is sent as `Authorization: Bearer <key>` or
`X-API-Key: <key>`. Keys are random 192-bit secrets, so a fast hash is enough (no password KDF).
The bootstrap admin key comes from the `ADMIN_API_KEY` setting and is (re)stored at start-up.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from baton_handoff.leads.exceptions import LeadNotFound
from baton_handoff.models import ApiKey, Lead
from baton_kit.http import Problem

BOOTSTRAP_KEY_ID = "bootstrap-admin"


class Scope(StrEnum):
    INGEST = "ingest"
    CRM = "crm"
    READ = "read"
    ADMIN = "admin"


class Unauthenticated(Problem):
    status = 401
    title = "Missing or invalid API key"
    type = "https://baton.dev/problems/unauthenticated"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="baton"'})


class Forbidden(Problem):
    status = 403
    title = "Not allowed for this API key"
    type = "https://baton.dev/problems/forbidden"


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    scopes: frozenset[str]
    rep_id: str | None = None
    team_id: str | None = None

    def has(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes

    @property
    def actor(self) -> str:
        if self.key_id == SYSTEM.key_id:
            return f"system:{self.name}"
        return f"rep:{self.rep_id}" if self.rep_id else f"key:{self.name}"


SYSTEM = Principal(key_id="system", name="system", scopes=frozenset({"admin"}))


def system_principal(name: str) -> Principal:
    """The service acting on its own (e.g. on an SLA reassign request)."""
    return Principal(key_id=SYSTEM.key_id, name=name, scopes=SYSTEM.scopes)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh (key_id, full key). Only the hash of the full key is stored."""
    key_id = secrets.token_hex(6)
    return key_id, f"bk_{key_id}_{secrets.token_urlsafe(24)}"


def read_presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key.strip()
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


async def authenticate(session: AsyncSession, presented: str | None, *, now: datetime) -> Principal:
    if not presented:
        raise Unauthenticated("send an API key: `Authorization: Bearer <key>` or `X-API-Key: <key>`")
    row = await session.scalar(select(ApiKey).where(ApiKey.secret_hash == hash_secret(presented)))
    if row is None or (row.revoked_at is not None and row.revoked_at <= now):
        raise Unauthenticated("unknown or revoked API key")
    return Principal(
        key_id=row.key_id, name=row.name, scopes=frozenset(row.scopes), rep_id=row.rep_id, team_id=row.team_id
    )


def require_scope(principal: Principal, scope: Scope) -> Principal:
    if not principal.has(scope):
        raise Forbidden(f"this key lacks the `{scope.value}` scope", extra={"required_scope": scope.value})
    return principal


def authorize_lead(principal: Principal, lead: Lead) -> None:
    """A rep-bound key acts only on leads assigned to that rep; a team-bound key on its team's leads.

    Another's lead answers exactly as a lead that does not exist: lead ids derive from email
    addresses, so a different answer would tell a bound key whether a person is in the system."""
    if (principal.rep_id is not None and lead.rep_id != principal.rep_id) or (
        principal.team_id is not None and lead.team_id != principal.team_id
    ):
        raise LeadNotFound(f"no lead {lead.lead_id!r}")


async def store_bootstrap_key(session: AsyncSession, secret: str, *, now: datetime) -> bool:
    """Store (or rotate) the bootstrap admin key from settings; False when that very key was revoked
    through the API, which a restart does not undo (a leaked key stays out until a new one is set)."""
    row = await session.get(ApiKey, BOOTSTRAP_KEY_ID)
    if row is None:
        session.add(
            ApiKey(
                key_id=BOOTSTRAP_KEY_ID,
                name=BOOTSTRAP_KEY_ID,
                secret_hash=hash_secret(secret),
                scopes=[Scope.ADMIN.value],
                created_at=now,
            )
        )
    elif row.secret_hash != hash_secret(secret):  # a new key in settings: it replaces the old, revoked or not
        row.secret_hash = hash_secret(secret)
        row.revoked_at = None
    elif row.revoked_at is not None:
        return False
    return True
