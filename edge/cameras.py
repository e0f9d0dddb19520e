"""The camera side of a node: one capture thread, frame slot, pipeline and health per camera,
each camera dealt to one detection lane (a detector of its own, judged by that lane's worker)."""

from __future__ import annotations

from collections.abc import Sequence

from edge.clock import Clock
from edge.config.loader import SiteConfig
from edge.config.model import Camera
from edge.messages import Frame
from edge.parts import motion_gate_for
from edge.pipeline import CameraPipeline, Detector, Verifier
from edge.rules.health import CameraHealth
from edge.video.capture import CameraCapture, CaptureStats
from edge.video.slot import LatestFrameSlot
from edge.worker import CameraRuntime

Lane = tuple[Detector, Verifier | None]


def deal(cameras: Sequence[Camera], lanes: int) -> list[int]:
    """The lane of each camera: the most frequent detectors first, each to the lane with the
    least detections per second so far (ties: the lower lane), so lanes carry similar loads."""
    load = [0.0] * lanes
    lane_of = [0] * len(cameras)
    for i in sorted(range(len(cameras)), key=lambda i: -cameras[i].detect_fps):
        k = min(range(lanes), key=lambda k: load[k])
        lane_of[i] = k
        load[k] += cameras[i].detect_fps
    return lane_of


class CameraSet:
    def __init__(self, site: SiteConfig, clock: Clock, lanes: Sequence[Lane]) -> None:
        if not lanes:
            raise ValueError("a camera set needs at least one detection lane")
        self.lanes = list(lanes)
        self.runtimes: list[CameraRuntime] = []
        self.captures: list[CameraCapture] = []
        cameras = [c for c in site.settings.cameras if c.enabled]
        for cam, k in zip(cameras, deal(cameras, len(self.lanes)), strict=True):
            detector, verifier = self.lanes[k]
            slot = LatestFrameSlot()
            pipeline = CameraPipeline(
                cam, detector, gate=motion_gate_for(cam), timer=clock.monotonic, verifier=verifier
            )
            health = CameraHealth(cam.id, cam.offline_after_s, clock.monotonic())
            self.runtimes.append(CameraRuntime(pipeline, slot, health, 1.0 / cam.detect_fps, k))
            self.captures.append(CameraCapture(cam.id, site.camera_source(cam), slot, clock))
        self._clock = clock

    @property
    def verifier(self) -> Verifier | None:
        """The lift verifier of the first lane (every lane's shares its crop store)."""
        return self.lanes[0][1]

    def of_lane(self, lane: int) -> list[CameraRuntime]:
        return [rt for rt in self.runtimes if rt.lane == lane]

    def rebuilt(self, site: SiteConfig, lanes: Sequence[Lane] | None) -> CameraSet:
        """A fresh set for a new config, keeping the detectors unless the models changed."""
        return CameraSet(site, self._clock, lanes or self.lanes)

    def start(self) -> None:
        for capture in self.captures:
            capture.start()

    def stop(self) -> None:
        for capture in self.captures:
            capture.stop()

    def _runtime(self, camera_id: str) -> CameraRuntime | None:
        return next((r for r in self.runtimes if r.camera_id == camera_id), None)

    def first_frame_after(self, camera_id: str) -> float | None:
        """Monotonic time of the first frame judged for this camera, None before that."""
        runtime = self._runtime(camera_id)
        return runtime.first_frame_ts if runtime else None

    def latest_frame(self, camera_id: str) -> Frame | None:
        runtime = self._runtime(camera_id)
        return runtime.slot.peek() if runtime else None

    def capture_stats(self, camera_id: str) -> CaptureStats | None:
        capture = next((c for c in self.captures if c.camera_id == camera_id), None)
        return capture.stats if capture else None
