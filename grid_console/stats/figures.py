"""The figures of one row (a grid and a kind, or the total), and how percentiles are taken."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

COUNTS = ("reported", "registered", "closed", "false_alarms", "handled_on_time",
          "handled_late", "still_overdue", "reworked")  # fmt: skip


@dataclass
class Figures:
    grid: str | None
    kind: str | None  # None in the total row
    reported: int = 0
    registered: int = 0
    closed: int = 0
    false_alarms: int = 0
    handled_on_time: int = 0
    handled_late: int = 0
    still_overdue: int = 0
    reworked: int = 0
    accept_s: list[float] = field(default_factory=list)
    close_s: list[float] = field(default_factory=list)

    def add(self, other: Figures) -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.accept_s += other.accept_s
        self.close_s += other.close_s

    def summary(self) -> dict[str, float | None]:
        return {
            "accept_median_s": percentile(self.accept_s, 0.5),
            "accept_p90_s": percentile(self.accept_s, 0.9),
            "close_median_s": percentile(self.close_s, 0.5),
            "close_p90_s": percentile(self.close_s, 0.9),
        }


def percentile(values: Sequence[float], p: float) -> float | None:
    """Linear interpolation between the closest ranks: PostgreSQL's percentile_cont and
    Excel's PERCENTILE.INC give the same, so a figure can be checked by either."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    value = ordered[low] + (rank - low) * (ordered[high] - ordered[low])
    return round(value, 3)
