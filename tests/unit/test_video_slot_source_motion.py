"""The latest-frame slot, camera source parsing and masking, and the motion gate."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from edge.messages import Frame, Image
from edge.video.motion import MotionGate
from edge.video.slot import LatestFrameSlot
from edge.video.source import SourceKind, describe_source, mask_credentials, parse_source


def _frame(seq: int, image: Image | None = None) -> Frame:
    pixels = image if image is not None else np.zeros((4, 4, 3), np.uint8)
    return Frame(camera_id="cam", seq=seq, ts=float(seq), wall_ts=1000.0 + seq, image=pixels)


# LatestFrameSlot ---------------------------------------------------------------------------


def test_empty_slot_take_times_out_and_peek_is_none() -> None:
    slot = LatestFrameSlot()
    started = time.monotonic()
    assert slot.take(timeout=0.05) is None
    assert time.monotonic() - started >= 0.04
    assert slot.take(timeout=0) is None
    assert slot.peek() is None
    assert slot.dropped == 0


def test_put_overwrites_and_counts_untaken_frames_as_dropped() -> None:
    slot = LatestFrameSlot()
    for seq in range(3):
        slot.put(_frame(seq))
    assert slot.dropped == 2
    taken = slot.take(timeout=0)
    assert taken is not None and taken.seq == 2
    # A taken frame is not dropped when replaced.
    slot.put(_frame(3))
    assert slot.dropped == 2
    assert slot.puts == 4


def test_take_consumes_but_peek_does_not() -> None:
    slot = LatestFrameSlot()
    slot.put(_frame(7))
    peeked = slot.peek()
    assert peeked is not None and peeked.seq == 7
    taken = slot.take(timeout=0)
    assert taken is not None and taken.seq == 7
    assert slot.take(timeout=0) is None
    still = slot.peek()
    assert still is not None and still.seq == 7


def _frame_at(ts: float) -> Frame:
    return Frame("cam", int(ts * 10), ts, 1000.0 + ts, np.zeros((4, 4, 3), np.uint8))


def test_silence_is_the_cameras_gap_not_the_consumers() -> None:
    slot = LatestFrameSlot()
    slot.put(_frame_at(0.0))
    assert slot.take(timeout=0) is not None
    assert slot.silence_before_taken == 0.0  # nothing before the first frame
    # The camera delivers every 0.2 s; the consumer looks only 3 s later.
    for i in range(1, 16):
        slot.put(_frame_at(0.2 * i))
    assert slot.take(timeout=0) is not None
    assert slot.silence_before_taken == pytest.approx(0.2)
    # Then the camera pauses for 5 s, between a taken frame and the next one.
    slot.put(_frame_at(8.0))
    assert slot.take(timeout=0) is not None
    assert slot.silence_before_taken == pytest.approx(5.0)
    # A pause among frames the consumer never took still counts.
    slot.put(_frame_at(8.2))
    slot.put(_frame_at(12.2))
    slot.put(_frame_at(12.4))
    assert slot.take(timeout=0) is not None
    assert slot.silence_before_taken == pytest.approx(4.0)


def test_take_wakes_when_another_thread_puts() -> None:
    slot = LatestFrameSlot()
    got: list[Frame | None] = []
    consumer = threading.Thread(target=lambda: got.append(slot.take(timeout=2.0)))
    consumer.start()
    time.sleep(0.05)
    started = time.monotonic()
    slot.put(_frame(1))
    consumer.join(2.0)
    assert not consumer.is_alive()
    assert time.monotonic() - started < 0.5
    assert len(got) == 1 and got[0] is not None and got[0].seq == 1


def test_producer_never_blocks_on_slow_consumer_and_counts_add_up() -> None:
    slot = LatestFrameSlot()
    total = 2000
    taken: list[int] = []
    done = threading.Event()

    def consume() -> None:
        while not done.is_set():
            frame = slot.take(timeout=0.01)
            if frame is not None:
                taken.append(frame.seq)
                time.sleep(0.001)

    consumer = threading.Thread(target=consume)
    consumer.start()
    started = time.monotonic()
    for seq in range(total):
        slot.put(_frame(seq))
    put_time = time.monotonic() - started
    done.set()
    consumer.join(2.0)
    assert put_time < 1.0
    assert taken == sorted(taken)  # newest-first never goes backwards
    pending = 1 if slot.take(timeout=0) is not None else 0
    assert len(taken) + slot.dropped + pending == total


# Camera sources ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "kind", "target"),
    [
        (0, SourceKind.DEVICE, 0),
        ("0", SourceKind.DEVICE, 0),
        (" 2 ", SourceKind.DEVICE, 2),
        ("rtsp://10.0.0.5:554/stream1", SourceKind.STREAM, "rtsp://10.0.0.5:554/stream1"),
        ("RTSP://cam/live", SourceKind.STREAM, "RTSP://cam/live"),
        ("rtsps://cam/live", SourceKind.STREAM, "rtsps://cam/live"),
        ("http://cam/mjpeg", SourceKind.STREAM, "http://cam/mjpeg"),
        ("https://cam/live.m3u8", SourceKind.STREAM, "https://cam/live.m3u8"),
        ("udp://239.0.0.1:1234", SourceKind.STREAM, "udp://239.0.0.1:1234"),
        ("/data/lot.mp4", SourceKind.FILE, "/data/lot.mp4"),
        ("videos/lot 2.mp4", SourceKind.FILE, "videos/lot 2.mp4"),
        ("C:\\clips\\lift.avi", SourceKind.FILE, "C:\\clips\\lift.avi"),
        ("12.mp4", SourceKind.FILE, "12.mp4"),
    ],
)
def test_parse_source(source: str | int, kind: SourceKind, target: str | int) -> None:
    parsed = parse_source(source)
    assert parsed.kind is kind
    assert parsed.target == target
    assert parsed.is_live is (kind is not SourceKind.FILE)


@pytest.mark.parametrize("source", ["", "   ", -1])
def test_parse_source_rejects_empty_and_negative(source: str | int) -> None:
    with pytest.raises(ValueError):
        parse_source(source)


def test_parse_source_rejects_bool() -> None:
    with pytest.raises(TypeError):
        parse_source(True)


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("rtsp://admin:s3cret@10.0.0.5:554/stream1", "rtsp://admin:***@10.0.0.5:554/stream1"),
        ("rtsp://admin:p@ss:w0rd@cam/h264", "rtsp://admin:***@cam/h264"),
        ("rtsps://u:x@cam", "rtsps://u:***@cam"),
        ("http://viewer:hunter2@cam/video.mjpg", "http://viewer:***@cam/video.mjpg"),
        ("https://:tok@cam/live", "https://:***@cam/live"),
        ("rtsp://admin@cam/live", "rtsp://admin@cam/live"),
        ("rtsp://10.0.0.5:554/stream1", "rtsp://10.0.0.5:554/stream1"),
        (
            "rtsp://cam/cam/realmonitor?channel=1&user=admin&password=s3cret",
            "rtsp://cam/cam/realmonitor?channel=1&user=admin&password=***",
        ),
        ("http://cam/snap.jpg?token=abc123", "http://cam/snap.jpg?token=***"),
        ("0", "device 0"),
        (3, "device 3"),
        ("/data/lot.mp4", "/data/lot.mp4"),
    ],
)
def test_describe_source_masks_credentials(source: str | int, shown: str) -> None:
    assert describe_source(source) == shown
    assert repr(parse_source(source)).count("s3cret") == 0


def test_mask_credentials_in_free_text() -> None:
    text = "open failed for rtsp://admin:s3cret@cam/1 and http://u:pw@cam/2 (timeout)"
    assert mask_credentials(text) == (
        "open failed for rtsp://admin:***@cam/1 and http://u:***@cam/2 (timeout)"
    )


# MotionGate --------------------------------------------------------------------------------


def _scene(seed: int = 0, height: int = 480, width: int = 640) -> Image:
    """A textured static scene, so the blur and the diff have something real to work on."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 200, size=(height // 16, width // 16, 3), dtype=np.uint8)
    return np.ascontiguousarray(np.repeat(np.repeat(base, 16, axis=0), 16, axis=1))


def _noisy(image: Image, sigma: float, seed: int) -> Image:
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, sigma, size=image.shape)
    return np.clip(image.astype(np.float64) + noise, 0, 255).astype(np.uint8)


def test_first_frame_is_always_detected() -> None:
    gate = MotionGate()
    assert gate.should_detect(_scene(), ts=0.0) is True
    assert (gate.frames_seen, gate.frames_skipped) == (1, 0)


def test_static_scene_is_skipped() -> None:
    gate = MotionGate()
    scene = _scene()
    decisions = [gate.should_detect(scene.copy(), ts=0.1 * i) for i in range(50)]
    assert decisions[0] is True
    assert not any(decisions[1:])
    assert (gate.frames_seen, gate.frames_skipped) == (50, 49)


def test_sensor_noise_is_skipped() -> None:
    gate = MotionGate()
    scene = _scene()
    assert gate.should_detect(scene, ts=0.0)
    decisions = [gate.should_detect(_noisy(scene, 4.0, i), ts=0.1 * i) for i in range(1, 30)]
    assert not any(decisions)
    assert gate.last_change <= 0.002


def test_moving_block_is_detected_and_resets_the_reference() -> None:
    gate = MotionGate()
    scene = _scene()
    assert gate.should_detect(scene, ts=0.0)
    moved = scene.copy()
    moved[200:260, 300:380] = 255  # a car-sized bright block appears
    assert gate.should_detect(moved, ts=0.5) is True
    # The block is now the reference: the same picture again is no change.
    assert gate.should_detect(moved.copy(), ts=1.0) is False
    # Moving the block on is a change again.
    moved_on = scene.copy()
    moved_on[200:260, 400:480] = 255
    assert gate.should_detect(moved_on, ts=1.5) is True


def test_tiny_change_below_threshold_is_skipped() -> None:
    gate = MotionGate()
    scene = _scene()
    assert gate.should_detect(scene, ts=0.0)
    speck = scene.copy()
    speck[100:104, 100:104] = 255  # 16 px of 307,200: a leaf, not a car
    assert gate.should_detect(speck, ts=0.5) is False


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ([0.0, 5.0, 9.99, 10.0, 15.0, 19.9, 20.0], [True, False, False, True, False, False, True]),
        ([0.0, 3.0, 2.0, 2.5], [True, False, True, False]),  # time went back: new scene
    ],
)
def test_max_skip_forces_detection_on_a_static_scene(
    times: list[float], expected: list[bool]
) -> None:
    gate = MotionGate(max_skip_s=10.0)
    scene = _scene()
    assert [gate.should_detect(scene, ts=t) for t in times] == expected


def test_slow_drift_adds_up_against_the_detection_reference() -> None:
    # Each step brightens by 2 levels: invisible frame to frame, obvious after 15 steps.
    gate = MotionGate(max_skip_s=1000.0)
    scene = _scene()
    results = []
    for step in range(20):
        drifted = np.clip(scene.astype(np.int16) + 2 * step, 0, 255).astype(np.uint8)
        results.append(gate.should_detect(drifted, ts=float(step)))
    assert results[0] is True
    assert any(results[1:]) and not all(results[1:])


def test_resolution_change_and_reset_force_detection() -> None:
    gate = MotionGate()
    assert gate.should_detect(_scene(), ts=0.0)
    assert gate.should_detect(_scene(height=720, width=1280), ts=0.1) is True
    assert gate.should_detect(_scene(height=720, width=1280), ts=0.2) is False
    gate.reset()
    assert gate.should_detect(_scene(height=720, width=1280), ts=0.3) is True


def test_grey_and_small_images_work() -> None:
    gate = MotionGate(downscale_width=160)
    grey = np.full((60, 80), 100, np.uint8)
    assert gate.should_detect(grey, ts=0.0)
    assert gate.should_detect(grey.copy(), ts=0.1) is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": -0.1},
        {"threshold": 1.5},
        {"pixel_delta": 300},
        {"max_skip_s": -1.0},
        {"downscale_width": 4},
    ],
)
def test_gate_rejects_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        MotionGate(**kwargs)  # type: ignore[arg-type]
