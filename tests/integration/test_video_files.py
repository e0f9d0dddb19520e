"""Real footage through OpenCV: replay sampling in video time, stills, probing, real capture."""

from __future__ import annotations

import functools
import re
import time
from pathlib import Path

import pytest

from edge.clock import SystemClock
from edge.messages import Frame
from edge.video.capture import CameraCapture, open_cv_reader
from edge.video.files import VideoSourceError, iter_file_frames, probe
from edge.video.slot import LatestFrameSlot

pytestmark = pytest.mark.integration

EPOCH = 1_767_225_600.0
PARKING = "videos/parking_lot_cctv_timelapse.mp4"
ROAD = "videos/road_traffic_cars.mp4"
STILL = "images/parking/car_parked_in_bay_cn.jpg"


class RecordingSlot(LatestFrameSlot):
    def __init__(self) -> None:
        super().__init__()
        self.seqs: list[int] = []

    def put(self, frame: Frame) -> None:
        self.seqs.append(frame.seq)
        super().put(frame)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (PARKING, (20.0, 162, 640, 480, 8.1)),
        (ROAD, (30.0, 268, 1280, 720, 268 / 30)),
    ],
)
def test_probe_videos(
    data_dir: Path, name: str, expected: tuple[float, int, int, int, float]
) -> None:
    info = probe(data_dir / name)
    assert info.is_image is False
    assert (info.fps, info.frame_count, info.width, info.height) == expected[:4]
    assert info.duration_s == pytest.approx(expected[4])


def test_probe_image(data_dir: Path) -> None:
    info = probe(data_dir / STILL)
    assert info.is_image is True
    assert (info.width, info.height, info.frame_count) == (1200, 898, 1)


def test_parking_video_sampled_at_2_fps_in_video_time(data_dir: Path) -> None:
    started = time.perf_counter()
    frames = list(iter_file_frames(data_dir / PARKING, "lot", sample_fps=2.0, epoch=EPOCH))
    elapsed = time.perf_counter() - started
    assert len(frames) == 17  # 0.0, 0.5, ... 8.0 in a 8.1 s clip
    assert [f.ts for f in frames] == pytest.approx([0.5 * i for i in range(17)])
    assert [f.seq for f in frames] == [10 * i for i in range(17)]  # 20 fps: every 10th frame
    assert [f.wall_ts for f in frames] == pytest.approx([EPOCH + 0.5 * i for i in range(17)])
    assert all(f.camera_id == "lot" and (f.width, f.height) == (640, 480) for f in frames)
    assert frames[0].image.shape == (480, 640, 3)
    # Replay must run far faster than real time; 8.1 s of video normally takes ~0.1 s.
    assert elapsed < 8.1 / 4


def test_road_video_sampled_at_2_fps(data_dir: Path) -> None:
    sampled = list(iter_file_frames(data_dir / ROAD, "road", sample_fps=2.0, epoch=EPOCH))
    assert len(sampled) == 18  # 0.0 ... 8.5 in a 8.93 s clip
    assert [f.ts for f in sampled] == pytest.approx([0.5 * i for i in range(18)])
    assert [f.seq for f in sampled] == [15 * i for i in range(18)]  # 30 fps: every 15th frame
    assert sampled[0].image.shape == (720, 1280, 3)


@pytest.mark.parametrize("sample_fps", [20.0, 100.0])
def test_sampling_at_or_above_the_file_rate_yields_every_frame(
    data_dir: Path, sample_fps: float
) -> None:
    every = list(iter_file_frames(data_dir / PARKING, "lot", sample_fps=sample_fps, epoch=EPOCH))
    assert [f.seq for f in every] == list(range(162))
    assert [f.ts for f in every] == pytest.approx([i / 20 for i in range(162)])


def test_image_is_a_still_scene(data_dir: Path) -> None:
    frames = list(
        iter_file_frames(data_dir / STILL, "bay", sample_fps=2.0, still_seconds=5.0, epoch=EPOCH)
    )
    assert len(frames) == 10
    assert [f.ts for f in frames] == pytest.approx([0.5 * i for i in range(10)])
    assert [f.seq for f in frames] == list(range(10))
    assert all(f.image is frames[0].image for f in frames)
    assert frames[0].image.shape == (898, 1200, 3)
    assert not frames[0].image.flags.writeable


def test_missing_file_raises_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_clip.mp4"
    with pytest.raises(VideoSourceError, match=re.escape(str(missing))):
        iter_file_frames(missing, "cam", sample_fps=2.0, epoch=EPOCH)
    with pytest.raises(VideoSourceError, match=re.escape(str(missing))):
        probe(missing)


def test_unreadable_file_raises_naming_the_path(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(VideoSourceError, match=re.escape(str(junk))):
        iter_file_frames(junk, "cam", sample_fps=2.0, epoch=EPOCH)
    fake_jpg = tmp_path / "fake.jpg"
    fake_jpg.write_bytes(b"\x00" * 64)
    with pytest.raises(VideoSourceError, match=re.escape(str(fake_jpg))):
        iter_file_frames(fake_jpg, "cam", sample_fps=2.0, epoch=EPOCH)


@pytest.mark.parametrize(("sample_fps", "still_seconds"), [(0.0, 5.0), (-1.0, 5.0), (2.0, -1.0)])
def test_bad_sampling_settings(data_dir: Path, sample_fps: float, still_seconds: float) -> None:
    with pytest.raises(ValueError):
        iter_file_frames(
            data_dir / PARKING,
            "cam",
            sample_fps=sample_fps,
            still_seconds=still_seconds,
            epoch=EPOCH,
        )


def test_real_capture_of_a_file_runs_to_eof(data_dir: Path) -> None:
    slot = RecordingSlot()
    capture = CameraCapture(
        "lot",
        str(data_dir / PARKING),
        slot,
        SystemClock(),
        realtime_files=False,
        loop_files=False,
    )
    capture.start()
    try:
        first = slot.take(timeout=5.0)
        assert first is not None and first.image.shape == (480, 640, 3)
        deadline = time.monotonic() + 10.0
        while capture.running and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        capture.stop()
    stats = capture.stats
    assert stats.finished is True
    assert stats.frames_read == 162
    assert stats.reconnects == 0
    assert stats.connected is False
    assert slot.seqs == list(range(162))
    last = slot.peek()
    assert last is not None and last.seq == 161


def test_real_reader_failure_is_masked(tmp_path: Path) -> None:
    # Port 1 on loopback refuses at once, so this exercises the real FFmpeg open path quickly.
    opener = functools.partial(open_cv_reader, open_timeout_s=2.0)
    with pytest.raises(VideoSourceError) as raised:
        opener("rtsp://admin:s3cret@127.0.0.1:1/stream1")
    assert "s3cret" not in str(raised.value)
    assert "rtsp://admin:***@127.0.0.1:1/stream1" in str(raised.value)
    with pytest.raises(VideoSourceError, match=r"missing\.mp4"):
        open_cv_reader(str(tmp_path / "missing.mp4"))
