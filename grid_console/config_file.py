"""`grid-console serve --config FILE`: every serve option, read from a TOML or YAML file.

The keys are the options' names without the dashes (`port`, `topic-root` or `topic_root`,
`response-s` ...). Values are checked with the same rules as on the command line, so a bad one
is refused at start-up naming the file and the key. Options given on the command line win over
the file. The rules come from the parser itself, so an option added to `serve` is readable from
the file at once, with nothing to keep in step.

Repeatable options (`response-s`, `dispatch` ...) take a list, or a table of KEY = VALUE:

    response-s = { default = 300, smoke = 60 }
    dispatch = { illegal_parking = "manual" }
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

MAX_CONFIG_BYTES = 1024 * 1024
_SKIP = {"help", "config", "command"}


class ConfigError(ValueError):
    pass


def read_config(path: Path) -> dict[str, Any]:
    """The file's top-level mapping; errors name the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            doc: object = tomllib.loads(data.decode("utf-8"))
        elif suffix in (".yaml", ".yml"):
            from ruamel.yaml import YAML  # noqa: PLC0415

            doc = YAML(typ="safe", pure=True).load(data.decode("utf-8"))
        else:
            raise ConfigError(f"{path}: use a .toml, .yaml or .yml file")
    except ConfigError:
        raise
    except Exception as exc:  # each parser has its own error types
        raise ConfigError(f"{path}: not valid {suffix[1:].upper()}: {exc}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the top level must be a table of options")
    return doc


def defaults_from(
    parser: argparse.ArgumentParser, doc: dict[str, Any], source: Path
) -> dict[str, Any]:
    """Check `doc` against `parser`'s options; return argparse defaults (dest -> value)."""
    actions = {a.dest: a for a in parser._actions if a.dest not in _SKIP}
    result: dict[str, Any] = {}
    for raw_key, value in doc.items():
        key = str(raw_key).replace("-", "_")
        shown = str(raw_key)
        action = actions.get(key)
        if action is None:
            known = ", ".join(sorted(a.replace("_", "-") for a in actions))
            raise ConfigError(f"{source}: unknown key {shown!r}; keys are: {known}")
        result[key] = _value(action, value, f"{source}: {shown}")
    return result


def _value(action: argparse.Action, value: object, where: str) -> Any:
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(action, argparse._AppendAction):
        if isinstance(value, dict):
            items = [str(v) if k == "default" else f"{k}={v}" for k, v in value.items()]
        elif isinstance(value, list):
            items = [str(v) for v in value]
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            items = [str(value)]
        else:
            raise ConfigError(f"{where}: expected a list or a table, got {value!r}")
        return [_scalar(action, item, where) for item in items]
    if isinstance(value, dict | list) or value is None:
        raise ConfigError(f"{where}: expected a single value, got {value!r}")
    return _scalar(action, value, where)


def _scalar(action: argparse.Action, value: object, where: str) -> Any:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    converted: Any = text
    if callable(action.type):
        try:
            converted = action.type(text)
        except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
            raise ConfigError(f"{where}: {value!r} is not valid: {exc}") from None
    if action.choices is not None and converted not in action.choices:
        choices = ", ".join(str(c) for c in action.choices)
        raise ConfigError(f"{where}: {value!r} is not one of {choices}")
    return converted
