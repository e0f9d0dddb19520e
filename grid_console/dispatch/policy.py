"""Auto-dispatch rules per kind and severity (configurable).

Modes: `on_duty` sends a case to the on-duty patrols of its grid, falling back to the grid
head; `all_on_duty` sends it to everyone on duty in the grid and tells the grid head at once
(critical kinds); `manual` leaves it to the operator. A kind's rule wins over a severity's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class DispatchMode(StrEnum):
    ON_DUTY = "on_duty"
    ALL_ON_DUTY = "all_on_duty"
    MANUAL = "manual"


CRITICAL_KINDS = ("smoke", "gas", "co", "ebike_in_lift", "fire_lane_blocked")


@dataclass(frozen=True, slots=True)
class DispatchPolicy:
    default: DispatchMode = DispatchMode.ON_DUTY
    by_kind: Mapping[str, DispatchMode] = field(
        default_factory=lambda: dict.fromkeys(CRITICAL_KINDS, DispatchMode.ALL_ON_DUTY)
    )
    by_severity: Mapping[str, DispatchMode] = field(
        default_factory=lambda: {"critical": DispatchMode.ALL_ON_DUTY}
    )
    timezone: str = "Asia/Shanghai"

    def mode(self, kind: str, severity: str) -> DispatchMode:
        if kind in self.by_kind:
            return self.by_kind[kind]
        return self.by_severity.get(severity, self.default)


def parse_rules(values: list[str], what: str) -> dict[str, DispatchMode]:
    """`KEY=MODE` pairs (from the command line or the config file)."""
    rules: dict[str, DispatchMode] = {}
    for value in values:
        key, sep, mode = value.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{what} {value!r}: expected KEY=MODE")
        try:
            rules[key.strip()] = DispatchMode(mode.strip())
        except ValueError:
            modes = ", ".join(m.value for m in DispatchMode)
            raise ValueError(f"{what} {value!r}: mode must be one of {modes}") from None
    return rules
