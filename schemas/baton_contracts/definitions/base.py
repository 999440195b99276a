from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Definitions models refuse unknown keys: a misspelt key is an error that names its path."""

    model_config = ConfigDict(frozen=True, extra="forbid")
