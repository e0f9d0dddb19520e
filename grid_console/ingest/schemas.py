"""The contract's JSON Schemas (mqtt/schemas/*.json), loaded once, checked with jsonschema.

The console validates against the repository's own schema files, not a copy of them: they are
the contract, the node's tests validate what it publishes against the same files, and a copy
would drift. The package finds them beside itself (`<repo>/mqtt/schemas`), which holds for a
checkout and an editable install; an installation elsewhere passes `--schemas-dir`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match

SCHEMA_NAMES = ("alert", "status", "camera_state", "sensor_state")
_MAX_DETAIL = 500


def default_schemas_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "mqtt" / "schemas"


class SchemaError(RuntimeError):
    """The schema files are missing or broken: a start-up error, never a per-message one."""


class Validators:
    """One validator per payload type of the contract."""

    def __init__(self, directory: Path) -> None:
        self._validators: dict[str, Draft202012Validator] = {}
        for name in SCHEMA_NAMES:
            path = directory / f"{name}.json"
            try:
                schema = json.loads(path.read_text(encoding="utf-8"))
                Draft202012Validator.check_schema(schema)
            except (OSError, ValueError) as exc:
                raise SchemaError(
                    f"cannot load the contract's schema {path}: {exc} "
                    "(point --schemas-dir at the repository's mqtt/schemas)"
                ) from exc
            self._validators[name] = Draft202012Validator(schema, format_checker=FormatChecker())

    def problem(self, name: str, doc: Any) -> str | None:
        """None if `doc` is a valid `name` payload, else the most relevant error, briefly."""
        error = best_match(self._validators[name].iter_errors(doc))
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        return f"{where}: {error.message}"[:_MAX_DETAIL]
