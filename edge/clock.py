"""Time, injected everywhere so tests and replays control it.

`monotonic()` measures durations (grace periods, dwell, silence); `now()` stamps events with
wall-clock time. Nothing else in the code base reads the system clock.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps; only differences mean anything."""
        ...

    def now(self) -> float:
        """Wall-clock time as Unix epoch seconds, for timestamps shown to people."""
        ...


class SystemClock:
    """The real clocks of the machine."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> float:
        return time.time()


class FakeClock:
    """A clock that moves only when a test tells it to."""

    def __init__(self, start: float = 0.0, epoch: float = 1_767_225_600.0) -> None:
        # The default epoch is 2026-01-01T00:00:00Z so test timestamps read naturally.
        self._t = start
        self._epoch = epoch
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._t

    def now(self) -> float:
        with self._lock:
            return self._epoch + self._t

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._t += seconds

    def set(self, t: float) -> None:
        with self._lock:
            if t < self._t:
                raise ValueError("a clock cannot go backwards")
            self._t = t


class VideoClock(FakeClock):
    """The clock of a replay: the position in the video, anchored to a wall-clock start.

    The replay loop sets it to each frame's presentation time, so grace periods are measured
    in video seconds and a 20-minute clip yields the same verdicts as live, in seconds.
    """

    def __init__(self, epoch: float) -> None:
        super().__init__(start=0.0, epoch=epoch)
