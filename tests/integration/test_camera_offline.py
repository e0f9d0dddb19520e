"""A dead camera is never an empty zone: its rules freeze, and it is reported offline.

Real detector on the real forecourt picture (the van parked in the driveway), a fake clock,
and the detection worker stepped by hand, so the outage can last as long as the test wants.
"""

from __future__ import annotations

import json
import logging
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


class Harness:
    """One camera behind the real detector and a hand-stepped worker, on a fake clock."""

    def __init__(self, models_dir: Path, camera: dict[str, object], period: float) -> None:
        self.camera = Camera.model_validate(camera)
        detector = OnnxYoloDetector(
            models_dir / "yolov8n_int8.onnx", Models().class_map(), conf_threshold=0.1
        )
        self.clock = FakeClock()
        self.sink = ListSink()
        cam_id = self.camera.id
        manager = AlertManager(
            NodeIdentity("s", "Site", "n"),
            {cam_id: Place()},
            topics=Topics("grid/s/n"),
            clock=self.clock,
            sink=self.sink,
            snapshots=None,
            new_id=lambda: f"01{len(self.sink.events):024d}",
        )
        self.slot = LatestFrameSlot()
        health = CameraHealth(cam_id, self.camera.offline_after_s, 0.0)
        self.runtime = CameraRuntime(
            CameraPipeline(self.camera, detector), self.slot, health, period
        )
        self.worker = DetectionWorker([self.runtime], manager, self.clock)
        self.period = period

    def run(
        self, until: float, picture: Image | None, *, look_every: int = 1
    ) -> list[tuple[str, str]]:
        """Step until `until`, feeding `picture` each period (none: the camera is silent).

        The worker looks every `look_every` periods (more than 1: it is behind).
        """
        start = len(self.sink.events)
        tick = 0
        while self.clock.monotonic() < until - 1e-9:
            if picture is not None:
                t = self.clock.monotonic()
                self.slot.put(
                    Frame(self.camera.id, int(t / self.period), t, self.clock.now(), picture)
                )
            if tick % look_every == 0:
                self.worker.step(self.runtime)
            tick += 1
            self.clock.advance(self.period)
        return [(str(e["kind"]), str(e["event"])) for e in self.sink.events[start:]]


def forecourt(**zone: float) -> dict[str, object]:
    """The forecourt camera at 2 fps with a fire lane on the driveway (the van parks there)."""
    driveway = {"id": "driveway", "kind": "fire_lane", "polygon": DRIVEWAY, **zone}
    return {"id": "forecourt", "source": "0", "detect_fps": 2, "offline_after_s": 10,
            "zones": [driveway]}  # fmt: skip


def test_outage_freezes_rules_then_they_resume(models_dir: Path, data_dir: Path) -> None:
    image = cv2.imread(str(data_dir / "images/parking/forecourt_parked_cars_qengineering.jpg"))
    assert image is not None
    empty: Image = np.full_like(image, 128)
    camera = forecourt(grace_s=2, stationary_window_s=1, clear_after_s=5)
    h = Harness(models_dir, {**camera, "motion_gate": False}, period=0.5)

    assert h.run(6.0, image) == [("fire_lane_blocked", "raised")]
    # 54 s without a frame: far past clear_after_s.
    assert h.run(60.0, None) == [("camera_offline", "raised")]
    # The van is still there: the camera clears, the fire-lane alert goes on (an update with
    # its dwell, since update_every_s passed during the outage), never cleared nor re-raised.
    assert h.run(70.0, image) == [("camera_offline", "cleared"), ("fire_lane_blocked", "updated")]
    # Now the driveway is empty: it clears, clear_after_s later.
    assert h.run(80.0, empty) == [("fire_lane_blocked", "cleared")]
    fire = [e for e in h.sink.events if e["kind"] == "fire_lane_blocked"]
    assert len({e["id"] for e in fire}) == 1
    for payload in h.sink.events:
        validate("alert", payload)


def test_a_stall_shorter_than_offline_does_not_clear_and_reraise_a_lift(
    models_dir: Path, data_dir: Path
) -> None:
    """An RTSP reconnect can stall a stream longer than a lift's clear_after_s (10 s)."""
    image = cv2.imread(
        str(data_dir / "images/elevator_ebike/etoilesha_ebike_2024-01-01_12-07-27.png")
    )
    assert image is not None
    h = Harness(
        models_dir,
        {
            "id": "lift",
            "source": "0",
            "zones": [{"id": "car", "kind": "lift", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
        },
        period=0.2,
    )
    assert h.run(3.0, image) == [("ebike_in_lift", "raised")]
    assert h.run(18.0, None) == []  # 15 s stall: past clear_after_s, short of offline_after_s
    assert h.run(22.0, image) == []


def test_a_worker_behind_its_cameras_is_not_a_stalled_camera(
    models_dir: Path, data_dir: Path
) -> None:
    """An overloaded node judges each camera less often than its period; the camera never
    paused, so the van's tracks and stationary history must not be reset on every look."""
    image = cv2.imread(str(data_dir / "images/parking/forecourt_parked_cars_qengineering.jpg"))
    assert image is not None
    camera = forecourt(grace_s=4, stationary_window_s=2, clear_after_s=10)
    h = Harness(models_dir, camera, period=0.5)
    # Frames every 0.5 s, looks every 2.5 s: past stall_s (2 s) between two looks.
    assert h.run(20.0, image, look_every=5) == [("fire_lane_blocked", "raised")]


def test_a_lane_too_slow_for_its_cameras_says_so(
    models_dir: Path, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    image = cv2.imread(str(data_dir / "images/parking/forecourt_parked_cars_qengineering.jpg"))
    assert image is not None
    h = Harness(models_dir, forecourt(grace_s=4), period=0.5)
    with caplog.at_level(logging.WARNING, logger="edge.worker"):
        h.run(61.0, image)  # judged at its 2 fps: fine
        assert h.worker.overload_warnings == 0
        h.run(122.0, image, look_every=5)  # judged at 0.4/s while frames come at 2/s
    assert h.worker.overload_warnings == 1
    assert "camera forecourt was judged 0.4" in caplog.text and "models.lanes" in caplog.text
