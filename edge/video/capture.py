"""Camera capture: one thread per camera, reading into a latest-frame slot.

The thread owns its reader (`edge.video.av_reader` for streams and files, OpenCV for capture
devices) from open to release. It never waits for the consumer (the
slot overwrites), reconnects with exponential backoff when the camera fails, and waits on an
Event rather than sleeping so that `stop()` returns at once even in the middle of a 30 s backoff.
A file can stand in for a live camera (demos): it is then paced at its own frame rate and looped.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from edge.clock import Clock
from edge.messages import Frame, Image
from edge.video.decoding import DecodePolicy, DecodeState
from edge.video.slot import LatestFrameSlot
from edge.video.source import (
    SourceKind,
    VideoSourceError,
    mask_credentials,
    parse_source,
)

__all__ = [
    "CameraCapture",
    "CaptureStats",
    "CvReader",
    "VideoReader",
    "open_cv_reader",
]

log = logging.getLogger(__name__)

_FPS_WINDOW_S = 5.0
_DEFAULT_FILE_FPS = 25.0


class VideoReader(Protocol):
    """The part of `cv2.VideoCapture` capture needs; tests substitute fakes."""

    def read(self) -> tuple[bool, Image | None]: ...

    def release(self) -> None: ...

    def fps(self) -> float:
        """The source's nominal frame rate, or 0.0 when unknown."""
        ...


class CvReader:
    """A `VideoReader` over an opened `cv2.VideoCapture`."""

    def __init__(self, cap: cv2.VideoCapture) -> None:
        self._cap = cap

    def read(self) -> tuple[bool, Image | None]:
        ok, image = self._cap.read()
        if not ok or image is None:
            return False, None
        return True, np.asarray(image, dtype=np.uint8)

    def release(self) -> None:
        self._cap.release()

    def fps(self) -> float:
        value = float(self._cap.get(cv2.CAP_PROP_FPS))
        return value if math.isfinite(value) and value > 0.0 else 0.0


def open_cv_reader(
    source: str, *, open_timeout_s: float = 10.0, read_timeout_s: float = 10.0
) -> CvReader:
    """Open `source` with OpenCV; raises `VideoSourceError` (with a masked source) on failure.

    Network streams get open and read timeouts: without them a dead RTSP camera blocks `read()`
    for FFmpeg's default of about 30 s, and nothing notices.
    """
    parsed = parse_source(source)
    if parsed.kind is SourceKind.STREAM:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            round(open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            round(read_timeout_s * 1000),
        ]
        cap = cv2.VideoCapture(str(parsed.target), cv2.CAP_FFMPEG, params)
    elif isinstance(parsed.target, int):
        cap = cv2.VideoCapture(parsed.target)
    else:
        cap = cv2.VideoCapture(parsed.target)
    if not cap.isOpened():
        cap.release()
        raise VideoSourceError(f"cannot open video source {parsed.display}")
    return CvReader(cap)


@dataclass(frozen=True, slots=True)
class CaptureStats:
    """A snapshot of one camera's capture counters.

    `last_frame_ts` is on the clock's monotonic scale (None before the first frame); `fps` is
    measured over the last few seconds; `finished` means the source ended (a file at EOF without
    looping) and the thread has exited; `last_error` is the latest failure, credentials masked.
    """

    frames_read: int
    frames_dropped: int
    reconnects: int
    last_frame_ts: float | None
    connected: bool
    fps: float
    finished: bool = False
    last_error: str | None = None
    decode: DecodeState | None = None  # PyAV readers: mode, keyframe interval, degraded


class CameraCapture:
    """Reads one camera on its own thread into a `LatestFrameSlot`."""

    def __init__(
        self,
        camera_id: str,
        source: str,
        slot: LatestFrameSlot,
        clock: Clock,
        *,
        opener: Callable[[str], VideoReader] = open_cv_reader,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
        realtime_files: bool = True,
        loop_files: bool = True,
        sleep: Callable[[float], None] | None = None,
        policy: DecodePolicy | None = None,
    ) -> None:
        if backoff_initial_s <= 0.0 or backoff_max_s < backoff_initial_s:
            raise ValueError("need 0 < backoff_initial_s <= backoff_max_s")
        parsed = parse_source(source)
        self.camera_id = camera_id
        self._source = source
        self._display = parsed.display
        self._is_file = parsed.kind is SourceKind.FILE
        self._slot = slot
        self._clock = clock
        self._opener = opener
        self._backoff_initial = backoff_initial_s
        self._backoff_max = backoff_max_s
        self._realtime_files = realtime_files
        self._loop_files = loop_files
        self._sleep = sleep
        self._policy = policy
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._frames_read = 0
        self._reconnects = 0
        self._last_frame_ts: float | None = None
        self._connected = False
        self._finished = False
        self._last_error: str | None = None
        self._recent: deque[float] = deque(maxlen=512)

    @property
    def policy(self) -> DecodePolicy | None:
        """The camera's decoding choice (PyAV readers), None for a capture device."""
        return self._policy

    @property
    def source_display(self) -> str:
        """The source with credentials masked, for logs and the API."""
        return self._display

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stats(self) -> CaptureStats:
        now = self._clock.monotonic()
        with self._lock:
            recent = [t for t in self._recent if now - t <= _FPS_WINDOW_S]
            span = recent[-1] - recent[0] if len(recent) >= 2 else 0.0
            return CaptureStats(
                frames_read=self._frames_read,
                frames_dropped=self._slot.dropped,
                reconnects=self._reconnects,
                last_frame_ts=self._last_frame_ts,
                connected=self._connected,
                fps=(len(recent) - 1) / span if span > 0.0 else 0.0,
                finished=self._finished,
                last_error=self._last_error,
                decode=self._policy.state if self._policy is not None else None,
            )

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"capture for camera {self.camera_id} was already started")
        self._thread = threading.Thread(
            target=self._run, name=f"capture-{self.camera_id}", daemon=True
        )
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to end, without waiting for it (stop() waits)."""
        self._stop.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to end and wait up to `timeout` s for it (a blocked read may lag)."""
        self._stop.set()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return
        thread.join(timeout)
        if thread.is_alive():
            log.warning(
                "capture thread for camera %s did not stop within %.1f s (source %s)",
                self.camera_id,
                timeout,
                self._display,
            )

    # The capture thread -------------------------------------------------------------------

    def _run(self) -> None:
        backoff = self._backoff_initial
        failed = False
        first = True
        try:
            while not self._stop.is_set():
                if failed:
                    if self._wait(backoff):
                        break
                    backoff = min(backoff * 2.0, self._backoff_max)
                    with self._lock:
                        self._reconnects += 1
                reader = self._open(announce=failed or first)
                first = False
                if reader is None:
                    failed = True
                    continue
                try:
                    outcome = self._pump(reader)
                finally:
                    self._release(reader)
                if outcome.frames or outcome.planned:
                    backoff = self._backoff_initial
                if outcome.planned:
                    failed = False
                    continue
                if outcome.eof and not self._loop_files:
                    log.info("camera %s: end of file %s", self.camera_id, self._display)
                    with self._lock:
                        self._finished = True
                    break
                # A looped file restarts at once, unless it gave nothing (broken file): backoff.
                failed = not (outcome.eof and outcome.frames)
        finally:
            with self._lock:
                self._connected = False

    def _open(self, *, announce: bool) -> VideoReader | None:
        try:
            reader = self._opener(self._source)
        except Exception as exc:
            self._note_error(f"open failed: {self._safe(exc)}")
            return None
        with self._lock:
            self._connected = True
        bind = getattr(reader, "bind_wait", None)
        if bind is not None:
            bind(self._wait)  # a reader that paces a file itself must still stop promptly
        # A looping demo file reopens every few seconds; only (re)connections are news.
        log.log(
            logging.INFO if announce else logging.DEBUG,
            "camera %s: opened %s",
            self.camera_id,
            self._display,
        )
        return reader

    def _pump(self, reader: VideoReader) -> _PumpOutcome:
        """Read frames until stop, a failure or EOF."""
        frames = 0
        pacer = self._make_pacer(reader)
        while not self._stop.is_set():
            try:
                ok, image = reader.read()
            except Exception as exc:
                if getattr(exc, "planned", False):
                    log.info("camera %s: %s", self.camera_id, exc)
                    return _PumpOutcome(frames, eof=False, planned=True)
                self._note_error(f"read failed: {self._safe(exc)}")
                return _PumpOutcome(frames, eof=False)
            if self._stop.is_set():
                break
            if not ok or image is None:
                if self._is_file:
                    return _PumpOutcome(frames, eof=True)
                self._note_error("read failed: no frame from source")
                return _PumpOutcome(frames, eof=False)
            self._deliver(image)
            frames += 1
            if pacer is not None and pacer.wait_next():
                break
        return _PumpOutcome(frames, eof=False)

    def _deliver(self, image: Image) -> None:
        ts = self._clock.monotonic()
        with self._lock:
            seq = self._frames_read
            self._frames_read += 1
            self._last_frame_ts = ts
            self._recent.append(ts)
        self._slot.put(
            Frame(camera_id=self.camera_id, seq=seq, ts=ts, wall_ts=self._clock.now(), image=image)
        )

    def _make_pacer(self, reader: VideoReader) -> _Pacer | None:
        if not (self._is_file and self._realtime_files) or getattr(reader, "paces_itself", False):
            return None
        fps = reader.fps()
        if not (math.isfinite(fps) and 0.0 < fps <= 1000.0):
            fps = _DEFAULT_FILE_FPS
        return _Pacer(1.0 / fps, self._clock, self._wait)

    def _release(self, reader: VideoReader) -> None:
        with self._lock:
            self._connected = False
        try:
            reader.release()
        except Exception as exc:
            log.warning("camera %s: release failed: %s", self.camera_id, self._safe(exc))

    def _wait(self, seconds: float) -> bool:
        """Wait `seconds` unless stopped first; True means stop was requested."""
        if self._sleep is not None:
            self._sleep(seconds)
            return self._stop.is_set()
        return self._stop.wait(seconds)

    def _note_error(self, message: str) -> None:
        with self._lock:
            self._last_error = message
            self._connected = False
        log.warning("camera %s (%s): %s", self.camera_id, self._display, message)

    def _safe(self, exc: BaseException) -> str:
        # Libraries put the URL they were given into their messages; never let that reach a log.
        text = str(exc).replace(self._source, self._display)
        return f"{type(exc).__name__}: {mask_credentials(text)}"


@dataclass(frozen=True, slots=True)
class _PumpOutcome:
    frames: int
    eof: bool
    planned: bool = False  # the reader ended the connection on purpose (another stream)


class _Pacer:
    """Holds reads of a file to its frame rate, so a demo file plays like a camera."""

    def __init__(self, period: float, clock: Clock, wait: Callable[[float], bool]) -> None:
        self._period = period
        self._clock = clock
        self._wait = wait
        self._due: float | None = None

    def wait_next(self) -> bool:
        """Wait until the next frame is due; True if stop was requested meanwhile."""
        now = self._clock.monotonic()
        # Re-anchor after a stall instead of racing through frames to catch up.
        if self._due is None or now - self._due > self._period:
            self._due = now
        self._due += self._period
        delay = self._due - now
        return delay > 0.0 and self._wait(delay)
