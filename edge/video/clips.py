"""Evidence clips: the packets a `PacketRing` gathered around an alert, remuxed into an MP4.

Nothing is decoded or re-encoded: the H.264 or H.265 the camera sent is put into an MP4 as
it is, so a clip costs the node a file write, not a core. Frames get evenly spaced timestamps
at the stream's frame rate (cameras send a fixed rate; the arrival times on a busy node
jitter). Clips are written by one thread (`ClipWriter`), off the capture threads, into one
directory with a byte budget: the oldest are deleted beyond `storage.clips_max_mib`, so
clips never fill the disk the outbox needs (as for snapshots).
"""

from __future__ import annotations

import io
import logging
import os
import queue
import re
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error

from edge.budget import ByteBudget
from edge.video.ring import ClipRequest

__all__ = ["ClipStore", "ClipWriter", "alert_clips_dir", "remux_clip"]

log = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")
_QUEUE_MAX = 64


def alert_clips_dir(storage: Path) -> Path:
    """Where evidence clips live (`<storage>/clips` holds the installer's uploaded clips)."""
    return storage / "alert-clips"


def remux_clip(clip: ClipRequest, path: Path) -> int:
    """Write the clip's packets to `path` as MP4; returns the frames written (0: no file)."""
    raw = clip.header + b"".join(p.data for p in clip.packets)
    if not clip.packets:
        return 0
    fps = Fraction(clip.fps).limit_denominator(1001)
    src = av.open(io.BytesIO(raw), "r", format=clip.codec, options={"framerate": str(float(fps))})
    tmp = path.with_suffix(".tmp")
    written = 0
    try:
        in_stream = src.streams.video[0]
        with av.open(str(tmp), "w", format="mp4") as out:
            stream = out.add_stream_from_template(in_stream)
            # The muxer picks its own time base when it writes the header; packets say theirs
            # and PyAV rescales.
            tick = Fraction(1) / fps
            stream.time_base = tick
            for packet in src.demux(in_stream):
                if packet.size == 0:
                    continue
                packet.stream = stream
                packet.pts = packet.dts = written
                packet.time_base = tick
                packet.duration = 1
                out.mux(packet)
                written += 1
    finally:
        src.close()
    if written == 0:
        tmp.unlink(missing_ok=True)
        return 0
    os.replace(tmp, path)  # a reader never sees half a clip
    return written


@dataclass(frozen=True, slots=True)
class SavedClip:
    clip_id: str
    path: Path
    frames: int
    bytes: int
    cut_short: bool


class ClipStore:
    """MP4 files under one directory, named by clip id (the alert id); nothing outside it."""

    def __init__(self, directory: Path, *, max_bytes: int | None = None) -> None:
        self.directory = directory
        self._budget = (
            ByteBudget(directory, ".mp4", max_bytes, "clip") if max_bytes is not None else None
        )

    @property
    def pruned(self) -> int:
        """Clips deleted to keep within the budget, since start."""
        return self._budget.pruned if self._budget is not None else 0

    def path_of(self, clip_id: str) -> Path:
        if not _SAFE_ID.match(clip_id) or ".." in clip_id:
            raise ValueError(f"not a clip id: {clip_id!r}")
        return self.directory / f"{clip_id}.mp4"

    def save(self, clip: ClipRequest) -> SavedClip | None:
        path = self.path_of(clip.clip_id)
        self.directory.mkdir(parents=True, exist_ok=True)
        frames = remux_clip(clip, path)
        if frames == 0:
            return None
        size = path.stat().st_size
        if self._budget is not None:
            self._budget.add(path, size)
        return SavedClip(clip.clip_id, path, frames, size, clip.cut_short)


class ClipWriter:
    """One thread writing finished clips; `submit` never blocks (a full queue drops the clip,
    counted and logged: a capture thread must never wait for a disk)."""

    def __init__(self, store: ClipStore) -> None:
        self.store = store
        self._queue: queue.Queue[ClipRequest | None] = queue.Queue(maxsize=_QUEUE_MAX)
        self._thread: threading.Thread | None = None
        self.written = 0
        self.failed = 0
        self.dropped = 0
        self.last: SavedClip | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="clip-writer", daemon=True)
            self._thread.start()

    def submit(self, clip: ClipRequest) -> None:
        try:
            self._queue.put_nowait(clip)
        except queue.Full:
            self.dropped += 1
            log.warning("clip %s of camera %s dropped: the clip writer is behind",
                        clip.clip_id, clip.camera_id)  # fmt: skip

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end (clips still gathering are not waited for)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout)

    def _run(self) -> None:
        while True:
            clip = self._queue.get()
            if clip is None:
                return
            try:
                saved = self.store.save(clip)
            except (OSError, ValueError, av.error.FFmpegError) as exc:
                self.failed += 1
                log.warning("clip %s of camera %s not written: %s", clip.clip_id,
                            clip.camera_id, exc)  # fmt: skip
                continue
            if saved is None:
                self.failed += 1
                continue
            self.written += 1
            self.last = saved
            log.info("clip %s of camera %s: %d frames, %d bytes%s", saved.clip_id,
                     clip.camera_id, saved.frames, saved.bytes,
                     " (cut short by a reconnect)" if saved.cut_short else "")  # fmt: skip
