"""The last seconds of a camera's encoded stream, for the evidence clip of an alert.

Frigate's habit, which operators expect: a clip from 5 s before the alert to 5 s after. The
packets are kept as they arrived (H.264 or H.265 Annex B, nothing decoded or re-encoded), from the
keyframe at or before `pre_s` ago, since a clip can only start on a keyframe. An alert asks
for a clip (`request`); the packets already held are copied into it at once and every packet
that arrives until `post_s` after the alert is appended, so the ring itself never holds more
than `pre_s` plus one GOP. A finished clip is handed to `on_done` (the clip writer's queue),
on the capture thread, so it must not block.

A new connection (a reconnect, another resolution) ends the clips in progress early: one MP4
holds one stream, and a camera that restarts has a gap anyway.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["ClipRequest", "Packet", "PacketRing"]

# A camera streaming 4 Mbit/s holds about 4 MB here with the defaults; this bounds a runaway
# (a misreported bitrate, a 4K stream) per camera.
_MAX_RING_BYTES = 32 * 2**20


@dataclass(frozen=True, slots=True)
class Packet:
    ts: float  # arrival, on the capture clock's monotonic scale
    data: bytes  # H.264 or H.265 Annex B
    key: bool


@dataclass(slots=True)
class ClipRequest:
    """A clip being gathered: `packets` from a keyframe, until `end` (monotonic)."""

    clip_id: str
    camera_id: str
    at: float
    end: float
    header: bytes  # the stream's parameter sets, Annex B (a clip must be decodable on its own)
    fps: float
    packets: list[Packet] = field(default_factory=list)
    cut_short: bool = False
    codec: str = "h264"  # FFmpeg's name of the raw stream: h264 or hevc


class PacketRing:
    """Thread-safe: the capture thread adds, the alert listener requests."""

    def __init__(
        self,
        camera_id: str,
        on_done: Callable[[ClipRequest], None],
        *,
        pre_s: float = 5.0,
        post_s: float = 5.0,
        max_bytes: int = _MAX_RING_BYTES,
    ) -> None:
        if pre_s < 0.0 or post_s < 0.0:
            raise ValueError("clip pre_s and post_s cannot be negative")
        self.camera_id = camera_id
        self.pre_s = pre_s
        self.post_s = post_s
        self._on_done = on_done
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._packets: deque[Packet] = deque()
        self._bytes = 0
        self._header = b""
        self._fps = 25.0
        self._codec = "h264"
        self._pending: list[ClipRequest] = []
        self.requested = 0
        self.refused = 0

    def restart(self, header: bytes, fps: float, codec: str = "h264") -> None:
        """A new connection: its parameter sets, frame rate and codec (`h264` or `hevc`);
        clips in progress end here."""
        with self._lock:
            self._codec = codec
            done, self._pending = self._pending, []
            self._packets.clear()
            self._bytes = 0
            self._header = header
            self._fps = fps if 0.0 < fps <= 240.0 else 25.0
        for clip in done:
            clip.cut_short = True
            self._on_done(clip)

    def add(self, packet: Packet) -> None:
        done: list[ClipRequest] = []
        with self._lock:
            self._packets.append(packet)
            self._bytes += len(packet.data)
            self._trim(packet.ts)
            still: list[ClipRequest] = []
            for clip in self._pending:
                if packet.ts > clip.end:
                    done.append(clip)
                else:
                    clip.packets.append(packet)
                    still.append(clip)
            self._pending = still
        for clip in done:
            self._on_done(clip)

    def _trim(self, now: float) -> None:
        """Drop whole GOPs while the next keyframe is still at least `pre_s` old."""
        horizon = now - self.pre_s
        packets = self._packets
        while True:
            second_key = next((i for i, p in enumerate(packets) if i > 0 and p.key), None)
            too_big = self._bytes > self._max_bytes
            if second_key is None or (packets[second_key].ts > horizon and not too_big):
                break
            for _ in range(second_key):
                self._bytes -= len(packets.popleft().data)
        # Nothing before the first keyframe can start a clip.
        while packets and not packets[0].key:
            self._bytes -= len(packets.popleft().data)

    def request(self, clip_id: str, at: float) -> bool:
        """Gather a clip around `at` (monotonic). False when nothing is held yet (no keyframe
        received since the camera connected): the clip is not made."""
        with self._lock:
            since = at - self.pre_s
            start = next((p for p in reversed(self._packets) if p.key and p.ts <= since), None)
            first = start or next((p for p in self._packets if p.key), None)
            if first is None:
                self.refused += 1
                return False
            held = list(self._packets)
            packets = held[held.index(first) :]
            self._pending.append(
                ClipRequest(clip_id, self.camera_id, at, at + self.post_s, self._header,
                            self._fps, packets, codec=self._codec)
            )  # fmt: skip
            self.requested += 1
            return True

    @property
    def held_bytes(self) -> int:
        with self._lock:
            return self._bytes
