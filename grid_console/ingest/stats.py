"""Counters of what the ingest did with each message (on /api/health and /metrics)."""

from __future__ import annotations

import threading
from collections import Counter
from enum import StrEnum


class Outcome(StrEnum):
    APPLIED = "applied"  # a new event that moved its case (or opened it)
    HISTORY = "history"  # a new event older than the case's latest: kept, case not moved
    DUPLICATE = "duplicate"  # (alert id, seq) already applied
    STATE = "state"  # node status, camera or sensor state recorded
    SNAPSHOT = "snapshot"  # snapshot stored (or already there)
    QUARANTINED = "quarantined"
    IGNORED = "ignored"  # an empty retained message: someone cleared a topic


class IngestStats:
    """Thread-safe counters; one instance per console, passed to whoever counts or shows."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outcomes: Counter[str] = Counter()
        self._quarantined: Counter[str] = Counter()
        self._errors = 0

    def count(self, outcome: Outcome, reason: str | None = None) -> None:
        with self._lock:
            self._outcomes[outcome.value] += 1
            if reason is not None:
                self._quarantined[reason] += 1

    def count_error(self) -> None:
        """A message that could not be applied yet (database down); it will be retried."""
        with self._lock:
            self._errors += 1

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {
                "outcomes": dict(self._outcomes),
                "quarantined": dict(self._quarantined),
                "retried_errors": self._errors,
            }
