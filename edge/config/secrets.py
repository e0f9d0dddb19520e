"""Secrets in the config: written inline, or taken from an environment variable or a file.

`password: {env: GS_MQTT_PASSWORD}` or `password: {file: /run/secrets/mqtt}` keeps the secret
out of the YAML an installer copies around. Resolved values are SecretStr, so a repr or a log
line of the settings never shows them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from edge.config.bounded import FileProblemError, read_limited

MAX_SECRET_BYTES = 4096
"""A password, token or key file: read at most this much, and only from a regular file."""


class SecretRef(BaseModel):
    """Where to find a secret: exactly one of `env` or `file`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = Field(None, min_length=1, description="Environment variable holding it.")
    file: str | None = Field(
        None, min_length=1, description="File holding it (relative to the config file)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self


Secret = SecretStr | SecretRef


class SecretError(ValueError):
    """A referenced secret cannot be read; the message names where it was looked for."""


def resolve_secret(
    secret: Secret | None, base_dir: Path, environ: Mapping[str, str] | None = None
) -> str | None:
    if secret is None:
        return None
    if isinstance(secret, SecretStr):
        return secret.get_secret_value()
    env = os.environ if environ is None else environ
    if secret.env is not None:
        if secret.env not in env:
            raise SecretError(f"environment variable {secret.env} is not set")
        return env[secret.env]
    assert secret.file is not None
    path = expand_user(secret.file)
    path = path if path.is_absolute() else base_dir / path
    try:
        data = read_limited(path, MAX_SECRET_BYTES)
    except FileProblemError as exc:
        raise SecretError(f"secret file: {exc}") from None
    try:
        # A trailing newline is how every editor and `echo` leave a secret file.
        return data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise SecretError(f"secret file {path} is not UTF-8 text") from None


def expand_user(value: str) -> Path:
    """Path(value).expanduser(), keeping `~name` as written when there is no such user."""
    try:
        return Path(value).expanduser()
    except RuntimeError:
        return Path(value)
