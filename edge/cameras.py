"""The camera side of a node: one capture thread, frame slot, pipeline and health per camera,
each camera dealt to one detection lane (a detector of its own, judged by that lane's worker)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from edge.clock import Clock
from edge.config.loader import SiteConfig
from edge.config.model import Camera
from edge.messages import Frame
from edge.parts import motion_gate_for
from edge.pipeline import CameraPipeline, Detector, Seen, Verifier
from edge.rules.health import CameraHealth
from edge.video.av_reader import AvOptions, camera_opener
from edge.video.capture import CameraCapture, CaptureStats, VideoReader, open_cv_reader
from edge.video.decoding import DecodeBudget, DecodePolicy
from edge.video.ring import ClipRequest, PacketRing
from edge.video.slot import LatestFrameSlot
from edge.video.source import SourceKind, parse_source
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


ClipSink = Callable[[ClipRequest], None]


def _degraded_by(policy: DecodePolicy) -> Callable[[], bool]:
    return lambda: policy.state.degraded


class CameraSet:
    """`clip_sink` takes the evidence clips the cameras' packet rings gather (the node's clip
    writer); without one, no packets are kept."""

    def __init__(
        self,
        site: SiteConfig,
        clock: Clock,
        lanes: Sequence[Lane],
        *,
        clip_sink: ClipSink | None = None,
    ) -> None:
        if not lanes:
            raise ValueError("a camera set needs at least one detection lane")
        self.lanes = list(lanes)
        self.runtimes: list[CameraRuntime] = []
        self.captures: list[CameraCapture] = []
        self.rings: dict[str, PacketRing] = {}
        self._clip_sink = clip_sink
        video = site.settings.video
        # One bound for the whole node: decoding threads beyond the cores only take turns.
        self.budget = DecodeBudget(video.decode_threads)
        cameras = [c for c in site.settings.cameras if c.enabled]
        for cam, k in zip(cameras, deal(cameras, len(self.lanes)), strict=True):
            detector, verifier = self.lanes[k]
            slot = LatestFrameSlot()
            pipeline = CameraPipeline(
                cam, detector, gate=motion_gate_for(cam), timer=clock.monotonic, verifier=verifier
            )
            health = CameraHealth(cam.id, cam.offline_after_s, clock.monotonic())
            runtime = CameraRuntime(pipeline, slot, health, 1.0 / cam.detect_fps, k)
            capture = self._capture(site, cam, slot, clock)
            if capture.policy is not None:
                runtime.decode_degraded = _degraded_by(capture.policy)
            self.runtimes.append(runtime)
            self.captures.append(capture)
        self._clock = clock

    def _capture(
        self, site: SiteConfig, cam: Camera, slot: LatestFrameSlot, clock: Clock
    ) -> CameraCapture:
        source = site.camera_source(cam)
        if parse_source(source).kind is SourceKind.DEVICE:
            return CameraCapture(cam.id, source, slot, clock, opener=open_cv_reader)
        video = site.settings.video
        policy = DecodePolicy(
            cam.id, cam.detect_fps, forced=cam.decode, has_substream=cam.substream is not None
        )
        ring = None
        if self._clip_sink is not None and video.clips:
            ring = PacketRing(
                cam.id, self._clip_sink, pre_s=video.clip_pre_s, post_s=video.clip_post_s
            )
            self.rings[cam.id] = ring
        opener: Callable[[str], VideoReader] = camera_opener(
            source, site.substream_source(cam), policy, clock,
            options=AvOptions(rtsp_transport=video.rtsp_transport), ring=ring,
            budget=self.budget,
        )  # fmt: skip
        return CameraCapture(cam.id, source, slot, clock, opener=opener, policy=policy)

    def request_clip(self, camera_id: str, clip_id: str, at: float) -> bool:
        """Gather the evidence clip `clip_id` around monotonic time `at`; False when the
        camera keeps no packets (a capture device, clips off) or has none yet."""
        ring = self.rings.get(camera_id)
        return ring is not None and ring.request(clip_id, at)

    @property
    def verifier(self) -> Verifier | None:
        """The lift verifier of the first lane (every lane's shares its crop store)."""
        return self.lanes[0][1]

    def of_lane(self, lane: int) -> list[CameraRuntime]:
        return [rt for rt in self.runtimes if rt.lane == lane]

    def rebuilt(self, site: SiteConfig, lanes: Sequence[Lane] | None) -> CameraSet:
        """A fresh set for a new config, keeping the detectors unless the models changed."""
        return CameraSet(site, self._clock, lanes or self.lanes, clip_sink=self._clip_sink)

    def start(self) -> None:
        for capture in self.captures:
            capture.start()

    def stop(self) -> None:
        # Every capture is told first, then each is waited for: a capture ends at its next
        # packet or frame (up to a keyframe interval away), so waiting on them one by one added
        # those waits up (17 s for 20 RTSP cameras); told at once, they end together.
        for capture in self.captures:
            capture.request_stop()
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

    def latest_seen(self, camera_id: str) -> Seen | None:
        """What the model found on the camera's latest judged frame."""
        runtime = self._runtime(camera_id)
        return runtime.pipeline.seen if runtime else None

    def degraded(self, camera_id: str) -> bool:
        """Judged below its rate, or decoding keyframes only because decoding fell behind."""
        runtime = self._runtime(camera_id)
        return runtime.degraded if runtime else False

    def capture_stats(self, camera_id: str) -> CaptureStats | None:
        capture = next((c for c in self.captures if c.camera_id == camera_id), None)
        return capture.stats if capture else None
