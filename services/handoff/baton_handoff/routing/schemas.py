"""Roster, teams, accounts and API keys over HTTP."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from baton_contracts.definitions.base import CountryCode, TimeZoneName
from baton_contracts.definitions.routing import Id, WorkingHours


class OutOfOffice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> OutOfOffice:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class RepWrite(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Ana Ortiz",
                    "email": "ana.ortiz@northwind.example",
                    "team_id": "default",
                    "weight": 1.5,
                    "timezone": "America/New_York",
                    "country": "US",
                    "daily_cap": 20,
                    "weekly_cap": 80,
                    "working_hours": {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"},
                    "out_of_office": [{"start": "2026-12-24T00:00:00Z", "end": "2027-01-02T00:00:00Z"}],
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320)
    team_id: Id = "default"
    weight: float = Field(default=1.0, gt=0, le=100)
    active: bool = True
    timezone: TimeZoneName = "UTC"
    country: CountryCode | None = Field(default=None, description="ISO country of the rep's holidays.")
    calendar: str | None = Field(default=None, max_length=100)
    manager_id: str | None = Field(default=None, max_length=100)
    daily_cap: int | None = Field(default=None, ge=1, le=100_000)
    weekly_cap: int | None = Field(default=None, ge=1, le=1_000_000)
    working_hours: WorkingHours | None = None
    out_of_office: list[OutOfOffice] = Field(default_factory=list, max_length=100)


class RepRead(RepWrite):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    rep_id: str
    pass_value: float = Field(description="The rep's virtual time in the team's weighted rotation.")
    updated_at: datetime


class TeamWrite(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "EMEA mid-market"}]})

    name: str = Field(min_length=1, max_length=200)


class TeamRead(TeamWrite):
    model_config = ConfigDict(from_attributes=True)

    team_id: str
    virtual_time: float
    updated_at: datetime


class AccountWrite(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Acme Corp", "domain": "acme.example", "owner_rep_id": "ana.ortiz", "employees": 800}]
        },
    )

    name: str = Field(min_length=1, max_length=300)
    domain: str | None = Field(default=None, max_length=253, pattern=r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
    owner_rep_id: str | None = Field(default=None, max_length=100)
    employees: int | None = Field(default=None, ge=0, le=10_000_000)


class AccountRead(AccountWrite):
    model_config = ConfigDict(from_attributes=True)

    account_id: str
    updated_at: datetime


class AccountImportRow(AccountWrite):
    account_id: Id


class AccountImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accounts: list[AccountImportRow] = Field(min_length=1, max_length=10_000)


class ImportResult(BaseModel):
    created: int
    updated: int


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "salesforce", "scopes": ["crm", "read"]},
                {"name": "ana-crm", "scopes": ["crm", "read"], "rep_id": "ana.ortiz"},
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1, max_length=4, description="Any of ingest, crm, read, admin.")
    # Ids, never empty: an empty binding would read as no binding, a key that sees every lead.
    rep_id: Id | None = Field(default=None, description="Bind the key to one rep's leads.")
    team_id: Id | None = Field(default=None, description="Bind the key to one team's leads.")

    @model_validator(mode="after")
    def _valid(self) -> ApiKeyCreate:
        unknown = set(self.scopes) - {"ingest", "crm", "read", "admin"}
        if unknown:
            raise ValueError(f"unknown scopes: {sorted(unknown)}")
        if (self.rep_id or self.team_id) and "admin" in self.scopes:
            raise ValueError("a rep- or team-bound key cannot be admin")
        return self


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key_id: str
    name: str
    scopes: list[str]
    rep_id: str | None
    team_id: str | None
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str | None = Field(
        description="The key itself, shown once; only its hash is stored. None when a request with the same "
        "`Idempotency-Key` is replayed: the secret is not kept for replays (revoke the key and create another "
        "if the first answer was lost)."
    )
