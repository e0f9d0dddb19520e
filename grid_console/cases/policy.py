"""Per-kind case rules: which kinds skip the operator's confirmation, and the deadlines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from grid_console.dispatch.policy import DispatchPolicy

# Kinds where every minute counts and the sensor or verifier already confirmed it: a person
# confirming first would only lose time (issue 16: smoke, gas, e-bike in lift).
DEFAULT_AUTO_REGISTER = frozenset({"smoke", "gas", "co", "ebike_in_lift"})
DEFAULT_RESPONSE_S = 300.0  # the communities' 5-minute response rule
DEFAULT_RESPONSE_BY_KIND: Mapping[str, float] = {"smoke": 60.0, "gas": 60.0}
DEFAULT_HANDLE_S = 3600.0
DEFAULT_JOIN_WINDOW_S = 600.0  # a re-raised alert of the same zone or sensor joins the open case
DEFAULT_ESCALATE_S = 300.0  # from the grid head being told (督办) to the grid leader


@dataclass(frozen=True, slots=True)
class CasePolicy:
    auto_register: frozenset[str] = DEFAULT_AUTO_REGISTER
    response_s: float = DEFAULT_RESPONSE_S
    response_by_kind: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_RESPONSE_BY_KIND)
    )
    handle_s: float = DEFAULT_HANDLE_S
    handle_by_kind: Mapping[str, float] = field(default_factory=dict)
    join_window_s: float = DEFAULT_JOIN_WINDOW_S
    escalate_s: float = DEFAULT_ESCALATE_S
    dispatch: DispatchPolicy = field(default_factory=DispatchPolicy)

    def response_deadline(self, kind: str) -> timedelta:
        """From the alert to a patrol accepting the case."""
        return timedelta(seconds=self.response_by_kind.get(kind, self.response_s))

    def handle_deadline(self, kind: str) -> timedelta:
        """From the alert to the patrol reporting it handled."""
        return timedelta(seconds=self.handle_by_kind.get(kind, self.handle_s))
