"""What an admin may set for a kind, checked, and how it lays over the serve options.

Pure functions: the service reads and writes the rows, this module says what they mean.
A kind's override wins over the flags and the config file; a NULL field (or no row) keeps the
flag's value, so the flags stay the defaults for every kind nobody changed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from grid_console.cases.policy import CasePolicy
from grid_console.dispatch.policy import DispatchMode

# Bounds. A response deadline under 10 s would turn every case red before a person could read
# it (the deadline job looks once a second); a day is far past any response rule. Handling is
# longer work: at least a minute, at most 30 days (a long-standing parking or clutter case).
RESPONSE_LIMITS = (10, 24 * 3600)
HANDLE_LIMITS = (60, 30 * 24 * 3600)
# The kind's own rule is dropped and the severity's rule (or the default) decides.
BY_SEVERITY = "by_severity"
DISPATCH_CHOICES = (*(m.value for m in DispatchMode), BY_SEVERITY)
FIELDS = ("response_s", "handle_s", "auto_register", "dispatch")
KIND_PATTERN = re.compile(r"^[a-z_]{1,64}$")  # the contract's kind, within cases.kind

FIELD_NAMES_ZH = {
    "kind": "事件类型",
    "response_s": "响应时限",
    "handle_s": "处置时限",
    "auto_register": "自动立案",
    "dispatch": "派遣方式",
}


class KindSettingError(ValueError):
    """A value refused, with the field it belongs to and a message in both languages."""

    def __init__(self, field: str, zh: str, en: str) -> None:
        super().__init__(f"{FIELD_NAMES_ZH.get(field, field)} {field}：{zh} / {field}: {en}")
        self.field = field
        self.zh = zh
        self.en = en


@dataclass(frozen=True, slots=True)
class Override:
    """One kind's row; None: the flag's value."""

    kind: str
    response_s: int | None = None
    handle_s: int | None = None
    auto_register: bool | None = None
    dispatch: str | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f) is None for f in FIELDS)


@dataclass(frozen=True, slots=True)
class Effective:
    """What a kind gets now, where each value comes from, and what the flags alone give."""

    kind: str
    values: dict[str, object]
    sources: dict[str, str]  # field -> "admin" | "default"
    defaults: dict[str, object]


def check_kind(kind: str) -> str:
    if not KIND_PATTERN.match(kind):
        raise KindSettingError(
            "kind",
            "只能是小写字母和下划线，最多 64 个字符",
            "lower-case letters and underscores only, at most 64 characters",
        )
    return kind


def merge_changes(current: Override, changes: Mapping[str, object]) -> Override:
    """`current` with `changes` (a JSON object: a field set to null goes back to the flag's
    value; a field left out stays as it is), every value checked."""
    if not isinstance(changes, Mapping):
        raise KindSettingError("body", "必须是 JSON 对象", "must be a JSON object")
    for name in changes:
        if name not in FIELDS:
            raise KindSettingError(
                str(name)[:64], "不是可设置的字段", f"not a setting; use {', '.join(FIELDS)}"
            )
    updates: dict[str, object] = {}
    for name, value in changes.items():
        updates[name] = None if value is None else _checked(name, value)
    return dataclasses.replace(current, **updates)  # type: ignore[arg-type]


def _checked(name: str, value: object) -> object:
    if name in ("response_s", "handle_s"):
        low, high = RESPONSE_LIMITS if name == "response_s" else HANDLE_LIMITS
        whole = isinstance(value, int | float) and not isinstance(value, bool)
        if not whole or not float(value).is_integer() or not low <= value <= high:  # type: ignore[operator,arg-type]
            raise KindSettingError(
                name,
                f"必须是 {low} 到 {high} 之间的整数秒",
                f"must be whole seconds from {low} to {high}",
            )
        return int(value)  # type: ignore[call-overload]
    if name == "auto_register":
        if not isinstance(value, bool):
            raise KindSettingError(name, "必须是 true 或 false", "must be true or false")
        return value
    if value not in DISPATCH_CHOICES:
        raise KindSettingError(
            name,
            f"必须是 {'、'.join(DISPATCH_CHOICES)} 之一",
            f"must be one of {', '.join(DISPATCH_CHOICES)}",
        )
    return value


def check_consistent(base: CasePolicy, override: Override, changed: Iterable[str]) -> None:
    """A handling deadline shorter than the response deadline would escalate a case for late
    handling before anyone was late to accept it: refused, naming the field just changed."""
    effective = describe(base, override)
    response, handle = effective.values["response_s"], effective.values["handle_s"]
    assert isinstance(response, int | float) and isinstance(handle, int | float)
    if handle < response:
        field = "response_s" if "response_s" in changed else "handle_s"
        raise KindSettingError(
            field,
            f"处置时限（{handle:g} 秒）不能短于响应时限（{response:g} 秒）",
            f"the handling deadline ({handle:g} s) cannot be shorter than the response "
            f"deadline ({response:g} s)",
        )


def flag_values(base: CasePolicy, kind: str) -> dict[str, object]:
    """What the serve options alone give `kind`."""
    rule = base.dispatch.by_kind.get(kind)
    return {
        "response_s": _seconds(base.response_deadline(kind).total_seconds()),
        "handle_s": _seconds(base.handle_deadline(kind).total_seconds()),
        "auto_register": kind in base.auto_register,
        "dispatch": rule.value if rule is not None else BY_SEVERITY,
    }


def _seconds(value: float) -> int | float:
    # Whole seconds as an integer, as the admin writes them; a flag may give a fraction.
    return int(value) if value.is_integer() else value


def describe(base: CasePolicy, override: Override) -> Effective:
    defaults = flag_values(base, override.kind)
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    for name in FIELDS:
        mine = getattr(override, name)
        values[name] = defaults[name] if mine is None else mine
        sources[name] = "default" if mine is None else "admin"
    return Effective(override.kind, values, sources, defaults)


def apply_overrides(base: CasePolicy, overrides: Iterable[Override]) -> CasePolicy:
    """The policy with every kind's override laid over the flags'."""
    response = dict(base.response_by_kind)
    handle = dict(base.handle_by_kind)
    auto = set(base.auto_register)
    by_kind = dict(base.dispatch.by_kind)
    any_row = False
    for row in overrides:
        any_row = True
        if row.response_s is not None:
            response[row.kind] = float(row.response_s)
        if row.handle_s is not None:
            handle[row.kind] = float(row.handle_s)
        if row.auto_register is True:
            auto.add(row.kind)
        elif row.auto_register is False:
            auto.discard(row.kind)
        if row.dispatch == BY_SEVERITY:
            by_kind.pop(row.kind, None)
        elif row.dispatch is not None:
            by_kind[row.kind] = DispatchMode(row.dispatch)
    if not any_row:
        return base
    return dataclasses.replace(
        base,
        response_by_kind=response,
        handle_by_kind=handle,
        auto_register=frozenset(auto),
        dispatch=dataclasses.replace(base.dispatch, by_kind=by_kind),
    )
