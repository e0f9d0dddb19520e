"""Every setting a zone has, read off the zone config model, for the installer page's form.

The page builds its inputs from this list, so a field added to `edge.config.model.Zone` shows
up on the page (with the model's English description until it gets a Chinese label) instead of
being left out. Bounds, enum choices and per-kind defaults come from the model too; which rule
reads which setting is stated here, next to the rules it mirrors (edge/rules/dwell.py and
edge/rules/lift.py).
"""

from __future__ import annotations

from typing import Any

from edge.config.model import _KIND_DEFAULTS, Zone, ZoneKind

JsonDict = dict[str, Any]

# Shown as their own controls (the polygon is drawn; id, name, kind and categories are at the
# top of the form).
OWN_CONTROLS = ("id", "name", "kind", "polygon", "categories")

_DWELL = (ZoneKind.NO_PARKING.value, ZoneKind.FIRE_LANE.value)
_LIFT = (ZoneKind.LIFT.value,)
# The settings a rule reads (edge/rules/dwell.py, lift.py); the rest apply to every kind.
APPLIES_TO: dict[str, tuple[str, ...]] = {
    "grace_s": _DWELL,
    "stationary_iou": _DWELL,
    "stationary_window_s": _DWELL,
    "max_gap_s": _DWELL,
    "confirm_s": _LIFT,
    "min_hits": _LIFT,
    "verifier_threshold": _LIFT,
    "verifier_frames": _LIFT,
    "verifier_rider": _LIFT,
    "actions": _LIFT,
}

_BOUNDS = {"minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt"}


def _resolve(schema: JsonDict, defs: JsonDict) -> tuple[JsonDict, bool]:
    """The field's own schema without the `null` branch, and whether null is allowed."""
    nullable = False
    if "anyOf" in schema:
        branches = [b for b in schema["anyOf"] if b.get("type") != "null"]
        nullable = len(branches) < len(schema["anyOf"])
        schema = {**schema, **branches[0]} if len(branches) == 1 else schema
    ref = schema.get("$ref")
    if isinstance(ref, str):
        schema = {**schema, **defs[ref.rsplit("/", 1)[-1]]}
    return schema, nullable


def _field(name: str, schema: JsonDict, defs: JsonDict, kinds: tuple[str, ...]) -> JsonDict:
    own, nullable = _resolve(schema, defs)
    out: JsonDict = {
        "name": name,
        "type": "enum" if "enum" in own else own.get("type", "string"),
        "nullable": nullable,
        "default": own.get("default"),
        "description": own.get("description", ""),
        "kinds": list(kinds),
    }
    if "enum" in own:
        out["options"] = list(own["enum"])
    for key, short in _BOUNDS.items():
        if key in own:
            out[short] = own[key]
    if "pattern" in own:
        out["pattern"] = own["pattern"]
    if "maxLength" in own:
        out["max_length"] = own["maxLength"]
    by_kind = {k.value: v for k, d in _KIND_DEFAULTS.items() for f, v in d.items() if f == name}
    if by_kind:
        out["by_kind"] = {k: v.value if hasattr(v, "value") else v for k, v in by_kind.items()}
    return out


def zone_fields() -> list[JsonDict]:
    """Every zone setting but those with their own controls, in the model's order; a nested
    model's fields flattened as `actions.door_hold`."""
    schema = Zone.model_json_schema()
    defs: JsonDict = schema.get("$defs", {})
    every = tuple(k.value for k in ZoneKind)
    fields: list[JsonDict] = []
    for name, sub in schema["properties"].items():
        if name in OWN_CONTROLS:
            continue
        kinds = APPLIES_TO.get(name, every)
        own, _ = _resolve(sub, defs)
        if own.get("type") == "object" and "properties" in own:
            for inner, inner_schema in own["properties"].items():
                fields.append(_field(f"{name}.{inner}", inner_schema, defs, kinds))
            continue
        fields.append(_field(name, sub, defs, kinds))
    return fields
