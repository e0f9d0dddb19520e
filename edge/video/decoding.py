"""How a camera's stream is decoded: every frame, or its keyframes only; and when to fall back.

Decoding, not detection, is what a node spends first: a 1080p H.264 stream decoded frame by
frame costs about a seventh of a core, its keyframes alone (one every 1-4 s on CCTV settings)
a seventieth (docs/benchmarks.md). A parking or fire-lane rule judges a camera every few
seconds, so when the camera's `detect_fps` is at or below its keyframe rate its keyframes are
all it needs: the decoder is given the keyframes and nothing else. A lift needs 5 looks a
second, hence every frame, preferably of the camera's small substream.

`DecodePolicy` (one per camera, kept across reconnects) makes that choice from the keyframe
interval it measures on the stream, and degrades a camera whose decoding falls behind the
stream: it drops to keyframes (a lower rate, but judged), says so once in the log and in the
camera's state, and tries full decoding again later. `DecodeBudget` bounds how many frames the
node decodes at once, whatever the number of cameras: each decoder is single-threaded, and on
a small box more decoding threads than cores only add switching.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType

__all__ = [
    "DecodeBudget",
    "DecodeMode",
    "DecodePolicy",
    "DecodeState",
    "KeyframeMeter",
    "choose_mode",
]

log = logging.getLogger(__name__)

# Before a stream has shown two keyframes: the most common CCTV GOP (2 s at 25 fps).
ASSUMED_KEYFRAME_INTERVAL_S = 2.0
# Keyframe timing jitters by a frame or so; a 2.04 s interval still serves a 0.5 fps camera.
_INTERVAL_SLACK = 1.1


class DecodeMode(StrEnum):
    FULL = "full"
    KEYFRAMES = "keyframes"


def choose_mode(
    detect_fps: float, keyframe_interval_s: float | None, forced: str = "auto"
) -> DecodeMode:
    """Keyframes when they come at least as often as the camera is judged, else every frame.

    `forced` is the camera's `decode` setting: `full` or `keyframes` override the choice.
    """
    if forced == DecodeMode.FULL:
        return DecodeMode.FULL
    if forced == DecodeMode.KEYFRAMES:
        return DecodeMode.KEYFRAMES
    interval = keyframe_interval_s or ASSUMED_KEYFRAME_INTERVAL_S
    if detect_fps <= 0.0:
        return DecodeMode.KEYFRAMES
    return DecodeMode.KEYFRAMES if interval <= _INTERVAL_SLACK / detect_fps else DecodeMode.FULL


class KeyframeMeter:
    """The interval between a stream's keyframes, from their timestamps (median of the last
    few, so one late or extra keyframe does not flip a camera's decoding)."""

    def __init__(self, keep: int = 5) -> None:
        self._last: float | None = None
        self._intervals: list[float] = []
        self._keep = keep

    def keyframe(self, pts_s: float) -> None:
        last, self._last = self._last, pts_s
        if last is None or not math.isfinite(pts_s):
            return
        gap = pts_s - last
        if gap <= 0.0 or gap > 60.0:
            return  # a loop, a new stream, a seek: not an interval
        self._intervals = [*self._intervals[-(self._keep - 1) :], gap]

    def restart(self) -> None:
        """A new connection: timestamps start afresh, the measured intervals still hold."""
        self._last = None

    @property
    def interval_s(self) -> float | None:
        if not self._intervals:
            return None
        ordered = sorted(self._intervals)
        return ordered[len(ordered) // 2]


@dataclass(frozen=True, slots=True)
class DecodeState:
    """One camera's decoding, for its state message, /api/status and /metrics."""

    mode: DecodeMode
    substream: bool  # the substream is the one being read
    keyframe_interval_s: float | None
    degraded: bool
    lag_s: float
    decode_errors: int
    frames_decoded: int


class DecodePolicy:
    """A camera's decoding choice and its fallback; thread-safe (the capture thread writes,
    the API and the state publisher read)."""

    def __init__(
        self,
        camera_id: str,
        detect_fps: float,
        *,
        forced: str = "auto",
        has_substream: bool = False,
        behind_after_s: float = 2.0,
        sustained_s: float = 5.0,
        retry_full_after_s: float = 30.0,
    ) -> None:
        self.camera_id = camera_id
        self.detect_fps = detect_fps
        self._forced = forced
        self._has_substream = has_substream
        self.behind_after_s = behind_after_s
        self._sustained = sustained_s
        self._behind_since: float | None = None
        self._retry_after = retry_full_after_s
        self._lock = threading.Lock()
        self.meter = KeyframeMeter()
        self._degraded_until: float | None = None
        self._lag = 0.0
        self._errors = 0
        self._decoded = 0
        self._substream = False
        self._announced: DecodeMode | None = None

    def announce(self, mode: DecodeMode) -> bool:
        """True the first time a mode is used after another (worth a log line); a reconnect or
        a looping file resuming the same mode is not news."""
        with self._lock:
            news, self._announced = mode is not self._announced, mode
            return news

    @property
    def period(self) -> float:
        return 1.0 / self.detect_fps if self.detect_fps > 0.0 else math.inf

    def wanted(self) -> DecodeMode:
        """What the rule needs, ignoring any fallback."""
        with self._lock:
            return choose_mode(self.detect_fps, self.meter.interval_s, self._forced)

    def mode(self, now: float) -> DecodeMode:
        """What to decode now: the rule's choice, or keyframes while degraded."""
        with self._lock:
            if self._degraded_until is not None and now >= self._degraded_until:
                self._degraded_until = None
                log.info("camera %s: trying full decoding again", self.camera_id)
            if self._degraded_until is not None:
                return DecodeMode.KEYFRAMES
            return choose_mode(self.detect_fps, self.meter.interval_s, self._forced)

    def use_substream(self) -> bool:
        """Read the substream when every frame must be decoded and the camera has one."""
        return self._has_substream and self.wanted() is DecodeMode.FULL

    def reading(self, *, substream: bool) -> None:
        with self._lock:
            self._substream = substream

    def keyframe(self, pts_s: float) -> None:
        with self._lock:
            self.meter.keyframe(pts_s)

    def restart(self) -> None:
        with self._lock:
            self.meter.restart()
            self._lag = 0.0

    def decoded(self, frames: int = 1) -> None:
        with self._lock:
            self._decoded += frames

    def error(self) -> None:
        with self._lock:
            self._errors += 1

    def lag(self, lag_s: float, now: float) -> None:
        """How far decoding trails the stream. Behind by more than `behind_after_s` for
        `sustained_s` in full mode (a hiccup of the machine catches up by itself; a node with
        more cameras than it can decode does not), the camera degrades to keyframes: judged
        less often, never dropped."""
        with self._lock:
            self._lag = lag_s
            if lag_s <= self.behind_after_s:
                self._behind_since = None
                return
            if self._behind_since is None:
                self._behind_since = now
            full = choose_mode(self.detect_fps, self.meter.interval_s, self._forced)
            # Behind for a while, or at once by more than a hiccup could explain (a decoder
            # blocked for that long reports nothing meanwhile).
            sustained = now - self._behind_since >= self._sustained
            far = lag_s >= self.behind_after_s + self._sustained
            if (sustained or far) and self._degraded_until is None and full is DecodeMode.FULL:
                self._degraded_until = now + self._retry_after
                self._behind_since = None
                log.warning(
                    "camera %s: decoding is %.1f s behind the stream; degraded to keyframes "
                    "only (judged at most every %.1f s) for %.0f s: the node has more cameras "
                    "than it can decode (docs/benchmarks.md)",
                    self.camera_id, lag_s, self.meter.interval_s or ASSUMED_KEYFRAME_INTERVAL_S,
                    self._retry_after,
                )  # fmt: skip

    @property
    def state(self) -> DecodeState:
        with self._lock:
            degraded = self._degraded_until is not None
            mode = (
                DecodeMode.KEYFRAMES
                if degraded
                else choose_mode(self.detect_fps, self.meter.interval_s, self._forced)
            )
            return DecodeState(
                mode=mode,
                substream=self._substream,
                keyframe_interval_s=self.meter.interval_s,
                degraded=degraded,
                lag_s=self._lag,
                decode_errors=self._errors,
                frames_decoded=self._decoded,
            )


class DecodeBudget:
    """At most `slots` frames decoded at once across the node (`with budget: decode()`).

    PyAV releases the GIL while FFmpeg decodes, so capture threads do decode in parallel; with
    more of them than cores they only take turns more often. Waiting for a slot is what makes a
    camera fall behind its stream, which `DecodePolicy.lag` then sees.
    """

    def __init__(self, slots: int | None = None) -> None:
        n = slots if slots is not None else len(os.sched_getaffinity(0))
        if n < 1:
            raise ValueError(f"a decode budget needs at least one slot, got {n}")
        self.slots = n
        self._sem = threading.BoundedSemaphore(n)

    def __enter__(self) -> DecodeBudget:
        self._sem.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._sem.release()
