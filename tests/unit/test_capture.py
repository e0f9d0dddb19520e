"""CameraCapture with scripted fake cameras: reconnects, backoff, pacing, EOF, prompt stop, logs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from edge.clock import FakeClock, SystemClock
from edge.messages import Frame, Image
from edge.video.capture import CameraCapture, VideoReader
from edge.video.slot import LatestFrameSlot

SECRET = "s3cret-Pa55"
RTSP = f"rtsp://admin:{SECRET}@10.0.0.5:554/stream1"
MASKED = "rtsp://admin:***@10.0.0.5:554/stream1"


class FakeReader:
    """Yields `frames` frames (None: forever), then fails or raises."""

    def __init__(
        self, frames: int | None, *, fps: float = 25.0, raise_at_end: bool = False
    ) -> None:
        self._left = frames
        self._fps = fps
        self._raise_at_end = raise_at_end
        self.released = False

    def read(self) -> tuple[bool, Image | None]:
        if self._left is not None:
            if self._left <= 0:
                if self._raise_at_end:
                    raise OSError(f"connection reset by {RTSP}")
                return False, None
            self._left -= 1
        else:
            time.sleep(0.001)  # a live camera does not deliver frames infinitely fast
        return True, np.zeros((8, 8, 3), np.uint8)

    def release(self) -> None:
        self.released = True

    def fps(self) -> float:
        return self._fps


Step = FakeReader | Exception


class ScriptedOpener:
    """Plays a script of open outcomes; after the script, keeps returning endless readers."""

    def __init__(self, script: list[Step]) -> None:
        self._script: Iterator[Step] = iter(script)
        self.calls = 0
        self.readers: list[FakeReader] = []

    def __call__(self, source: str) -> VideoReader:
        self.calls += 1
        step = next(self._script, None)
        if step is None:
            step = FakeReader(None)
        if isinstance(step, Exception):
            raise step
        self.readers.append(step)
        return step


class RecordingSlot(LatestFrameSlot):
    def __init__(self) -> None:
        super().__init__()
        self.frames: list[Frame] = []

    def put(self, frame: Frame) -> None:
        self.frames.append(frame)
        super().put(frame)


def _refused() -> Exception:
    # Libraries echo the URL they were given, password and all.
    return ConnectionRefusedError(f"cannot connect to {RTSP}")


def _wait_until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.002)


def _capture(
    opener: ScriptedOpener,
    slot: LatestFrameSlot,
    *,
    source: str = RTSP,
    clock: FakeClock | None = None,
    delays: list[float] | None = None,
    **kwargs: float | bool,
) -> CameraCapture:
    sleep = delays.append if delays is not None else None
    return CameraCapture(
        "cam-1",
        source,
        slot,
        clock if clock is not None else FakeClock(),
        opener=opener,
        sleep=sleep,
        **kwargs,  # type: ignore[arg-type]
    )


def test_open_fails_twice_then_frames_arrive() -> None:
    opener = ScriptedOpener([_refused(), _refused()])
    slot = LatestFrameSlot()
    delays: list[float] = []
    capture = _capture(opener, slot, delays=delays)
    capture.start()
    try:
        frame = slot.take(timeout=2.0)
        assert frame is not None and frame.camera_id == "cam-1"
        stats = capture.stats
        assert stats.reconnects == 2
        assert stats.connected is True
        assert stats.frames_read >= 1
        assert delays[:2] == [1.0, 2.0]
        assert opener.calls == 3
    finally:
        capture.stop()
    assert not capture.running
    assert opener.readers[0].released


def test_backoff_doubles_to_the_cap_and_resets_after_a_frame() -> None:
    script: list[Step] = [_refused()] * 5
    script += [FakeReader(3), _refused(), _refused(), FakeReader(3, raise_at_end=True)]
    opener = ScriptedOpener(script)
    slot = RecordingSlot()
    delays: list[float] = []
    capture = _capture(opener, slot, delays=delays, backoff_initial_s=1.0, backoff_max_s=4.0)
    capture.start()
    try:
        _wait_until(lambda: len(slot.frames) >= 7)
    finally:
        capture.stop()
    # 5 failed opens, 3 frames, a read failure (reset to 1 s), 2 failed opens, 3 frames, a read
    # error (reset again), then the endless camera.
    assert delays[:9] == [1.0, 2.0, 4.0, 4.0, 4.0, 1.0, 2.0, 4.0, 1.0]
    assert capture.stats.reconnects >= 9
    assert [f.seq for f in slot.frames] == list(range(len(slot.frames)))


def test_frames_are_stamped_from_the_clock() -> None:
    clock = FakeClock(start=100.0, epoch=1_767_225_600.0)
    opener = ScriptedOpener([FakeReader(2)])
    slot = RecordingSlot()
    capture = _capture(opener, slot, clock=clock, delays=[])
    capture.start()
    try:
        _wait_until(lambda: len(slot.frames) >= 3)
    finally:
        capture.stop()
    first = slot.frames[0]
    assert (first.seq, first.ts, first.wall_ts) == (0, 100.0, 1_767_225_700.0)
    assert capture.stats.last_frame_ts == 100.0


def test_stop_is_prompt_during_a_long_backoff() -> None:
    opener = ScriptedOpener([_refused()] * 100)
    capture = CameraCapture(
        "cam-1", RTSP, LatestFrameSlot(), SystemClock(), opener=opener, backoff_initial_s=30.0
    )
    capture.start()
    _wait_until(lambda: opener.calls >= 1)
    time.sleep(0.02)
    started = time.monotonic()
    capture.stop(timeout=2.0)
    assert time.monotonic() - started < 0.5
    assert not capture.running
    assert capture.stats.connected is False


def test_stop_is_prompt_while_reading() -> None:
    opener = ScriptedOpener([])
    slot = LatestFrameSlot()
    capture = CameraCapture("cam-1", RTSP, slot, SystemClock(), opener=opener)
    capture.start()
    assert slot.take(timeout=2.0) is not None
    started = time.monotonic()
    capture.stop(timeout=2.0)
    assert time.monotonic() - started < 0.5
    assert opener.readers[0].released
    stats = capture.stats
    assert stats.connected is False and stats.finished is False
    assert stats.frames_dropped == slot.dropped


def test_credentials_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="edge")
    opener = ScriptedOpener([_refused(), FakeReader(2, raise_at_end=True), FakeReader(0)])
    slot = RecordingSlot()
    capture = _capture(opener, slot, delays=[])
    capture.start()
    try:
        _wait_until(lambda: opener.calls >= 4)
    finally:
        capture.stop()
    assert caplog.records, "capture should log its failures"
    for record in caplog.records:
        rendered = record.getMessage()
        assert SECRET not in rendered
        assert record.exc_info is None  # a traceback would carry the raw exception text
    assert SECRET not in caplog.text
    assert MASKED in caplog.text
    assert SECRET not in (capture.stats.last_error or "")
    assert SECRET not in repr(capture.stats)
    assert capture.source_display == MASKED


def test_file_without_looping_ends_at_eof() -> None:
    opener = ScriptedOpener([FakeReader(5)])
    slot = RecordingSlot()
    delays: list[float] = []
    capture = _capture(
        opener, slot, source="clip.mp4", delays=delays, realtime_files=False, loop_files=False
    )
    capture.start()
    _wait_until(lambda: not capture.running)
    stats = capture.stats
    assert stats.finished is True
    assert (stats.frames_read, stats.reconnects, stats.connected) == (5, 0, False)
    assert opener.calls == 1 and delays == []
    capture.stop()  # stopping a finished capture is harmless


def test_looped_file_restarts_at_once() -> None:
    opener = ScriptedOpener([FakeReader(3) for _ in range(4)])
    slot = RecordingSlot()
    delays: list[float] = []
    capture = _capture(opener, slot, source="clip.mp4", delays=delays, realtime_files=False)
    capture.start()
    try:
        _wait_until(lambda: opener.calls >= 4)
    finally:
        capture.stop()
    assert delays == []
    assert capture.stats.reconnects == 0
    assert capture.stats.frames_read >= 9


def test_looped_file_without_frames_backs_off() -> None:
    opener = ScriptedOpener([FakeReader(0) for _ in range(4)])
    delays: list[float] = []
    capture = _capture(opener, LatestFrameSlot(), source="broken.mp4", delays=delays)
    capture.start()
    try:
        _wait_until(lambda: opener.calls >= 4)
    finally:
        capture.stop()
    assert delays[:3] == [1.0, 2.0, 4.0]


def test_realtime_file_is_paced_at_its_frame_rate() -> None:
    clock = FakeClock()
    delays: list[float] = []

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        clock.advance(seconds)

    slot = RecordingSlot()
    capture = CameraCapture(
        "cam-1",
        "lot.mp4",
        slot,
        clock,
        opener=ScriptedOpener([FakeReader(5, fps=20.0)]),
        loop_files=False,
        sleep=sleep,
    )
    capture.start()
    _wait_until(lambda: not capture.running)
    assert delays == pytest.approx([0.05] * 5)
    assert [f.ts for f in slot.frames] == pytest.approx([0.0, 0.05, 0.10, 0.15, 0.20])
    assert capture.stats.fps == pytest.approx(20.0)


def test_start_twice_is_an_error_and_stop_before_start_is_harmless() -> None:
    capture = _capture(ScriptedOpener([]), LatestFrameSlot(), delays=[])
    capture.stop()
    capture2 = _capture(ScriptedOpener([]), LatestFrameSlot(), delays=[])
    capture2.start()
    try:
        with pytest.raises(RuntimeError):
            capture2.start()
    finally:
        capture2.stop()


def test_many_cameras_run_independently() -> None:
    slots = [LatestFrameSlot() for _ in range(4)]
    captures = [
        CameraCapture(f"cam-{i}", RTSP, slot, SystemClock(), opener=ScriptedOpener([]))
        for i, slot in enumerate(slots)
    ]
    for capture in captures:
        capture.start()
    try:
        frames = [slot.take(timeout=2.0) for slot in slots]
        assert [f.camera_id if f else None for f in frames] == [f"cam-{i}" for i in range(4)]
        names = {t.name for t in threading.enumerate()}
        assert {f"capture-cam-{i}" for i in range(4)} <= names
    finally:
        for capture in captures:
            capture.stop()


class SlowReader(FakeReader):
    """A stream whose next packet is `wait_s` away (a keyframe interval, decoding keyframes)."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(None)
        self._wait_s = wait_s

    def read(self) -> tuple[bool, Image | None]:
        time.sleep(self._wait_s)
        return True, np.zeros((8, 8, 3), np.uint8)


def test_told_to_stop_a_capture_ends_at_its_next_read_without_anyone_waiting() -> None:
    """What lets the node tell every camera at once and then wait for them all (CameraSet.stop)
    instead of one after the other, each up to a keyframe interval."""
    captures = [
        CameraCapture(f"cam-{i}", RTSP, LatestFrameSlot(), SystemClock(),
                      opener=ScriptedOpener([SlowReader(0.3)]))
        for i in range(4)
    ]  # fmt: skip
    for capture in captures:
        capture.start()
    _wait_until(lambda: all(f"capture-{c.camera_id}" in {t.name for t in threading.enumerate()}
                            for c in captures))  # fmt: skip
    for capture in captures:
        capture.request_stop()
    names = {f"capture-cam-{i}" for i in range(4)}
    _wait_until(lambda: not names & {t.name for t in threading.enumerate()}, timeout=2.0)
    for capture in captures:
        capture.stop(timeout=0.1)  # already over: returns at once, no warning
