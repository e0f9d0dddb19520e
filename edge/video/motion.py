"""The motion gate: skip detection on frames that cannot change a verdict.

A parking camera looks at a still scene most of the day; running the detector on every frame
spends the node's CPU on pictures identical to the last one. The gate compares each frame with the
frame of the last detection (not with the previous frame, so a slow creep adds up instead of
hiding below the threshold frame by frame) and lets a frame through when enough of it changed.
It also lets one through every `max_skip_s`, so lighting drift or a change too small to see never
freezes a verdict, and dwell timers keep getting fresh evidence.

Lift cameras do not use the gate: an e-bike must be confirmed within a second.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from edge.messages import Image

__all__ = ["MotionGate"]

_BLUR_KERNEL = (5, 5)
Grey = npt.NDArray[np.uint8]


class MotionGate:
    """Decides per frame whether to run detection. Not thread-safe: one gate per camera."""

    def __init__(
        self,
        *,
        threshold: float = 0.002,
        pixel_delta: int = 25,
        max_skip_s: float = 10.0,
        downscale_width: int = 160,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be a fraction in [0, 1], got {threshold}")
        if not 0 <= pixel_delta <= 255:
            raise ValueError(f"pixel_delta must be in [0, 255], got {pixel_delta}")
        if max_skip_s < 0.0:
            raise ValueError(f"max_skip_s cannot be negative, got {max_skip_s}")
        if downscale_width < 8:
            raise ValueError(f"downscale_width must be at least 8, got {downscale_width}")
        self._threshold = threshold
        self._pixel_delta = pixel_delta
        self._max_skip_s = max_skip_s
        self._width = downscale_width
        self._reference: Grey | None = None
        self._reference_ts = 0.0
        self._last_ts = -math.inf
        self._frames_seen = 0
        self._frames_skipped = 0
        self._last_change = 0.0

    @property
    def frames_seen(self) -> int:
        return self._frames_seen

    @property
    def frames_skipped(self) -> int:
        return self._frames_skipped

    @property
    def last_change(self) -> float:
        """Fraction of pixels that changed in the last frame compared (for tuning and metrics)."""
        return self._last_change

    def reset(self) -> None:
        """Forget the reference, so the next frame is detected (after a reconnect or a seek)."""
        self._reference = None

    def should_detect(self, image: Image, ts: float) -> bool:
        """True if `image` (taken at `ts`, seconds on the pipeline clock) needs detection."""
        self._frames_seen += 1
        small = self._prepare(image)
        reference = self._reference
        # Time going backwards means a replay restarted or a file looped: a new scene.
        went_back = ts < self._last_ts
        self._last_ts = ts
        if (
            reference is None
            or reference.shape != small.shape
            or went_back
            or ts - self._reference_ts >= self._max_skip_s
            or self._changed(reference, small)
        ):
            self._reference = small
            self._reference_ts = ts
            return True
        self._frames_skipped += 1
        return False

    def _changed(self, reference: Grey, small: Grey) -> bool:
        diff = cv2.absdiff(reference, small)
        changed = int(np.count_nonzero(np.asarray(diff) > self._pixel_delta))
        self._last_change = changed / small.size
        return self._last_change > self._threshold

    def _prepare(self, image: Image) -> Grey:
        if image.ndim == 2:
            grey = image
        elif image.shape[2] == 4:
            grey = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY), dtype=np.uint8)
        else:
            grey = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
        height, width = grey.shape[:2]
        if width > self._width:
            # INTER_AREA averages the pixels it drops, which also suppresses sensor noise.
            new_height = max(1, round(height * self._width / width))
            grey = np.asarray(
                cv2.resize(grey, (self._width, new_height), interpolation=cv2.INTER_AREA),
                dtype=np.uint8,
            )
        return np.asarray(cv2.GaussianBlur(grey, _BLUR_KERNEL, 0), dtype=np.uint8)
