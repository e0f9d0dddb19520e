"""What every config model shares: refuse unknown keys, and the shape of an id."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Identifier = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
        description="Letters, digits, '_', '-', '.'; used in MQTT topics and file names.",
    ),
]


class StrictModel(BaseModel):
    # A misspelt key is an error, never a silent default.
    model_config = ConfigDict(extra="forbid", frozen=True)
