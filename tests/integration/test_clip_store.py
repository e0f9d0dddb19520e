"""Evidence clips from a packet ring: what a clip holds, its byte budget, what ends it early,
and ids that could name a file elsewhere. Real H.264 (the RTSP bench's road substream) read
by the node's own reader, as fast as it decodes, on a fake clock stepped by the stream."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from edge.clock import FakeClock
from edge.video.av_reader import AvOptions, open_av_reader
from edge.video.clips import ClipStore, ClipWriter, remux_clip
from edge.video.decoding import DecodePolicy
from edge.video.ring import ClipRequest, Packet, PacketRing
from tests.integration.rtsp import ROAD_SUB, footage

pytestmark = pytest.mark.integration


def packets_of(path: Path) -> list[tuple[float, bytes, bool]]:
    """(pts, Annex B bytes, key) of every packet, through the node's reader and a ring."""
    clock = FakeClock()
    held: list[ClipRequest] = []
    ring = PacketRing("cam", held.append, pre_s=1000.0, post_s=0.0)
    reader = open_av_reader(
        str(path), DecodePolicy("cam", 0.5), clock, options=AvOptions(realtime_files=False),
        ring=ring,
    )  # fmt: skip
    while reader.read()[0]:
        pass
    reader.release()
    # The fake clock never moved: every packet has ts 0. A request "long ago" starts at the
    # first keyframe held, which is the first packet.
    assert ring.request("all", -1e9)
    ring.restart(b"", 25.0)  # ends the request: every packet the ring held
    (clip,) = held
    return [(i / 25.0, p.data, p.key) for i, p in enumerate(clip.packets)]


@pytest.fixture(scope="module")
def stream(data_dir: Path) -> list[tuple[float, bytes, bool]]:
    return packets_of(footage(ROAD_SUB))


def feed(ring: PacketRing, stream: list[tuple[float, bytes, bool]], until: float) -> None:
    for t, data, key in stream:
        if t > until:
            return
        ring.add(Packet(t, data, key))


def frames_in(path: Path) -> tuple[int, float, bool]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = list(c.decode(s))
        return len(frames), float(c.duration or 0) / av.time_base, frames[0].key_frame


def test_a_clip_starts_on_the_keyframe_before_and_ends_after(
    stream: list[tuple[float, bytes, bool]], tmp_path: Path
) -> None:
    done: list[ClipRequest] = []
    ring = PacketRing("cam", done.append, pre_s=3.0, post_s=2.0)
    feed(ring, stream, 5.5)
    assert ring.request("a1", 5.5)
    # The ring keeps pre_s plus at most one GOP (2 s), not everything since the start.
    assert ring.held_bytes < sum(len(d) for t, d, _ in stream if t <= 5.5)
    feed(ring, [s for s in stream if s[0] > 5.5], 8.0)
    (clip,) = done
    assert clip.packets[0].key and clip.packets[0].ts == pytest.approx(2.0)  # keyframe <= 2.5
    assert clip.packets[-1].ts <= 7.5 and not clip.cut_short
    assert len(clip.packets) == 138  # 2.0 .. 7.48 s at 25 fps
    frames, duration, first_key = frames_in(_written(clip, tmp_path))
    assert first_key and frames == pytest.approx(138, abs=3)
    assert duration == pytest.approx(frames / 25.0, abs=0.05)


def _written(clip: ClipRequest, tmp_path: Path) -> Path:
    path = tmp_path / f"{clip.clip_id}.mp4"
    # Packets re-cut from an MP4 file (h264_mp4toannexb) include a few without a picture; the
    # remux (FFmpeg's H.264 parser) counts pictures. From RTSP it is one packet, one picture.
    assert remux_clip(clip, path) == pytest.approx(len(clip.packets), abs=3)
    return path


def test_a_reconnect_ends_the_clip_early_and_nothing_before_a_keyframe_starts_one(
    stream: list[tuple[float, bytes, bool]],
) -> None:
    done: list[ClipRequest] = []
    ring = PacketRing("cam", done.append, pre_s=5.0, post_s=5.0)
    assert not ring.request("early", 0.0)  # nothing held yet: no clip, said so
    feed(ring, stream, 3.0)
    assert ring.request("a2", 3.0)
    ring.restart(b"", 25.0)
    assert done[0].cut_short and done[0].clip_id == "a2"
    assert (ring.requested, ring.refused) == (1, 1)


def test_the_store_keeps_its_budget_and_names_nothing_outside(
    stream: list[tuple[float, bytes, bool]], tmp_path: Path
) -> None:
    store = ClipStore(tmp_path / "clips", max_bytes=300_000)
    writer = ClipWriter(store)
    writer.start()
    for i in range(6):
        ring = PacketRing("cam", writer.submit, pre_s=2.0, post_s=2.0)
        feed(ring, stream, 4.0)
        assert ring.request(f"clip{i}", 4.0)
        feed(ring, [s for s in stream if s[0] > 4.0], 7.0)
    writer.stop()
    kept = sorted(p.name for p in (tmp_path / "clips").glob("*.mp4"))
    assert writer.written == 6 and store.pruned >= 1
    assert "clip5.mp4" in kept and "clip0.mp4" not in kept  # the oldest went first
    assert sum(p.stat().st_size for p in (tmp_path / "clips").glob("*.mp4")) <= 300_000
    for bad in ("../x", "a/b", "", ".."):
        with pytest.raises(ValueError):
            store.path_of(bad)


def test_a_full_disk_loses_the_clip_not_the_writer(
    stream: list[tuple[float, bytes, bool]], tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the clip directory should be")
    writer = ClipWriter(ClipStore(blocked))
    writer.start()
    ring = PacketRing("cam", writer.submit, pre_s=1.0, post_s=1.0)
    feed(ring, stream, 3.0)
    assert ring.request("x", 3.0)
    feed(ring, [s for s in stream if s[0] > 3.0], 5.0)
    writer.stop()
    assert (writer.written, writer.failed) == (0, 1)
