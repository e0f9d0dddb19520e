"""Figure 7: memory, resident set size of the node with 1, 4 and 8 cameras.

Each measurement is a fresh process running the real node as `edge run` builds it
(`edge.app.Node`: real capture threads decoding the shared clips at their own frame rate and
looping, the detection worker, rules, alert manager, outbox, publisher, MQTT link) against a
real Mosquitto. Cameras alternate between the car-park time-lapse (640x480, 20 fps) and the
road clip (1280x720, 30 fps), as gated parking cameras at 2 detections/s. After a warm-up the
process samples its own RSS (`VmRSS`) every 0.5 s; the figure is the median of those samples,
with the peak (`VmHWM`) beside it.

    .venv/bin/python -m bench.memory [--rounds 3] [--cameras 1 4 8]

With `--rtsp keyframes` (or `full`) the cameras read 1080p H.264 over RTSP from the loopback
RTSP bench instead (`bench.rtsp`, the time-lapse at 3 Mbit/s, GOP 2 s) as parking cameras at
0.5 detections/s with that decoding, evidence clips on: what a camera costs on a real node,
its packet ring (5 s of stream) included.

    .venv/bin/python -m bench.memory --rtsp keyframes --cameras 1 8 16
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import (
    DEFAULT_MODEL,
    LOT_CLIP,
    MODELS,
    REPO,
    ROAD_CLIP,
    Report,
    Stats,
    command_line,
    data_dir,
    parser,
    settle,
)
from bench.harness import mosquitto, workspace
from bench.rtsp.bench import RtspBench
from bench.rtsp.footage import encode, recipes
from bench.sites import LOT_BAYS, ROAD_LANES, camera, parking_zone, write_site

KEY = "memory"


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(config: Path, warmup: float, sample: float) -> dict[str, Any]:
    """Runs in the measured process: start the node, wait, sample RSS, stop."""
    from edge.app import Node  # noqa: PLC0415 (imported here: the parent needs none of it)
    from edge.clock import SystemClock  # noqa: PLC0415
    from edge.config.loader import load_config  # noqa: PLC0415

    site = load_config(config)
    node = Node(site, SystemClock())
    loaded = status_kib("VmRSS")
    node.start()
    time.sleep(warmup)
    samples = []
    end = time.monotonic() + sample
    while time.monotonic() < end:
        samples.append(status_kib("VmRSS"))
        time.sleep(0.5)
    frames = sum(r.pipeline.stats.frames for r in node.cameras.runtimes)
    node.stop(drain_timeout_s=0.5)
    return {
        "rss_loaded_mib": loaded / 1024,
        "rss_mib": statistics.median(samples) / 1024,
        "hwm_mib": status_kib("VmHWM") / 1024,
        "frames_judged": frames,
    }


def site_for(  # noqa: PLR0917
    work: Path,
    n: int,
    broker_url: str,
    model: str,
    lanes: int = 1,
    rtsp: tuple[str, str] | None = None,
) -> Path:
    """`rtsp`: (URL, decode mode) every camera reads, else the shared clips as files."""
    cams = []
    for i in range(n):
        rel, polygon = (LOT_CLIP, LOT_BAYS) if i % 2 == 0 else (ROAD_CLIP, ROAD_LANES)
        zone = parking_zone(polygon, scale=40.0)
        if rtsp is not None:
            spec = camera(f"cam{i}", rtsp[0], [zone], detect_fps=0.5)
            spec["decode"] = rtsp[1]
            cams.append(spec)
            continue
        cams.append(camera(f"cam{i}", str(data_dir() / rel), [zone], detect_fps=2.0))
    site = write_site(work / f"n{n}", cams, model=model, broker_url=broker_url, lanes=lanes)
    return site.path


def measure(config: Path, warmup: float, sample: float) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.memory", "--child", str(config),
         "--warmup", str(warmup), "--sample", str(sample), "--doc", "-"],
        capture_output=True, text=True, cwd=REPO, check=False, timeout=warmup + sample + 120,
    )  # fmt: skip
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"memory child failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("bench.memory", __doc__ or "")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--cameras", type=int, nargs="+", default=[1, 4, 8])
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--warmup", type=float, default=20.0)
    p.add_argument("--sample", type=float, default=10.0)
    p.add_argument("--lanes", type=int, default=1, help="models.lanes of the measured node")
    p.add_argument("--rtsp", choices=["full", "keyframes"], help="cameras over RTSP, this decoding")
    p.add_argument("--child", help=argparse_hidden())
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(Path(args.child), args.warmup, args.sample)), flush=True)
        return 0
    if args.quick:
        args.rounds, args.cameras, args.warmup, args.sample = 1, [1], 2.0, 1.0
        args.model = "yolo11n_int8.onnx"
    key, title = KEY, "memory (RSS)"
    if args.lanes > 1:
        key, title = f"{KEY}_lanes{args.lanes}", f"{title}, {args.lanes} detection lanes"
    if args.rtsp:
        key, title = f"{key}_rtsp_{args.rtsp}", f"{title}, 1080p RTSP cameras, {args.rtsp} decoding"
    report = Report(key, title, command_line("bench.memory", argv or []))
    results: dict[int, list[dict[str, Any]]] = {n: [] for n in args.cameras}
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(workspace("bench-mem-"))
        broker = stack.enter_context(mosquitto(work))
        rtsp = None
        if args.rtsp:
            lot = encode(recipes()["lot-1920x1080-g50-3000k"])
            bench = stack.enter_context(RtspBench({"lot": lot}))
            rtsp = (bench.url("lot"), args.rtsp)
        configs = {
            n: site_for(work, n, broker.url, args.model, args.lanes, rtsp) for n in args.cameras
        }
        for _ in range(args.rounds):
            for n in args.cameras:
                settle(args)
                r = measure(configs[n], args.warmup, args.sample)
                print(f"  {n} cameras: {r}", flush=True)
                results[n].append(r)
    rows = []
    first = args.cameras[0]
    base = Stats.of(r["rss_mib"] for r in results[first]).median
    for n in args.cameras:
        rss = Stats.of(r["rss_mib"] for r in results[n])
        extra = f"{(rss.median - base) / (n - first):.0f}" if n != first else ""
        rows.append(
            [
                n,
                rss.fmt(1, 0),
                Stats.of(r["hwm_mib"] for r in results[n]).fmt(1, 0),
                Stats.of(r["rss_loaded_mib"] for r in results[n]).fmt(1, 0),
                extra,
            ]
        )
    report.add(
        f"Model {MODELS.get(args.model, args.model)}, `models.threads: 1`; {args.rounds} rounds, "
        f"a fresh process each; {args.warmup:g} s warm-up, then RSS sampled for {args.sample:g} s. "
        "MiB, median (min-max) over rounds.",
        "",
    )
    report.table(
        ["cameras", "RSS running", "peak RSS (VmHWM)", "RSS after building, before start",
         f"MiB per extra camera (vs {args.cameras[0]})"],
        rows,
    )  # fmt: skip
    report.publish(args.doc, {str(k): v for k, v in results.items()}, args.json)
    return 0


def argparse_hidden() -> str:
    import argparse  # noqa: PLC0415

    return argparse.SUPPRESS


if __name__ == "__main__":
    raise SystemExit(main())
