"""Builders shared by the live node (app.py) and the replay: one place turns Settings into parts."""

from __future__ import annotations

from edge.alerts.manager import NodeIdentity, Place
from edge.config.loader import SiteConfig
from edge.config.model import Camera, Settings
from edge.detect.onnx_yolo import OnnxYoloDetector
from edge.pipeline import low_floor
from edge.video.motion import MotionGate


def build_detector(site: SiteConfig) -> OnnxYoloDetector:
    models = site.settings.models
    floors = [low_floor(c) for c in site.settings.cameras]
    return OnnxYoloDetector(
        site.detector_path,
        models.class_map(),
        threads=models.threads,
        # Low enough for the tracker's second association stage (partly hidden objects).
        conf_threshold=min(floors, default=0.1),
    )


def motion_gate_for(camera: Camera) -> MotionGate | None:
    return MotionGate() if camera.gated else None


def node_identity(settings: Settings) -> NodeIdentity:
    # The contract wants a name to show; an unnamed site shows its id.
    return NodeIdentity(settings.site.id, settings.site.name or settings.site.id, settings.node.id)


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
        )
        for c in settings.cameras
    }
