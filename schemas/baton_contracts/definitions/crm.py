"""The crm section of the definitions: the rejection taxonomy sales and marketing agreed on."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from baton_contracts.definitions.base import Strict

Code = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[a-z][a-z0-9_]*$")]


class RejectionReason(Strict):
    code: Code
    label: str
    sub_reasons: list[Code] = Field(
        default_factory=list, description="When not empty, a rejection with this code must name one of them."
    )
    requires_note: bool = False


def _default_reasons() -> list[RejectionReason]:
    return [
        RejectionReason(code="unable_to_reach", label="Unable to reach"),
        RejectionReason(code="inaccurate_data", label="Inaccurate data"),
        RejectionReason(code="no_need", label="No interest or need"),
        RejectionReason(code="no_budget", label="No budget"),
        RejectionReason(
            code="no_fit",
            label="No fit",
            sub_reasons=["company_too_small", "wrong_industry", "wrong_region", "wrong_role"],
        ),
        RejectionReason(code="bad_timing", label="Bad timing"),
        RejectionReason(code="duplicate", label="Duplicate or open opportunity"),
        RejectionReason(code="existing_customer", label="Existing customer"),
        RejectionReason(code="junk", label="Junk", sub_reasons=["spam", "test", "student", "competitor"]),
        RejectionReason(code="other", label="Other", requires_note=True),
    ]


class CrmDefinitions(Strict):
    rejection_reasons: list[RejectionReason] = Field(default_factory=_default_reasons, min_length=1)

    @model_validator(mode="after")
    def _unique_codes(self) -> CrmDefinitions:
        codes = [r.code for r in self.rejection_reasons]
        if len(codes) != len(set(codes)):
            raise ValueError("rejection reason codes must be unique")
        return self

    def reason(self, code: str) -> RejectionReason | None:
        return next((r for r in self.rejection_reasons if r.code == code), None)
