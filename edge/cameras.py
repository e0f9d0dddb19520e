"""The camera side of a node: one capture thread, frame slot, pipeline and health per camera."""

from __future__ import annotations

from edge.clock import Clock
from edge.config.loader import SiteConfig
from edge.messages import Frame
from edge.parts import motion_gate_for
from edge.pipeline import CameraPipeline, Detector, Verifier
from edge.rules.health import CameraHealth
from edge.video.capture import CameraCapture, CaptureStats
from edge.video.slot import LatestFrameSlot
from edge.worker import CameraRuntime


class CameraSet:
    def __init__(
        self, site: SiteConfig, clock: Clock, detector: Detector, verifier: Verifier | None = None
    ) -> None:
        self.detector = detector
        self.verifier = verifier
        self.runtimes: list[CameraRuntime] = []
        self.captures: list[CameraCapture] = []
        for cam in (c for c in site.settings.cameras if c.enabled):
            slot = LatestFrameSlot()
            pipeline = CameraPipeline(
                cam, detector, gate=motion_gate_for(cam), timer=clock.monotonic, verifier=verifier
            )
            health = CameraHealth(cam.id, cam.offline_after_s, clock.monotonic())
            self.runtimes.append(CameraRuntime(pipeline, slot, health, 1.0 / cam.detect_fps))
            self.captures.append(CameraCapture(cam.id, site.camera_source(cam), slot, clock))
        self._clock = clock

    def rebuilt(
        self, site: SiteConfig, detection: tuple[Detector, Verifier | None] | None
    ) -> CameraSet:
        """A fresh set for a new config, keeping the detector unless the models changed."""
        detector, verifier = detection or (self.detector, self.verifier)
        return CameraSet(site, self._clock, detector, verifier)

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
