"""Capture against a real RTSP server on loopback (bench/rtsp: GStreamer's rtsp-server serving
camera-like H.264 from the shared footage): decoding by rule, reconnects, stalls, another
resolution, corrupt packets. Whatever the server does, the capture thread never dies."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.rtsp.bench import RtspBench
from edge.clock import SystemClock
from edge.video.av_reader import AvOptions, camera_opener
from edge.video.capture import CameraCapture
from edge.video.decoding import DecodeBudget, DecodeMode, DecodePolicy
from edge.video.slot import LatestFrameSlot
from tests.integration.rtsp import LIFT_SUB, ROAD_MAIN, ROAD_SUB, footage, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rtsp(data_dir: Path) -> Iterator[RtspBench]:
    files = {"road": footage(ROAD_SUB), "lift": footage(LIFT_SUB), "main": footage(ROAD_MAIN)}
    # One mount per test that faults it, so one test's fault is not another's surprise.
    mounts = {
        "road": files["road"], "lift": files["lift"], "main": files["main"],
        "drop": files["road"], "stall": files["road"], "switch": files["road"],
        "corrupt": files["road"], "behind": files["road"],
    }  # fmt: skip
    with RtspBench(mounts) as bench:
        yield bench


class Camera:
    """A capture thread on the bench, as `CameraSet` builds one."""

    def __init__(
        self,
        rtsp: RtspBench,
        mount: str,
        detect_fps: float,
        *,
        substream: str | None = None,
        read_timeout_s: float = 10.0,
        budget: DecodeBudget | None = None,
    ) -> None:
        clock = SystemClock()
        self.slot = LatestFrameSlot()
        self.policy = DecodePolicy(mount, detect_fps, has_substream=substream is not None)
        url = rtsp.url(mount)
        opener = camera_opener(
            url,
            rtsp.url(substream) if substream else None,
            self.policy,
            clock,
            options=AvOptions(open_timeout_s=5.0, read_timeout_s=read_timeout_s),
            budget=budget,
        )
        self.capture = CameraCapture(
            mount, url, self.slot, clock, opener=opener, policy=self.policy,
            backoff_initial_s=0.2, backoff_max_s=1.0,
        )  # fmt: skip

    def __enter__(self) -> Camera:
        self.capture.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.capture.stop()

    def frames(self) -> int:
        return self.slot.puts

    def shape(self) -> tuple[int, ...] | None:
        frame = self.slot.peek()
        return None if frame is None else tuple(frame.image.shape)


def test_a_slow_rule_decodes_keyframes_only(rtsp: RtspBench) -> None:
    with Camera(rtsp, "road", detect_fps=0.5) as cam:
        wait_for(lambda: cam.frames() >= 1, 15, "the first keyframe")
        start = cam.frames()
        wait_for(lambda: cam.frames() >= start + 3, 10, "three more keyframes")
        state = cam.policy.state
    assert state.mode is DecodeMode.KEYFRAMES
    assert state.keyframe_interval_s == pytest.approx(2.0, abs=0.1)  # GOP 50 at 25 fps
    # Keyframes are all that was decoded: one a GOP (the loop adds one at each restart).
    assert state.frames_decoded <= cam.frames() + 1
    assert cam.shape() == (360, 640, 3)


def test_a_fast_rule_decodes_every_frame_and_hands_over_its_rate(rtsp: RtspBench) -> None:
    with Camera(rtsp, "lift", detect_fps=5.0) as cam:
        wait_for(lambda: cam.frames() >= 1, 15, "the first frame")
        decoded0, frames0 = cam.policy.state.frames_decoded, cam.frames()
        wait_for(lambda: cam.policy.state.frames_decoded >= decoded0 + 50, 10, "2 s of video")
        decoded = cam.policy.state.frames_decoded - decoded0
        handed = cam.frames() - frames0
    assert cam.policy.state.mode is DecodeMode.FULL
    assert decoded >= 50
    # 25 fps decoded, 5 fps converted and handed to the worker.
    assert 0.12 <= handed / decoded <= 0.28


def test_every_frame_comes_from_the_substream_a_keyframe_from_the_main(rtsp: RtspBench) -> None:
    with Camera(rtsp, "main", detect_fps=5.0, substream="road") as lift:
        wait_for(lambda: lift.frames() >= 3, 15, "substream frames")
        assert lift.shape() == (360, 640, 3)
        assert lift.policy.state.substream
    with Camera(rtsp, "main", detect_fps=0.5, substream="road") as parking:
        wait_for(lambda: parking.frames() >= 1, 15, "a main-stream keyframe")
        assert parking.shape() == (1080, 1920, 3)
        assert not parking.policy.state.substream
        assert parking.policy.state.mode is DecodeMode.KEYFRAMES


def test_a_dropped_connection_is_reopened(rtsp: RtspBench) -> None:
    with Camera(rtsp, "drop", detect_fps=5.0) as cam:
        wait_for(lambda: cam.frames() >= 3 and rtsp.clients("drop") == 1, 15, "frames")
        assert rtsp.drop("drop") == 1
        wait_for(lambda: cam.capture.stats.reconnects >= 1, 15, "a reconnect")
        after = cam.frames()
        wait_for(lambda: cam.frames() >= after + 5, 15, "frames after the reconnect")
        assert cam.capture.running


def test_a_stalled_stream_times_out_and_recovers(
    rtsp: RtspBench, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "edge.video.capture")
    with Camera(rtsp, "stall", detect_fps=5.0, read_timeout_s=1.5) as cam:
        wait_for(lambda: cam.frames() >= 3, 15, "frames")
        rtsp.stall("stall")
        wait_for(lambda: cam.capture.stats.last_error is not None, 10, "the stall noticed")
        assert "read failed" in (cam.capture.stats.last_error or "")
        stalled = cam.frames()
        rtsp.resume("stall")
        wait_for(lambda: cam.frames() >= stalled + 5, 20, "frames after the stall")
        assert cam.capture.running
    assert any(
        "stall" in r.getMessage() and "read failed" in r.getMessage() for r in caplog.records
    )


def test_a_camera_restarting_at_another_resolution_is_followed(rtsp: RtspBench) -> None:
    with Camera(rtsp, "switch", detect_fps=5.0) as cam:
        wait_for(lambda: cam.shape() == (360, 640, 3), 15, "640x360 frames")
        rtsp.switch("switch", footage(ROAD_MAIN))
        wait_for(lambda: cam.shape() == (1080, 1920, 3), 20, "1920x1080 frames")
        assert cam.capture.running


def test_corrupt_packets_are_survived(rtsp: RtspBench) -> None:
    with Camera(rtsp, "corrupt", detect_fps=5.0) as cam:
        wait_for(lambda: cam.frames() >= 3, 15, "frames")
        rtsp.corrupt("corrupt", 0.5)
        try:
            start = cam.frames()
            wait_for(lambda: cam.frames() >= start + 15, 20, "frames while half are garbled")
        finally:
            rtsp.corrupt("corrupt", 0.0)
        assert cam.policy.state.decode_errors > 0  # the garbling reached the decoder
        assert cam.capture.running
        after = cam.frames()
        wait_for(lambda: cam.frames() >= after + 5, 15, "clean frames again")


def test_decoding_held_up_degrades_to_keyframes_and_frames_keep_coming(
    rtsp: RtspBench, caplog: pytest.LogCaptureFixture
) -> None:
    budget = DecodeBudget(1)
    caplog.set_level(logging.WARNING, "edge.video.decoding")
    with Camera(rtsp, "behind", detect_fps=5.0, budget=budget) as cam:
        wait_for(lambda: cam.frames() >= 3, 15, "frames")
        assert cam.policy.state.mode is DecodeMode.FULL
        with budget:  # the node's only decoding slot is taken for 8 s (other cameras)
            time.sleep(8.0)
        wait_for(lambda: cam.policy.state.degraded, 10, "the camera degraded")
        assert cam.policy.state.mode is DecodeMode.KEYFRAMES
        after = cam.frames()
        wait_for(lambda: cam.frames() >= after + 2, 15, "keyframes still judged")
        assert cam.capture.stats.reconnects == 0 and cam.capture.running
    assert len([r for r in caplog.records if "behind the stream" in r.getMessage()]) == 1
