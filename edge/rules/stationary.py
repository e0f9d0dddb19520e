"""Has a tracked object stopped? Judged per track over a window of seconds, never frames."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

from edge.messages import Box, Track

_SLACK_S = 1e-6


def stayed_put(then: Box, now: Box, min_iou: float) -> bool:
    """Same place: boxes overlap well, or the ground point moved less than a tenth of the size.

    The second test keeps a car that is half hidden by a passer-by (its box shrinks, IoU drops)
    counted as not moved.
    """
    if then.iou(now) >= min_iou:
        return True
    (x0, y0), (x1, y1) = then.bottom_centre, now.bottom_centre
    size = max(then.width, then.height, now.width, now.height)
    return math.hypot(x1 - x0, y1 - y0) <= 0.1 * size


class StationaryClassifier:
    """Remembers a few seconds of each track's boxes to tell parked from passing."""

    def __init__(self, window_s: float, min_iou: float) -> None:
        self._window = window_s
        self._min_iou = min_iou
        self._history: dict[int, deque[tuple[float, Box]]] = {}

    def observe(self, tracks: Iterable[Track], now: float) -> list[Track]:
        """Record this frame's tracks; return those stationary for at least the window."""
        stationary = []
        seen: set[int] = set()
        for track in tracks:
            seen.add(track.track_id)
            hist = self._history.setdefault(track.track_id, deque())
            hist.append((now, track.box))
            # Keep exactly one sample at or before the window start: the reference point.
            # One cut-off for both tests, with slack for float sums of frame times, or a box
            # that never moves flickers between stationary and not.
            cutoff = now - self._window + _SLACK_S
            while len(hist) >= 2 and hist[1][0] <= cutoff:
                hist.popleft()
            ref_ts, ref_box = hist[0]
            if ref_ts <= cutoff and all(stayed_put(ref_box, box, self._min_iou) for _, box in hist):
                stationary.append(track)
        self._forget(seen, now)
        return stationary

    def _forget(self, seen: set[int], now: float) -> None:
        # A track unseen for a whole window has no usable history; bounded memory over days.
        for tid in [t for t in self._history if t not in seen]:
            if now - self._history[tid][-1][0] > self._window:
                del self._history[tid]

    def reset(self) -> None:
        self._history.clear()
