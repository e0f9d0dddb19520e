"""Frames from recorded files, for `edge replay` and tests, stamped with video time.

A replay must reach the same verdicts as live operation, only faster, so every frame carries its
position in the video (`ts`, seconds from the first frame), never the time it was decoded, and
the video is decoded as the live node would decode the camera (`edge.video.decoding`): keyframes
only when the camera's `detect_fps` is at or below the file's keyframe rate (measured on the
file's packets, before decoding), else every frame, sampled at `detect_fps` (a detector at 2 fps
sees what it would see live). Frames between samples are decoded but never converted to BGR,
which is what makes a replay run many times faster than real time. PyAV (FFmpeg) decodes, as
live; its BGR pictures are the very pixels OpenCV's capture gave before. Decoding runs a frame
or two ahead on a helper thread (PyAV releases the GIL while FFmpeg decodes), so it overlaps
with the consumer's detection; the frames and their order are the same either way.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.error
import cv2
import numpy as np

from edge.messages import Frame, Image
from edge.video.decoding import DecodeMode, KeyframeMeter, choose_mode
from edge.video.source import VideoSourceError

__all__ = [
    "IMAGE_EXTENSIONS",
    "VideoInfo",
    "VideoSourceError",
    "iter_file_frames",
    "keyframe_interval",
    "probe",
]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})

# Container timestamps are stored in ticks and come back as 499.99999 ms for 0.5 s.
_TS_EPS = 1e-6
_FALLBACK_FPS = 25.0
# Frames decoded ahead of the consumer: one to hand over while the next is being decoded.
_PREFETCH_DEPTH = 2
_PREFETCH_POLL_S = 0.1


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What a media file holds. For an image: fps 0, one frame, duration 0, `is_image`."""

    fps: float
    frame_count: int
    duration_s: float
    width: int
    height: int
    is_image: bool


def probe(path: Path) -> VideoInfo:
    """Describe a video or image file; raises `VideoSourceError` naming the path if unusable."""
    if not path.is_file():
        raise VideoSourceError(f"video file not found: {path}")
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return _image_info(_read_image(path))
    try:
        with av.open(str(path)) as container:
            if container.streams.video:
                return _video_info(container)
    except (av.error.FFmpegError, OSError, ValueError):
        pass
    # Some images carry no or an unusual extension; OpenCV's image reader is the last try.
    return _image_info(_read_image(path))


def keyframe_interval(path: Path, *, max_packets: int = 3000) -> float | None:
    """The median interval between the video's keyframes, from its packets (nothing decoded);
    None with fewer than two keyframes in the first `max_packets`."""
    meter = KeyframeMeter(keep=15)
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for i, packet in enumerate(container.demux(stream)):
                if i >= max_packets:
                    break
                if packet.is_keyframe and packet.pts is not None:
                    meter.keyframe(float(packet.pts * packet.time_base))
    except (av.error.FFmpegError, OSError, IndexError):
        return None
    return meter.interval_s


def iter_file_frames(
    path: Path,
    camera_id: str,
    *,
    sample_fps: float,
    still_seconds: float = 5.0,
    epoch: float,
    prefetch: bool = True,
    decode: str = "auto",
) -> Iterator[Frame]:
    """Frames of a video sampled at `sample_fps`, or an image as a still scene of `still_seconds`.

    `Frame.ts` is video time in seconds from 0 and `wall_ts = epoch + ts`. For a video, a frame is
    yielded when its timestamp reaches the next multiple of `1 / sample_fps`, and `seq` is its index
    in the file (gaps are the frames skipped). For an image, the same read-only array is yielded at
    ts 0, 1/fps, ... while ts < `still_seconds` (at least once).

    The file is checked at call time, so a missing or unreadable file raises `VideoSourceError`
    here rather than at the first `next()`. With `prefetch` (the default) a video is decoded on a
    helper thread, started at the first `next()` and stopped when the iterator is exhausted or
    closed. `decode` is the camera's setting (auto, full, keyframes), chosen as live.
    """
    if not (math.isfinite(sample_fps) and sample_fps > 0.0):
        raise ValueError(f"sample_fps must be positive, got {sample_fps}")
    if not (math.isfinite(still_seconds) and still_seconds >= 0.0):
        raise ValueError(f"still_seconds cannot be negative, got {still_seconds}")
    info = probe(path)
    if info.is_image:
        image = _read_image(path)
        image.flags.writeable = False  # shared by every frame: a drawing on one would show on all
        return _still_frames(image, camera_id, sample_fps, still_seconds, epoch)
    mode = choose_mode(sample_fps, keyframe_interval(path), decode)
    frames = _video_frames(path, camera_id, sample_fps, info.fps, epoch, mode=mode)
    return _prefetched(frames, f"decode-{camera_id}") if prefetch else frames


def _video_frames(
    path: Path,
    camera_id: str,
    sample_fps: float,
    file_fps: float,
    epoch: float,
    *,
    mode: DecodeMode,
) -> Generator[Frame, None, None]:
    period = 1.0 / sample_fps
    step = 1.0 / file_fps if file_fps > 0.0 else 1.0 / _FALLBACK_FPS
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoSourceError(f"cannot open video file: {path}") from exc
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # a replay has the machine to itself
        keyframes = mode is DecodeMode.KEYFRAMES
        if keyframes:
            stream.codec_context.skip_frame = "NONKEY"
        due = 0.0
        index = -1
        origin: float | None = None
        ts = 0.0
        for packet in container.demux(stream):
            if keyframes and not packet.is_keyframe and packet.size > 0:
                index += 1  # `seq` stays the frame's index in the file
                continue
            for frame in packet.decode():
                index += 1
                raw = frame.time if frame.time is not None else math.nan
                if origin is None:
                    origin = raw if math.isfinite(raw) else 0.0
                else:
                    # Streams without usable timestamps report 0 or repeat: use the frame rate.
                    candidate = raw - origin
                    ts = candidate if math.isfinite(candidate) and candidate > ts else ts + step
                if ts + _TS_EPS < due:
                    continue
                yield Frame(
                    camera_id=camera_id,
                    seq=index,
                    ts=ts,
                    wall_ts=epoch + ts,
                    image=np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8),
                )
                due = (math.floor((ts + _TS_EPS) / period) + 1) * period
    finally:
        container.close()


def _prefetched(frames: Generator[Frame, None, None], thread_name: str) -> Iterator[Frame]:
    """`frames`, decoded on a helper thread up to `_PREFETCH_DEPTH` frames ahead of the consumer.

    Errors raised while decoding are re-raised here, in order, after the frames before them.
    """
    handoff: queue.Queue[object] = queue.Queue(maxsize=_PREFETCH_DEPTH)
    stop = threading.Event()
    end = object()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=_PREFETCH_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for frame in frames:
                if not offer(frame):
                    return
            offer(end)
        except Exception as exc:  # handed to the consumer, raised there
            offer(exc)
        finally:
            frames.close()  # releases the capture if the consumer stopped early

    thread = threading.Thread(target=produce, name=thread_name, daemon=True)
    thread.start()
    try:
        while True:
            try:
                item = handoff.get(timeout=_PREFETCH_POLL_S)
            except queue.Empty:
                if thread.is_alive() or not handoff.empty():
                    continue
                raise RuntimeError(f"{thread_name}: the decoding thread ended early") from None
            if item is end:
                return
            if isinstance(item, Exception):
                raise item
            assert isinstance(item, Frame)
            yield item
    finally:
        stop.set()
        if thread is not threading.current_thread():
            thread.join()


def _still_frames(
    image: Image, camera_id: str, sample_fps: float, still_seconds: float, epoch: float
) -> Iterator[Frame]:
    count = max(1, math.ceil(still_seconds * sample_fps - _TS_EPS))
    for i in range(count):
        ts = i / sample_fps
        yield Frame(camera_id=camera_id, seq=i, ts=ts, wall_ts=epoch + ts, image=image)


def _read_image(path: Path) -> Image:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise VideoSourceError(f"cannot read video or image file: {path}")
    return np.asarray(image, dtype=np.uint8)


def _image_info(image: Image) -> VideoInfo:
    return VideoInfo(
        fps=0.0,
        frame_count=1,
        duration_s=0.0,
        width=int(image.shape[1]),
        height=int(image.shape[0]),
        is_image=True,
    )


def _video_info(container: av.container.InputContainer) -> VideoInfo:
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else 0.0
    fps = fps if math.isfinite(fps) and fps > 0.0 else 0.0
    frames = int(stream.frames or 0)
    if frames <= 0 and stream.duration is not None and stream.time_base and fps > 0.0:
        frames = round(float(stream.duration * stream.time_base) * fps)
    ctx = stream.codec_context
    return VideoInfo(
        fps=fps,
        frame_count=frames,
        duration_s=frames / fps if fps > 0.0 else 0.0,
        width=int(ctx.width),
        height=int(ctx.height),
        is_image=False,
    )
