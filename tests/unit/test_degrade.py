"""Past the limit the node degrades, visibly and fairly: every camera still judged (less often),
a `degraded` state and one log line per camera, never a busy camera reported offline.

The lane is a real `DetectionWorker` with real pipelines, rules and health on a fake clock; the
model is a stand-in that costs `cost` seconds of that clock per run, so the overload is exact.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from edge.alerts.manager import AlertManager, NodeIdentity, Place
from edge.clock import FakeClock
from edge.config.model import Camera
from edge.messages import Detection, Frame, Image
from edge.mqtt.topics import Topics
from edge.pipeline import CameraPipeline
from edge.rules.health import CameraHealth
from edge.video.decoding import DecodeMode, DecodePolicy, choose_mode
from edge.video.slot import LatestFrameSlot
from edge.worker import CameraRuntime, DetectionWorker

FPS = 2.0
PICTURE: Image = np.zeros((36, 64, 3), np.uint8)


class SlowModel:
    def __init__(self, clock: FakeClock, cost: float) -> None:
        self.clock = clock
        self.cost = cost
        self.runs = 0

    def detect(self, image: Image) -> list[Detection]:
        self.runs += 1
        self.clock.advance(self.cost)
        return []


class Sink:
    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []

    def deliver(self, topic: str, payload: bytes) -> None:
        self.events.append(json.loads(payload))


class Lane:
    """`n` parking cameras at 2 fps on one lane; `run` plays the worker's loop for a while."""

    def __init__(self, n: int, cost: float, offline_after_s: float = 5.0) -> None:
        self.clock = FakeClock()
        self.model = SlowModel(self.clock, cost)
        self.sink = Sink()
        self.states: list[tuple[str, bool]] = []
        cams = [
            Camera.model_validate(
                {
                    "id": f"c{i}",
                    "source": "rtsp://cam/x",
                    "detect_fps": FPS,
                    "offline_after_s": offline_after_s,
                    "motion_gate": False,
                    "zones": [
                        {
                            "id": "z",
                            "kind": "no_parking",
                            "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                        }
                    ],
                }
            )
            for i in range(n)
        ]
        manager = AlertManager(
            NodeIdentity("s", "Site", "n"),
            {c.id: Place() for c in cams},
            topics=Topics("grid/s/n"),
            clock=self.clock,
            sink=self.sink,
            snapshots=None,
            new_id=lambda: f"01{len(self.sink.events):024d}",
        )
        self.runtimes = [
            CameraRuntime(
                CameraPipeline(c, self.model),
                LatestFrameSlot(),
                CameraHealth(c.id, c.offline_after_s, 0.0),
                1.0 / FPS,
            )
            for c in cams
        ]
        self.worker = DetectionWorker(
            self.runtimes,
            manager,
            self.clock,
            load_window_s=10.0,
            on_camera_state=lambda cam, online: self.states.append((cam, online)),
        )
        self._next_frame = 0.0

    def _cameras_deliver(self) -> None:
        """Each camera puts its newest frame, at 2 fps, whatever the worker is doing."""
        now = self.clock.monotonic()
        if now < self._next_frame:
            return
        self._next_frame = now + 1.0 / FPS
        for rt in self.runtimes:
            rt.slot.put(Frame(rt.camera_id, 0, now, self.clock.now(), PICTURE))

    def run(self, seconds: float) -> None:
        end = self.clock.monotonic() + seconds
        while self.clock.monotonic() < end:
            busy = False
            for rt in self.runtimes:
                self._cameras_deliver()
                busy |= self.worker.step(rt)
            if not busy:
                self.clock.advance(0.02)


def offline_events(lane: Lane) -> list[dict[str, object]]:
    return [e for e in lane.sink.events if e["kind"] == "camera_offline"]


def test_an_overloaded_lane_judges_every_camera_less_often_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 12 cameras want 24 model runs a second; the model does 2 (0.5 s each). Each camera is
    # judged every 6 s, longer than its offline_after_s of 5 s: frames keep arriving, though.
    lane = Lane(12, cost=0.5)
    with caplog.at_level(logging.WARNING, logger="edge.worker"):
        judged0 = [rt.judged for rt in lane.runtimes]
        lane.run(65.0)
    judged = [rt.judged - j0 for rt, j0 in zip(lane.runtimes, judged0, strict=True)]
    assert min(judged) >= 9 and max(judged) - min(judged) <= 2  # everyone, and fairly
    assert offline_events(lane) == []  # busy is not offline
    assert all(rt.degraded for rt in lane.runtimes)
    # One line per camera for the whole overload, not one per window.
    warnings = [r for r in caplog.records if "is degraded" in r.getMessage()]
    assert sorted(r.getMessage().split()[1] for r in warnings) == sorted(
        rt.camera_id for rt in lane.runtimes
    )
    assert lane.worker.overload_warnings == 12
    # The state message went out once per camera when it degraded (online, degraded).
    degraded_notes = [s for s in lane.states if s[1]]
    assert len(degraded_notes) == 12 + 12  # first frame online, then degraded


def test_a_lane_that_catches_up_is_no_longer_degraded() -> None:
    lane = Lane(6, cost=0.5)
    lane.run(25.0)
    assert all(rt.degraded for rt in lane.runtimes)
    lane.model.cost = 0.01  # the load went away
    lane.run(25.0)
    assert not any(rt.degraded for rt in lane.runtimes)
    assert offline_events(lane) == []


def test_a_silent_camera_on_a_busy_lane_is_still_offline() -> None:
    lane = Lane(4, cost=0.3)
    lane.run(12.0)
    silent = lane.runtimes[0]
    others = lane.runtimes[1:]
    lane.runtimes = others  # camera c0 stops delivering; the worker still checks it
    for _ in range(200):
        for rt in others:
            rt.slot.put(Frame(rt.camera_id, 0, lane.clock.monotonic(), 0.0, PICTURE))
        for rt in [silent, *others]:
            lane.worker.step(rt)
    assert [e["source"] for e in offline_events(lane)] == [
        {"camera": "c0", "zone": None, "sensor": None}
    ]


def test_decoding_that_falls_behind_degrades_to_keyframes_then_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    policy = DecodePolicy("lift", 5.0, retry_full_after_s=60.0)
    for t in (0.0, 2.0, 4.0):
        policy.keyframe(t)
    assert policy.mode(10.0) is DecodeMode.FULL
    with caplog.at_level(logging.WARNING, logger="edge.video.decoding"):
        policy.lag(0.5, 10.0)
        policy.lag(2.5, 11.0)
        policy.lag(1.0, 15.0)  # a hiccup of the machine that caught up: nothing happens
        policy.lag(2.5, 16.0)
        policy.lag(3.0, 20.5)
        assert not policy.state.degraded  # behind for 4.5 s only
        policy.lag(3.5, 21.0)  # 5 s behind: degraded
        policy.lag(4.0, 22.0)  # still behind: no second line
    assert policy.state.degraded and policy.mode(22.0) is DecodeMode.KEYFRAMES
    assert len(caplog.records) == 1 and "degraded to keyframes" in caplog.text
    assert policy.mode(80.5) is DecodeMode.KEYFRAMES
    assert policy.mode(81.5) is DecodeMode.FULL and not policy.state.degraded
    policy.lag(7.5, 90.0)  # far behind at once (its decoder was blocked): no waiting
    assert policy.state.degraded


@pytest.mark.parametrize(
    ("fps", "interval", "forced", "mode"),
    [
        (0.5, 2.0, "auto", DecodeMode.KEYFRAMES),  # a keyframe per look
        (0.5, 2.08, "auto", DecodeMode.KEYFRAMES),  # a frame late: still enough
        (0.5, 4.0, "auto", DecodeMode.FULL),  # GOP 4 s: too few keyframes
        (2.0, 2.0, "auto", DecodeMode.FULL),
        (2.0, 0.5, "auto", DecodeMode.KEYFRAMES),
        (0.5, None, "auto", DecodeMode.KEYFRAMES),  # unmeasured: a 2 s GOP assumed
        (5.0, None, "auto", DecodeMode.FULL),
        (0.5, 2.0, "full", DecodeMode.FULL),
        (5.0, 2.0, "keyframes", DecodeMode.KEYFRAMES),
    ],
)
def test_the_mode_follows_the_rule(
    fps: float, interval: float | None, forced: str, mode: DecodeMode
) -> None:
    assert choose_mode(fps, interval, forced) is mode


def test_health_counts_delivered_frames_not_only_judged_ones() -> None:
    """A lane stuck on one long pass checks a camera it has not judged for longer than
    offline_after_s: the frames it was given say the camera is alive."""
    health = CameraHealth("cam", 5.0, 0.0)
    health.frame(1.0)  # judged
    assert health.check(8.0, delivered=7.5) == []  # not judged for 7 s, but frames arrive
    assert not health.offline
    raised = health.check(14.0, delivered=7.5)  # nothing delivered for 6.5 s: offline
    assert [e.transition.value for e in raised] == ["raised"] and raised[0].started == 7.5
    assert health.check(15.0, delivered=14.5) == []  # delivery alone does not clear it...
    assert health.offline
    assert [e.transition.value for e in health.frame(15.0)] == ["cleared"]  # ...a judged frame does
