"""One camera's path from a frame to rule verdicts, the same in live runs and replays.

frame -> (motion gate) -> detector -> tracker -> zone rules -> AlertEvents
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from edge.config.model import Camera, ZoneKind
from edge.messages import AlertEvent, Detection, Frame, Image
from edge.rules.base import ZoneRule, build_rule
from edge.track.bytetrack import ByteTracker
from edge.video.motion import MotionGate


class Detector(Protocol):
    def detect(self, image: Image) -> list[Detection]: ...


class Verifier(Protocol):
    """Judges the lift zones on the frame the detector has just seen (`edge.verify`)."""

    def judge(self, frame: Frame, rules: Sequence[ZoneRule]) -> None: ...

    def keep_evidence(self, events: Sequence[AlertEvent]) -> None: ...


@dataclass(frozen=True, slots=True)
class Seen:
    """What the pipeline saw on its latest frame: replaced whole on every frame, so another
    thread (the installer page's live boxes) reads it without a lock."""

    wall_ts: float
    detections: tuple[Detection, ...]


@dataclass(slots=True)
class PipelineStats:
    frames: int = 0
    detections_run: int = 0
    detections_skipped: int = 0
    inference_s: float = 0.0


def zone_floor(camera: Camera) -> float:
    """The lowest confidence any zone of the camera accepts."""
    return min((z.confidence_floor for z in camera.zones), default=0.35)


def low_floor(camera: Camera) -> float:
    """Weak detections below the zone floor still keep a partly hidden object's track alive."""
    return min(0.1, zone_floor(camera) / 2)


def tracker_for(camera: Camera) -> ByteTracker:
    """A tracker whose thresholds let every zone's weakest allowed detection start a track.

    A lift camera's tracks are reported from their first match: the lift rule's own
    `min_hits` within `confirm_s` already guards against a one-frame false positive, and the
    tracker's extra confirmation would only hold the alert back by one detection period
    (bench.lift_latency: p95 1.16 s -> 0.75 s with parking cameras on the same worker).
    """
    floor = zone_floor(camera)
    lift = any(z.kind is ZoneKind.LIFT for z in camera.zones)
    return ByteTracker(
        high_threshold=floor,
        new_track_threshold=floor,
        low_threshold=low_floor(camera),
        min_hits=1 if lift else 2,
    )


class CameraPipeline:
    def __init__(
        self,
        camera: Camera,
        detector: Detector,
        *,
        gate: MotionGate | None = None,
        timer: Callable[[], float] | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        self.camera = camera
        self._detector = detector
        self._tracker = tracker_for(camera)
        self.rules: list[ZoneRule] = [build_rule(camera.id, z) for z in camera.zones]
        self._gate = gate
        self._timer = timer
        self._last_detections: list[Detection] = []
        self._verifier = verifier
        self.stats = PipelineStats()
        self.seen: Seen | None = None

    def process(self, frame: Frame) -> list[AlertEvent]:
        self.stats.frames += 1
        if self._gate is not None and not self._gate.should_detect(frame.image, frame.ts):
            # Nothing moved: the last detections still describe the scene, and rules must
            # keep seeing them so that dwell keeps counting.
            detections = self._last_detections
            self.stats.detections_skipped += 1
        else:
            start = self._timer() if self._timer else 0.0
            detections = self._detector.detect(frame.image)
            if self._timer:
                self.stats.inference_s += self._timer() - start
            self.stats.detections_run += 1
            self._last_detections = detections
            if self._verifier is not None:
                self._verifier.judge(frame, self.rules)
        tracks = self._tracker.update(detections, frame.ts)
        self.seen = Seen(frame.wall_ts, tuple(detections))
        events: list[AlertEvent] = []
        for rule in self.rules:
            events.extend(rule.update(tracks, frame.ts))
        if self._verifier is not None and events:
            self._verifier.keep_evidence(events)
        return events

    def resume(self, now: float) -> None:
        """The camera is back after an outage: restart absence timers; drop stale tracks."""
        self._tracker.reset()
        self._last_detections = []
        self.seen = None
        if self._gate is not None:
            self._gate.reset()  # an unchanged picture must still be looked at again
        for rule in self.rules:
            rule.resume(now)

    def zone_polygons(self) -> dict[str, Sequence[tuple[float, float]]]:
        return {z.id: list(z.polygon) for z in self.camera.zones}
