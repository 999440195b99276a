import zoneinfo
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Definitions models refuse unknown keys: a misspelt key is an error that names its path."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@lru_cache(maxsize=256)
def known_zone(value: str) -> bool:
    """Whether this machine's zone database has `value`."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _a_known_zone(value: str) -> str:
    if not known_zone(value):
        raise ValueError(f"unknown IANA time zone {value!r}")
    return value


TimeZoneName = Annotated[str, Field(max_length=64, examples=["America/New_York"]), AfterValidator(_a_known_zone)]
"""An IANA time zone this machine's zone database knows, checked where it is written, not where it is used."""

CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, upper case.")]
