"""Reading a camera with PyAV (FFmpeg): packets first, then only the decoding the rule needs.

OpenCV's capture decodes every frame before it hands one over; with PyAV the packets come
first, so a camera in keyframe mode sends its keyframes alone to the decoder (and the
decoder's `skip_frame = NONKEY` makes sure of it), and a camera decoding every frame converts
to a BGR picture only the frames its `detect_fps` will use. Every packet, decoded or not, goes
to the camera's `PacketRing` for evidence clips.

A network stream is read over RTSP/TCP (interleaved: no lost UDP packets on a busy node), with
open and read timeouts, so a camera that stops sending is noticed in `read_timeout_s` instead
of FFmpeg's default of never. A file (demos) is paced at its own timestamps and ends at EOF,
which `CameraCapture` turns into a loop.

Corrupt packets are counted and skipped (FFmpeg conceals what it can); only a long run of
them, or the stream ending, makes `read` fail, and the capture thread reconnects.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import av
import av.container
import av.error
import av.video
import numpy as np
from av.bitstream import BitStreamFilterContext

from edge.clock import Clock
from edge.messages import Image
from edge.video.decoding import DecodeBudget, DecodeMode, DecodePolicy
from edge.video.ring import Packet, PacketRing
from edge.video.source import SourceKind, VideoSourceError, parse_source

__all__ = ["AvOptions", "AvReader", "open_av_reader"]

log = logging.getLogger(__name__)

_START_CODES = (b"\x00\x00\x00\x01", b"\x00\x00\x01")
# The codecs a clip can be remuxed from (FFmpeg's names), each with the filter that turns an
# MP4 file's length-prefixed NAL units into the start codes a raw stream has.
_ANNEXB_FILTERS = {"h264": "h264_mp4toannexb", "hevc": "hevc_mp4toannexb"}
# Consecutive packets the decoder refuses before the stream counts as broken (10 s at 25 fps).
_MAX_BAD_PACKETS = 250


class _SwitchStreamError(VideoSourceError):
    """The policy wants the camera's other stream: this connection ends, the next opens it."""

    planned = True  # CameraCapture reconnects at once, without an error

    def __init__(self, which: str) -> None:
        super().__init__(f"switching to {which}")


@dataclass(frozen=True, slots=True)
class AvOptions:
    open_timeout_s: float = 10.0
    read_timeout_s: float = 10.0
    rtsp_transport: str = "tcp"
    realtime_files: bool = True


class AvReader:
    """A `VideoReader` (`edge.video.capture`) over one opened PyAV container."""

    paces_itself = True

    def __init__(
        self,
        container: av.container.InputContainer,
        policy: DecodePolicy,
        clock: Clock,
        *,
        live: bool,
        realtime: bool,
        ring: PacketRing | None = None,
        budget: DecodeBudget | None = None,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        self._container = container
        self._stream = container.streams.video[0]
        self._ctx = self._stream.codec_context
        # One thread per decoder; the node bounds the total with `budget`, not FFmpeg.
        self._ctx.thread_count = 1
        self._policy = policy
        self._clock = clock
        self._live = live
        self._realtime = realtime
        # Clips remux H.264 and H.265 as sent; another codec (MJPEG, MPEG-4 part 2 files) has
        # no clip.
        self._ring = ring if self._ctx.name in _ANNEXB_FILTERS else None
        self._budget = budget
        self._wait = wait
        self._packets: Iterator[av.Packet[Any]] = container.demux(self._stream)
        self._mode: DecodeMode | None = None
        self._due = -math.inf
        self._anchor: float | None = None  # min(arrival - pts) seen: the stream's own pace
        self._last_offset: tuple[float, float] | None = None  # (arrival, arrival - pts)
        self._pace0: tuple[float, float] | None = None  # (monotonic, pts) of a file's start
        self._bad = 0
        self._bsf: Any = None
        self._stopped = False
        self._last_pts = 0.0
        self._substream: bool | None = None
        policy.restart()
        if self._ring is not None:
            self._ring.restart(self._header(), self._rate(), self._ctx.name)

    def fps(self) -> float:
        return 0.0  # paced here, by timestamps

    def bind_wait(self, wait: Callable[[float], bool]) -> None:
        """The capture's interruptible wait, for pacing a file (True: stop requested)."""
        self._wait = wait

    def reads_substream(self, substream: bool) -> None:
        """Which of the camera's streams this is; `read` ends the connection when the policy
        wants the other one (every frame needed: the substream; keyframes: the main stream)."""
        self._substream = substream

    def _rate(self) -> float:
        rate = self._stream.average_rate or self._stream.guessed_rate
        return float(rate) if rate else 25.0

    def _header(self) -> bytes:
        extradata = self._ctx.extradata or b""
        return extradata if extradata.startswith(_START_CODES) else b""

    @property
    def mode(self) -> DecodeMode:
        return self._mode or self._policy.mode(self._clock.monotonic())

    def read(self) -> tuple[bool, Image | None]:
        """The next frame the camera's rule will use; (False, None) at the end of a file."""
        for packet in self._packets:
            image = self._handle(packet)
            if image is not None:
                return True, image
            if self._stopped:
                return False, None
        self._hold_last_frame()
        return False, None

    def _hold_last_frame(self) -> None:
        """At the end of a file, show its last frame for one frame period before the loop
        starts again: a one-picture file (a still) must not be reopened as fast as it can."""
        if self._live or not self._realtime or self._wait is None or self._pace0 is None:
            return
        start, pts0 = self._pace0
        due = start + (self._last_pts - pts0) + 1.0 / self._rate()
        delay = due - self._clock.monotonic()
        if delay > 0.0:
            self._wait(delay)

    def _handle(self, packet: av.Packet[Any]) -> Image | None:
        if packet.size == 0:
            return None
        now = self._clock.monotonic()
        # RTSP's first packet often has no timestamp yet (before the first RTCP report).
        pts = float(packet.pts * packet.time_base) if packet.pts is not None else None
        key = bool(packet.is_keyframe)
        if key and pts is not None:
            self._policy.keyframe(pts)
        if self._ring is not None:
            self._ring.add(Packet(now, self._annexb(packet), key))
        self._set_mode(self._policy.mode(now))
        lag = self._lag(now, pts) if self._live and pts is not None else 0.0
        if self._live:
            self._policy.lag(lag, now)
        if self._substream is not None and key and self._policy.use_substream() != self._substream:
            raise _SwitchStreamError("the substream" if not self._substream else "the main stream")
        if self._mode is DecodeMode.KEYFRAMES and not key:
            # Skipped undecoded: a capture behind its stream catches up at once. Keyframes are
            # always decoded: whatever the lag estimate says, the camera keeps being judged.
            return None
        if pts is not None:
            self._last_pts = pts
        if pts is not None and self._pace(now, pts):
            self._stopped = True
            return None
        frames = self._decode(packet)
        self._policy.decoded(len(frames))
        for frame in frames:
            image = self._picture(frame)
            if image is not None:
                return image
        return None

    def _set_mode(self, mode: DecodeMode) -> None:
        if mode is self._mode:
            return
        if self._policy.announce(mode):
            what = "keyframes only" if mode is DecodeMode.KEYFRAMES else "every frame"
            log.info("camera %s: decoding %s", self._policy.camera_id, what)
        self._mode = mode
        self._ctx.skip_frame = "NONKEY" if mode is DecodeMode.KEYFRAMES else "DEFAULT"
        self._due = -math.inf
        # A new baseline: a backlog builds up again if it is real, an offset in the stream's
        # timestamps does not degrade the camera a second time.
        self._anchor = None
        self._last_offset = None

    def _lag(self, now: float, pts: float) -> float:
        """How far this packet arrives behind the stream's own pace: 0 while the capture keeps
        up, growing while it waits for the decoder (the socket buffers the rest).

        A backlog grows at most as fast as the wall clock between two packets; a larger step
        is the stream's timestamps jumping (FFmpeg aligning RTSP time to the first RTCP
        report, a camera restarting its clock), which is no lag: the anchor follows it.
        """
        offset = now - pts
        last = self._last_offset
        self._last_offset = (now, offset)
        if self._anchor is None or offset < self._anchor:
            self._anchor = offset  # the first packet, or one ahead of all before (a burst)
        elif last is not None and offset - last[1] > (now - last[0]) + 0.5:
            self._anchor += offset - last[1]  # timestamps jumped back
        return max(0.0, offset - self._anchor)

    def _pace(self, now: float, pts: float) -> bool:
        """Hold a file to its timestamps, as a camera would deliver it; True if stopped."""
        if self._live or not self._realtime or self._wait is None:
            return False
        if self._pace0 is None or pts < self._pace0[1]:
            self._pace0 = (now, pts)
        delay = self._pace0[0] + (pts - self._pace0[1]) - now
        return delay > 0.0 and self._wait(delay)

    def _decode(self, packet: av.Packet[Any]) -> list[av.VideoFrame]:
        try:
            if self._budget is None:
                frames = self._ctx.decode(packet)
            else:
                with self._budget:
                    frames = self._ctx.decode(packet)
        except av.error.FFmpegError as exc:
            self._bad += 1
            self._policy.error()
            if self._bad >= _MAX_BAD_PACKETS:
                raise VideoSourceError(f"{self._bad} undecodable packets in a row: {exc}") from exc
            return []
        self._bad = 0
        out = [f for f in frames if isinstance(f, av.VideoFrame)]
        for frame in out:
            if frame.is_corrupt:  # decoded with concealed errors: used, but counted
                self._policy.error()
        return out

    def _picture(self, frame: av.VideoFrame) -> Image | None:
        """The frame as BGR if the rule will look at it: every keyframe in keyframe mode, the
        frames on the camera's `detect_fps` grid (by their timestamps) when decoding all."""
        if self._mode is DecodeMode.FULL:
            ts = frame.time if frame.time is not None else None
            if ts is not None and math.isfinite(self._policy.period):
                period = self._policy.period
                if ts + 1e-6 < self._due:
                    return None
                self._due = (math.floor((ts + 1e-6) / period) + 1) * period
        return np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)

    def _annexb(self, packet: av.Packet[Any]) -> bytes:
        data = bytes(packet)
        if data.startswith(_START_CODES):
            return data
        # MP4 files (demos) store length-prefixed NAL units; a clip wants start codes. The filter
        # takes the packet it is given, so it gets a copy: the original is still to be decoded.
        if self._bsf is None:
            self._bsf = BitStreamFilterContext(_ANNEXB_FILTERS[self._ctx.name], self._stream)
        copy = av.Packet(data)
        copy.pts, copy.dts, copy.time_base = packet.pts, packet.dts, packet.time_base
        return b"".join(bytes(p) for p in self._bsf.filter(copy))

    def release(self) -> None:
        self._container.close()


def open_av_reader(
    source: str,
    policy: DecodePolicy,
    clock: Clock,
    *,
    options: AvOptions | None = None,
    ring: PacketRing | None = None,
    budget: DecodeBudget | None = None,
    wait: Callable[[float], bool] | None = None,
) -> AvReader:
    """Open a stream or a file; raises `VideoSourceError` (source masked) on failure."""
    opts = options or AvOptions()
    parsed = parse_source(source)
    if parsed.kind is SourceKind.DEVICE:
        raise VideoSourceError(f"{parsed.display}: devices are read with OpenCV, not PyAV")
    live = parsed.kind is SourceKind.STREAM
    av_opts: dict[str, str] = {}
    target = str(parsed.target)
    if live and target.lower().startswith(("rtsp://", "rtsps://")):
        av_opts["rtsp_transport"] = opts.rtsp_transport
    if live:
        # Socket I/O timeout, microseconds; the interrupt timeout below covers the rest.
        av_opts["timeout"] = str(round(opts.read_timeout_s * 1e6))
    try:
        container = av.open(
            target, "r", options=av_opts, timeout=(opts.open_timeout_s, opts.read_timeout_s)
        )
    except (av.error.FFmpegError, OSError) as exc:
        why = type(exc).__name__
        raise VideoSourceError(f"cannot open video source {parsed.display}: {why}") from exc
    if not container.streams.video:
        container.close()
        raise VideoSourceError(f"no video stream in {parsed.display}")
    return AvReader(
        container, policy, clock, live=live, realtime=opts.realtime_files and not live,
        ring=ring, budget=budget, wait=wait,
    )  # fmt: skip


def camera_opener(
    main: str,
    substream: str | None,
    policy: DecodePolicy,
    clock: Clock,
    *,
    options: AvOptions | None = None,
    ring: PacketRing | None = None,
    budget: DecodeBudget | None = None,
) -> Callable[[str], AvReader]:
    """The opener a camera's `CameraCapture` calls on every (re)connection: the substream
    when every frame must be decoded and the camera has one, else the main stream."""

    def open_camera(_source: str) -> AvReader:
        sub = substream is not None and policy.use_substream()
        url = substream if sub and substream is not None else main
        reader = open_av_reader(url, policy, clock, options=options, ring=ring, budget=budget)
        policy.reading(substream=sub)
        if substream is not None:
            reader.reads_substream(sub)
        return reader

    return open_camera
