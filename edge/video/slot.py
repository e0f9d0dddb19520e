"""A one-frame mailbox between a capture thread and its consumer.

Capture must never wait for inference: a slow detector would otherwise fill a queue with stale
pictures and every verdict would lag further behind reality. The slot keeps only the newest
frame; a frame replaced before anyone took it is counted as dropped, so the loss is visible.

The slot also measures the camera's own silences (the longest interval between two frames it
was given), so the consumer can tell a stalled stream from its own lateness: a worker that is
behind sees long gaps between the frames it takes even when the camera never paused.
"""

from __future__ import annotations

import threading

from edge.messages import Frame

__all__ = ["LatestFrameSlot"]


class LatestFrameSlot:
    """Thread-safe holder of the latest frame; `put` never blocks."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._fresh = False
        self._dropped = 0
        self._puts = 0
        self._last_put_ts: float | None = None
        self._longest_gap = 0.0
        self._taken_gap = 0.0

    def put(self, frame: Frame) -> None:
        """Store `frame`, replacing the previous one (counted as dropped if never taken)."""
        with self._cond:
            if self._fresh:
                self._dropped += 1
            self._frame = frame
            self._fresh = True
            self._puts += 1
            if self._last_put_ts is not None:
                self._longest_gap = max(self._longest_gap, frame.ts - self._last_put_ts)
            self._last_put_ts = frame.ts
            self._cond.notify_all()

    def take(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not taken yet, waiting up to `timeout` s (None: forever, 0: no wait).

        Returns None when no new frame arrived in time.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._fresh, timeout):
                return None
            self._fresh = False
            self._taken_gap, self._longest_gap = self._longest_gap, 0.0
            return self._frame

    def peek(self) -> Frame | None:
        """The latest frame, taken or not, without consuming it (for snapshots and previews)."""
        with self._cond:
            return self._frame

    @property
    def silence_before_taken(self) -> float:
        """The longest interval between two frames given to the slot, in frame time, among
        those up to the one `take` last returned since the take before it (0 for the first)."""
        with self._cond:
            return self._taken_gap

    @property
    def last_put_ts(self) -> float | None:
        """`ts` of the newest frame given to the slot (taken or not), None before the first."""
        with self._cond:
            return self._last_put_ts

    @property
    def dropped(self) -> int:
        """Frames overwritten before anyone took them."""
        with self._cond:
            return self._dropped

    @property
    def puts(self) -> int:
        """Frames stored so far."""
        with self._cond:
            return self._puts
