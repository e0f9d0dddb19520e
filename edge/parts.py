"""Builders shared by the live node (app.py) and the replay: one place turns Settings into parts."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from edge.alerts.lifecycle import LifecyclePolicy
from edge.alerts.payload import NodeIdentity, Place
from edge.alerts.stamp import Stamper, find_cjk_font
from edge.alerts.store import AlertRecord
from edge.config.loader import SiteConfig
from edge.config.model import Camera, Settings, ZoneKind
from edge.detect.onnx_yolo import OnnxYoloDetector
from edge.messages import AlertKind
from edge.pipeline import low_floor
from edge.verify.feedback import CropStore
from edge.verify.model_file import VerifierModel
from edge.verify.runtime import LiftVerifier
from edge.video.files import IMAGE_EXTENSIONS
from edge.video.motion import MotionGate
from edge.video.source import SourceKind, parse_source

Detection = tuple[OnnxYoloDetector, LiftVerifier | None]
"""One detection lane's detector and, when configured, the lift verifier reading its features."""


def build_detector(site: SiteConfig) -> OnnxYoloDetector:
    return build_detection(site)[0]


def build_detection(site: SiteConfig, *, threads: int | None = None) -> Detection:
    """One lane's detector and verifier; `threads` overrides `models.threads` (a replay has
    the machine to itself)."""
    return build_lanes(site, lanes=1, threads=threads)[0]


def build_lanes(
    site: SiteConfig, *, lanes: int | None = None, threads: int | None = None
) -> list[Detection]:
    """A detector (and verifier) per detection lane (`models.lanes` unless given): each lane
    runs in its own worker thread, so each needs its own onnxruntime session."""
    models = site.settings.models
    model = VerifierModel.load(site.resolve(models.verifier)) if models.verifier else None
    floors = [low_floor(c) for c in site.settings.cameras]
    thresholds = {
        (c.id, z.id): z.verifier_threshold
        for c in site.settings.cameras
        for z in c.zones
        if z.verifier_threshold is not None
    }
    # One crop directory for every lane: the feedback loop finds a crop by id alone.
    crops = (
        CropStore(site.storage_dir / "verifier" / "crops", site.settings.storage.verifier_crops_max)
        if model
        else None
    )
    out: list[Detection] = []
    for _ in range(lanes or models.lanes):
        detector = OnnxYoloDetector(
            site.detector_path,
            models.class_map(),
            threads=threads or models.threads,
            # Low enough for the tracker's second association stage (partly hidden objects).
            conf_threshold=min(floors, default=0.1),
            feature_outputs=model.spec.map_names if model else (),
        )
        verifier = (
            LiftVerifier(model, detector, thresholds=thresholds, crops=crops) if model else None
        )
        out.append((detector, verifier))
    return out


def motion_gate_for(camera: Camera) -> MotionGate | None:
    return MotionGate() if camera.gated else None


def node_identity(settings: Settings, *, clips: bool = False) -> NodeIdentity:
    """`clips`: camera alerts name an evidence clip (the live node with `video.clips` on)."""
    # The contract wants a name to show; an unnamed site shows its id.
    base = (settings.api.public_url or "").rstrip("/")
    video = settings.video
    return NodeIdentity(
        settings.site.id,
        settings.site.name or settings.site.id,
        settings.node.id,
        evidence_url=base + "/api/alerts/{alert_id}/snapshots/{snapshot_id}.jpg",
        clip_url=base + "/api/alerts/{alert_id}/clip.mp4" if clips and video.clips else None,
        clip_seconds=(video.clip_pre_s, video.clip_post_s),
    )


def stamper_for(site: SiteConfig) -> Stamper:
    """How evidence pictures are stamped: language, time zone, font (alerts.*)."""
    alerts = site.settings.alerts
    font = str(site.resolve(alerts.stamp_font)) if alerts.stamp_font else None
    return Stamper(alerts.language, ZoneInfo(alerts.timezone), find_cjk_font(font))


def places_of(settings: Settings) -> dict[str, Place]:
    return {
        c.id: Place(
            grid=c.grid,
            text=c.location,
            building=c.building,
            floor=c.floor,
            lon=c.lon,
            lat=c.lat,
            zones={z.id: list(z.polygon) for z in c.zones},
            zone_names={z.id: z.name for z in c.zones if z.name},
            clips=can_hold_clips(c.source),
        )
        for c in settings.cameras
    }


def can_hold_clips(source: str) -> bool:
    """Whether a camera's packets can become an evidence clip: a stream or a video file, not
    a capture device (OpenCV decodes it, no packets) nor a still picture. A stream in another
    codec than H.264 or H.265 is found out only when it connects; its clip URL then answers 404."""
    parsed = parse_source(source)
    if parsed.kind is SourceKind.DEVICE:
        return False
    if parsed.kind is SourceKind.FILE:
        # A V4L2 device given by path gives raw or MJPEG frames, never H.264 or H.265 packets.
        path = Path(source)
        return path.suffix.lower() not in IMAGE_EXTENSIONS and path.parts[:2] != ("/", "dev")
    return True


def sensor_places(settings: Settings) -> dict[str, Place]:
    return {
        s.id: Place(grid=s.grid, text=s.location, building=s.building, floor=s.floor,
                    lon=s.lon, lat=s.lat)
        for s in settings.sensors
    }  # fmt: skip


def lifecycle_policy(
    site: SiteConfig,
    first_frame: Callable[[str], float | None],
    first_heard: Callable[[str], float | None] = lambda _s: None,
) -> LifecyclePolicy:
    """Alert timings from the config, and how long a restored alert waits for its rule."""
    settings = site.settings
    cameras = {c.id: c for c in settings.cameras}
    sensors = {s.id: s for s in settings.sensors}

    def sensor_deadline(r: AlertRecord, start: float) -> float:
        sensor = sensors.get(r.sensor_id or "")
        if sensor is None or not sensor.enabled:
            return start
        heard = first_heard(sensor.id)
        if heard is None:
            return math.inf  # silence never clears anything, as for cameras
        # The first message after a restart carries the device's whole state: anything still
        # true is raised again (after the minimum duration, for levels) and adopted.
        hold = (sensor.thresholds.min_duration_s or 0.0) if sensor.thresholds else 0.0
        return heard + hold + 5.0

    def restore_deadline(r: AlertRecord, start: float) -> float:
        if r.sensor_id is not None:
            return sensor_deadline(r, start)
        cam = cameras.get(r.camera_id or "")
        if r.camera_id is not None and (cam is None or not cam.enabled):
            return start  # the camera is gone from the config: nothing can confirm it
        if cam is None:
            return start
        if r.kind is AlertKind.CAMERA_OFFLINE:
            return start + cam.offline_after_s + 5.0
        zone = next((z for z in cam.zones if z.id == r.zone_id), None)
        if zone is None:
            return start
        seen = first_frame(cam.id)
        if seen is None:
            return math.inf  # a dead camera never says "zone empty"
        if zone.kind is ZoneKind.LIFT:
            return seen + zone.confirm_s + zone.clear_after + 5.0
        return seen + zone.stationary_window_s + zone.grace + zone.clear_after + 5.0

    def release_hold(r: AlertRecord) -> float:
        cam = cameras.get(r.camera_id or "")
        zone = next((z for z in cam.zones if z.id == r.zone_id), None) if cam else None
        return zone.release_hold if zone is not None else 0.0

    return LifecyclePolicy(
        escalate_after_s=settings.alerts.escalate_after_s,
        reraise_after_resolve_s=settings.alerts.reraise_after_resolve_s,
        restore_deadline=restore_deadline,
        release_hold=release_hold,
    )
