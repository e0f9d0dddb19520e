"""Figure 9a: decoder CPU per camera stream, by decoding mode and resolution.

Each stream is a camera-like H.264 file of the RTSP bench (`bench.rtsp.footage`: x264 main
profile, GOP 2 s at 25 fps, constant bitrate, sensor noise): the car-park time-lapse slowed 40x
(a still scene, as most parking cameras see) and the road clip (traffic, motion everywhere), each
as a 1080p main stream (3 Mbit/s) and a 640x360 substream (512 kbit/s). The CPU time of this
process (user + system) is measured while one stream is read in each way, one thread:

- `opencv`: `cv2.VideoCapture.read()` of every frame (decoded and converted to BGR), what the
  node's capture did before;
- `full`: PyAV, every frame decoded, none converted (the node converts only the frames its
  detect_fps uses: add `full + BGR` for those);
- `full + BGR 5 fps`: the above, plus the BGR conversion of 5 frames a second (a lift);
- `keyframes`: PyAV, keyframe packets alone given to the decoder (`skip_frame = NONKEY`), each
  converted to BGR (what a parking camera at detect_fps <= its keyframe rate costs).

The figure is CPU seconds per second of video, in percent of one core: what one camera stream
costs the node at real time. CPU time, not wall time, so other processes on the machine slow
it less than they slow wall-clock figures (caches and memory bandwidth are still shared).

    .venv/bin/python -m bench.decode [--rounds 3] [--seconds 60]
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import av
import cv2

from bench.common import Report, Stats, command_line, parser, settle
from bench.rtsp.footage import encode, recipes

KEY = "decode"
STREAMS = (
    "lot-1920x1080-g50-3000k",
    "lot-640x360-g50-512k",
    "road-1920x1080-g50-3000k",
    "road-640x360-g50-512k",
)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def opencv(path: Path, seconds: float) -> float:
    """Video seconds read; every frame decoded and converted."""
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_N_THREADS, 1)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = 0
    try:
        while frames < seconds * fps:
            ok, _ = cap.read()
            if not ok:
                break
            frames += 1
    finally:
        cap.release()
    return frames / fps


def pyav(path: Path, seconds: float, *, keyframes: bool, bgr_fps: float) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        ctx.thread_count = 1
        if keyframes:
            ctx.skip_frame = "NONKEY"
        due = 0.0
        last = 0.0
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            t = float(packet.pts * packet.time_base)
            if t >= seconds:
                break
            last = t
            if keyframes and not packet.is_keyframe:
                continue
            for frame in ctx.decode(packet):
                ft = frame.time or 0.0
                if keyframes or (bgr_fps > 0.0 and ft + 1e-6 >= due):
                    frame.to_ndarray(format="bgr24")
                    if bgr_fps > 0.0:
                        due = (math.floor(ft * bgr_fps + 1e-6) + 1) / bgr_fps
        return last + 1.0 / 25.0


WAYS: dict[str, Callable[[Path, float], float]] = {
    "opencv": opencv,
    "full": lambda p, s: pyav(p, s, keyframes=False, bgr_fps=0.0),
    "full + BGR 5 fps": lambda p, s: pyav(p, s, keyframes=False, bgr_fps=5.0),
    "keyframes": lambda p, s: pyav(p, s, keyframes=True, bgr_fps=0.0),
}


def measure(way: str, path: Path, seconds: float) -> float:
    """Percent of one core for one stream at real time."""
    cpu0, wall0 = _cpu(), time.perf_counter()
    video = WAYS[way](path, seconds)
    cpu = _cpu() - cpu0
    _ = time.perf_counter() - wall0
    return 100.0 * cpu / video


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("bench.decode", __doc__ or "")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=60.0, help="video seconds per measurement")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds = 1, 4.0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cv2.setNumThreads(1)
    report = Report(KEY, "decoder CPU per camera stream", command_line("bench.decode", argv or []))
    files = {name: encode(recipes()[name]) for name in STREAMS}
    results: dict[str, dict[str, list[float]]] = {n: {w: [] for w in WAYS} for n in STREAMS}
    for _ in range(args.rounds):
        settle(args)
        for name, path in files.items():
            for way in WAYS:
                value = measure(way, path, args.seconds)
                results[name][way].append(value)
                print(f"  {name} {way}: {value:.2f} % of a core", flush=True)
    rows: list[list[object]] = []
    for name in STREAMS:
        r = results[name]
        full = Stats.of(r["full"]).median
        kf = Stats.of(r["keyframes"]).median
        rows.append([
            name, *(Stats.of(r[w]).fmt(1, 1) for w in WAYS),
            f"{full / kf:.0f}x" if kf > 0 else "n/a",
        ])  # fmt: skip
    report.add(
        f"{args.rounds} rounds of {args.seconds:g} s of video per stream and way, one thread; "
        "percent of one core a stream costs at real time (CPU seconds per video second), "
        "median (min-max). Streams: `bench.rtsp.footage` (H.264 main profile, GOP 50 at 25 fps, "
        "CBR, sensor noise); `lot` is the still car park, `road` moving traffic.",
        "",
    )
    report.table(["stream", *WAYS, "full / keyframes"], rows)
    raw: dict[str, Any] = {"results": results, "seconds": args.seconds}
    report.publish(args.doc, raw, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
