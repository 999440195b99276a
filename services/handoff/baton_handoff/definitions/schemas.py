from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from baton_contracts.definitions.crm import RejectionReason


class DefinitionsRead(BaseModel):
    version: str = Field(description="The content hash every decision made under this file records.")
    definitions: dict[str, Any] = Field(description="The file as validated, defaults filled in.")
    warnings: list[str] = Field(description="Routing to teams or reps the file does not declare (see `validate`).")


class RejectionReasons(BaseModel):
    version: str
    rejection_reasons: list[RejectionReason] = Field(
        description="The codes `POST /v1/leads/{id}/reject` takes: what a CRM's reject dialog offers."
    )


class VersionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: str
    first_loaded_at: datetime
    last_loaded_at: datetime = Field(description="The last start-up with this file.")
    current: bool = Field(description="The version this process runs with.")


class VersionRead(VersionSummary):
    text: str = Field(description="The file as it was loaded, comments and all.")
