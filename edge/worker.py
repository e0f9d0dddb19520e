"""A detection worker: takes each of its cameras' latest frame when it is due and judges it.

A node runs one worker per detection lane (`models.lanes`, default 1), each with its own
detector session and its own cameras. Within a lane inference is serial and a camera's zone
rules are only ever called from its lane's thread, so they need no locks. The alert manager is
shared with the other lanes and the MQTT and sensor threads, and locks itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from edge.alerts.manager import AlertManager
from edge.clock import Clock
from edge.messages import AlertEvent, Frame
from edge.pipeline import CameraPipeline
from edge.rules.health import CameraHealth
from edge.video.slot import LatestFrameSlot

log = logging.getLogger(__name__)

CameraStateListener = Callable[[str, bool], None]


@dataclass(slots=True)
class CameraRuntime:
    """What the worker needs of one camera."""

    pipeline: CameraPipeline
    slot: LatestFrameSlot
    health: CameraHealth
    period: float
    lane: int = 0
    next_due: float = 0.0
    first_frame_ts: float | None = None
    judged: int = 0
    # Start of the current load window: (monotonic time, judged, frames put in the slot).
    window: tuple[float, int, int] | None = None
    # Judged below its rate (the lane is behind) or decoding only keyframes because decoding
    # fell behind (`decode_degraded`, from its capture): still judged, and its state says so.
    behind: bool = False
    degraded: bool = False
    decode_degraded: Callable[[], bool] = field(default=lambda: False)

    @property
    def stall_s(self) -> float:
        """A silence of the camera longer than this restarts the rules' absence timers.

        A reconnecting stream can stall for longer than a lift's clear_after_s without being
        offline; the e-bike it was watching must not clear and raise a second alert.
        """
        return max(3.0 * self.period, 2.0)

    @property
    def camera_id(self) -> str:
        return self.pipeline.camera.id


class DetectionWorker:
    def __init__(
        self,
        cameras: Sequence[CameraRuntime],
        manager: AlertManager,
        clock: Clock,
        *,
        on_camera_state: CameraStateListener | None = None,
        idle_wait_s: float = 0.02,
        housekeeping: Sequence[Callable[[], object]] = (),
        housekeeping_every_s: float = 1.0,
        load_window_s: float = 20.0,
    ) -> None:
        self._cameras = list(cameras)
        self._manager = manager
        self._clock = clock
        self.on_camera_state = on_camera_state
        self._idle_wait = idle_wait_s
        self._housekeeping = list(housekeeping)
        self._housekeeping_every = housekeeping_every_s
        self._next_housekeeping = 0.0
        self._load_window = load_window_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0
        self.overload_warnings = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="detection", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            busy = False
            for cam in self._cameras:
                try:
                    busy |= self.step(cam)
                except Exception:
                    # One bad frame or rule bug must not stop every camera; it is counted.
                    self.errors += 1
                    log.exception("error processing camera %s", cam.camera_id)
            self._chores()
            if not busy:
                self._stop.wait(self._idle_wait)

    def _chores(self) -> None:
        """Timers that do not belong to a frame: escalation, sensor silence, restore windows."""
        now = self._clock.monotonic()
        if now < self._next_housekeeping:
            return
        self._next_housekeeping = now + self._housekeeping_every
        for chore in self._housekeeping:
            try:
                chore()
            except Exception:
                self.errors += 1
                log.exception("housekeeping step failed")

    def step(self, cam: CameraRuntime) -> bool:
        """Process this camera's latest frame if one is due; check its health either way."""
        now = self._clock.monotonic()
        worked = False
        if now >= cam.next_due:
            frame = cam.slot.take(timeout=0)
            if frame is not None:
                # Catch up without bursts: after a slow step the next frame is due one
                # period from now, not several periods in the past.
                cam.next_due = max(cam.next_due + cam.period, now)
                cam.judged += 1
                self._judge(cam, frame)
                worked = True
        # Frames reaching the slot prove the camera alive even when this lane is too busy to
        # judge it in time: a busy camera is degraded, never offline.
        offline = cam.health.check(self._clock.monotonic(), delivered=cam.slot.last_put_ts)
        if offline:
            self._manager.handle(offline)
            self._notify(cam.camera_id, online=False)
        self._check_load(cam, now)
        return worked

    def _check_load(self, cam: CameraRuntime, now: float) -> None:
        """Say so when a camera is judged well below its detect_fps although its frames come:
        the lane is overloaded, and an installer should know before a verdict comes late. The
        camera's state turns `degraded` (once, with one log line) until it keeps up again."""
        if cam.window is None:
            cam.window = (now, cam.judged, cam.slot.puts)
            return
        start, judged0, puts0 = cam.window
        elapsed = now - start
        if elapsed < self._load_window:
            return
        cam.window = (now, cam.judged, cam.slot.puts)
        judged = (cam.judged - judged0) / elapsed
        wanted = min(1.0 / cam.period, (cam.slot.puts - puts0) / elapsed)
        # One look of slack: a camera judged every 2 s fits 9 or 10 looks in a 20 s window.
        behind = wanted > 0.0 and (cam.judged - judged0) < 0.9 * wanted * elapsed - 1.0
        if behind and not cam.behind:
            self.overload_warnings += 1
            log.warning(
                "camera %s was judged %.2f times/s over the last %.0f s, not %.2f: this "
                "detection lane is overloaded, the camera is degraded (still judged, less "
                "often; add a lane with models.lanes, lower detect_fps or move cameras; "
                "docs/benchmarks.md has the measured capacity)",
                cam.camera_id, judged, elapsed, wanted,
            )  # fmt: skip
        elif cam.behind and not behind:
            log.info("camera %s is judged at its rate again (%.2f times/s)", cam.camera_id, judged)
        cam.behind = behind
        degraded = behind or cam.decode_degraded()
        if degraded != cam.degraded:
            cam.degraded = degraded
            if not cam.health.offline:
                self._notify(cam.camera_id, online=True)  # the state message says degraded

    def _judge(self, cam: CameraRuntime, frame: Frame) -> None:
        events: list[AlertEvent] = []
        recovered = cam.health.frame(frame.ts)
        events.extend(recovered)
        first = cam.first_frame_ts is None
        if first:
            cam.first_frame_ts = frame.ts
        # The camera's silence, not the gap between our own looks: when the worker is behind
        # (more cameras than it can judge in time), resetting gates and tracks on every late
        # look would make it later still and no car would ever be seen staying put.
        stalled = not first and cam.slot.silence_before_taken > cam.stall_s
        if recovered or stalled:
            cam.pipeline.resume(frame.ts)
        if recovered or first:
            self._notify(cam.camera_id, online=True)
        events.extend(cam.pipeline.process(frame))
        if events:
            self._manager.handle(events, frame)

    def _notify(self, camera_id: str, *, online: bool) -> None:
        if self.on_camera_state is None:
            return
        try:
            self.on_camera_state(camera_id, online)
        except Exception:
            # A full disk refuses the state message; the camera's alert events must still go
            # to the manager, which holds them until the disk takes them.
            self.errors += 1
            log.exception("reporting the state of camera %s failed", camera_id)
