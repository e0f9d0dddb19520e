"""A dead camera is never an empty zone: its rules freeze, and it is reported offline.

Real detector on the real forecourt picture (the van parked in the driveway), a fake clock,
and the detection worker stepped by hand, so the outage can last as long as the test wants.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.alerts.manager import AlertManager, NodeIdentity, Place
from edge.clock import FakeClock
from edge.config.model import Camera, Models
from edge.detect.onnx_yolo import OnnxYoloDetector
from edge.messages import Frame, Image
from edge.mqtt.topics import Topics
from edge.pipeline import CameraPipeline
from edge.rules.health import CameraHealth
from edge.video.slot import LatestFrameSlot
from edge.worker import CameraRuntime, DetectionWorker
from tests.schemas import validate

pytestmark = pytest.mark.integration

DRIVEWAY = [[0.42, 0.3], [0.62, 0.3], [0.72, 1.0], [0.45, 1.0]]


class ListSink:
    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []

    def deliver(self, topic: str, payload: bytes) -> None:
        self.events.append(json.loads(payload))


def test_outage_freezes_rules_then_they_resume(models_dir: Path, data_dir: Path) -> None:
    image = cv2.imread(str(data_dir / "images/parking/forecourt_parked_cars_qengineering.jpg"))
    assert image is not None
    empty: Image = np.full_like(image, 128)
    camera = Camera.model_validate(
        {
            "id": "forecourt",
            "source": "0",
            "detect_fps": 2,
            "offline_after_s": 10,
            "motion_gate": False,
            "zones": [
                {
                    "id": "driveway",
                    "kind": "fire_lane",
                    "polygon": DRIVEWAY,
                    "grace_s": 2,
                    "stationary_window_s": 1,
                    "clear_after_s": 5,
                }
            ],
        }
    )
    detector = OnnxYoloDetector(
        models_dir / "yolov8n_int8.onnx", Models().class_map(), conf_threshold=0.1
    )
    clock = FakeClock()
    sink = ListSink()
    manager = AlertManager(
        NodeIdentity("s", "Site", "n"),
        {"forecourt": Place()},
        topics=Topics("grid/s/n"),
        clock=clock,
        sink=sink,
        snapshots=None,
        new_id=lambda: f"01{len(sink.events):024d}",
    )
    slot = LatestFrameSlot()
    cam = CameraRuntime(
        CameraPipeline(camera, detector), slot, CameraHealth("forecourt", 10, 0.0), period=0.5
    )
    worker = DetectionWorker([cam], manager, clock)

    def run(until: float, picture: Image | None) -> list[tuple[str, str, float]]:
        start = len(sink.events)
        while clock.monotonic() < until:
            if picture is not None:
                t = clock.monotonic()
                slot.put(Frame("forecourt", int(t * 2), t, clock.now(), picture))
            worker.step(cam)
            clock.advance(0.5)
        return [(str(e["kind"]), str(e["event"]), clock.monotonic()) for e in sink.events[start:]]

    before = run(6.0, image)
    assert [(k, e) for k, e, _ in before] == [("fire_lane_blocked", "raised")]

    outage = run(60.0, None)  # 54 s without a frame: far past clear_after_s
    assert [(k, e) for k, e, _ in outage] == [("camera_offline", "raised")]

    # The van is still there: the camera clears, the fire-lane alert goes on (an update with
    # its dwell, since update_every_s passed during the outage), never cleared nor re-raised.
    back = run(70.0, image)
    assert [(k, e) for k, e, _ in back] == [
        ("camera_offline", "cleared"),
        ("fire_lane_blocked", "updated"),
    ]

    gone = run(80.0, empty)  # now the driveway is empty: it clears, clear_after_s later
    assert [(k, e) for k, e, _ in gone] == [("fire_lane_blocked", "cleared")]
    fire = [e for e in sink.events if e["kind"] == "fire_lane_blocked"]
    assert len({e["id"] for e in fire}) == 1
    for payload in sink.events:
        validate("alert", payload)


def test_a_stall_shorter_than_offline_does_not_clear_and_reraise_a_lift(
    models_dir: Path, data_dir: Path
) -> None:
    """An RTSP reconnect can stall a stream longer than a lift's clear_after_s (10 s)."""
    image = cv2.imread(
        str(data_dir / "images/elevator_ebike/etoilesha_ebike_2024-01-01_12-07-27.png")
    )
    assert image is not None
    camera = Camera.model_validate(
        {
            "id": "lift",
            "source": "0",
            "zones": [{"id": "car", "kind": "lift", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
        }
    )
    detector = OnnxYoloDetector(
        models_dir / "yolov8n_int8.onnx", Models().class_map(), conf_threshold=0.1
    )
    clock = FakeClock()
    sink = ListSink()
    manager = AlertManager(
        NodeIdentity("s", "Site", "n"),
        {"lift": Place()},
        topics=Topics("grid/s/n"),
        clock=clock,
        sink=sink,
        snapshots=None,
        new_id=lambda: f"01{len(sink.events):024d}",
    )
    slot = LatestFrameSlot()
    cam = CameraRuntime(
        CameraPipeline(camera, detector),
        slot,
        CameraHealth("lift", camera.offline_after_s, 0.0),
        period=0.2,
    )
    worker = DetectionWorker([cam], manager, clock)

    def run(until: float, frames: bool) -> None:
        while clock.monotonic() < until - 1e-9:
            if frames:
                t = clock.monotonic()
                slot.put(Frame("lift", int(t * 5), t, clock.now(), image))
            worker.step(cam)
            clock.advance(0.2)

    run(3.0, frames=True)
    run(18.0, frames=False)  # 15 s stall: past clear_after_s, short of offline_after_s
    run(22.0, frames=True)
    assert [(e["kind"], e["event"]) for e in sink.events] == [("ebike_in_lift", "raised")]
