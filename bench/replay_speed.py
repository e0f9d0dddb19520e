"""Figure 5: replay speed, video seconds per wall second of `edge replay` at 2 detections/s.

`edge.replay.replay` (what `edge replay` runs after loading the config) on three sources, each
with a parking zone and `detect_fps: 2`:

- `lot`: the car-park time-lapse as recorded (8.1 s, 640x480, 20 fps): a day in 8 s, so every
  sample shows a different picture and the motion gate can skip nothing;
- `road`: the road clip (8.9 s, 1280x720, 30 fps): cars moving all the time;
- `car park, real pace`: 120 s of the time-lapse slowed 40x (`bench.streams.SlowedClip`),
  written as a 25 fps MP4 (3,000 frames): a picture change every ~5 s, three cars parking
  in the watched bays, each raising one alert (zone timings scaled 40x as in bench.capacity).

The motion gate is on (the default for a parking camera) and, for comparison, off. Variants:
`decode inline` decodes between detections on the replay thread (before this benchmark);
`as shipped` is the current `iter_file_frames`. The physical limit is the speed the replay
would reach if nothing but `session.run` took time: video seconds / (model runs x median
`session.run` time measured in the same round).

Finally the real command line runs once per source (`edge replay ...` as a subprocess), to
show the speed it prints and the wall time including start-up and model loading.

    .venv/bin/python -m bench.replay_speed [--rounds 3] [--threads 1 2]
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from bench.common import (
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
from bench.efficiency import VARIANTS
from bench.harness import workspace
from bench.sites import LOT_BAYS, ROAD_LANES, camera, parking_zone, write_site
from bench.streams import SlowedClip
from edge.config.loader import SiteConfig
from edge.detect.onnx_yolo import OnnxYoloDetector
from edge.detect.preprocess import letterbox
from edge.parts import build_detector
from edge.replay import replay

KEY = "replay_speed"
EPOCH = 1_767_225_600.0
GOAL = 20.0
DETECT_FPS = 2.0
PACE_START_S, PACE_LENGTH_S, PACE_FPS = 80.0, 120.0, 25.0
SCALE = 40.0


@dataclass
class Source:
    name: str
    path: Path
    polygon: list[list[float]]
    scale: float


@dataclass
class Row:
    source: Source
    model: str
    threads: int
    gated: bool
    variant: str
    site: SiteConfig
    detector: OnnxYoloDetector
    speed: list[float] = field(default_factory=list)
    limit: list[float] = field(default_factory=list)
    detections: int = 0
    frames: int = 0
    events: int = 0


def write_paced_clip(path: Path, quick: bool) -> Path:
    stream = SlowedClip(SCALE)
    length = 10.0 if quick else PACE_LENGTH_S
    first = stream.image_at(PACE_START_S)
    height, width = first.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), PACE_FPS, (width, height))
    try:
        for k in range(int(length * PACE_FPS)):
            writer.write(stream.image_at(PACE_START_S + k / PACE_FPS))
    finally:
        writer.release()
    return path


def session_time(det: OnnxYoloDetector, runs: int = 10) -> float:
    tensor = letterbox(stream_image(), det.input_size).tensor
    feed = {det.input_name: tensor}
    det.session.run(None, feed)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        det.session.run(None, feed)
        times.append(time.perf_counter() - t)
    return float(Stats.of(times).median)


def stream_image() -> Any:
    return SlowedClip(SCALE).image_at(PACE_START_S + 40.0)


def run_once(row: Row, work: Path) -> None:
    with VARIANTS[row.variant]():
        result = replay(
            row.site,
            "cam",
            row.source.path,
            io.StringIO(),
            snapshots_dir=work / "snapshots",
            detector=row.detector,
            epoch=EPOCH,
        )
    # Video duration: the last sample's time plus one sample period.
    video_s = result.video_s + 1.0 / DETECT_FPS
    row.speed.append(video_s / result.wall_s)
    raw = session_time(row.detector, 5)
    row.limit.append(video_s / max(result.detections_run * raw, 1e-9))
    row.detections, row.frames, row.events = result.detections_run, result.frames, result.events


def cli_run(site: SiteConfig, source: Source) -> str:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "edge", "replay", "--config", str(site.path), "--camera", "cam",
         "--source", str(source.path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    line = next(
        (ln for ln in proc.stderr.splitlines() if ln.startswith("replayed")), proc.stderr[-300:]
    )
    match = re.search(r"\(([\d.]+)x\)", line)
    speed = match.group(1) + "x" if match else "?"
    return f"`{source.name}`: prints {speed} ({line.strip()}); whole process {wall:.1f} s"


def build_rows(
    work: Path, models: Sequence[str], threads_list: Sequence[int], sources: Sequence[Source]
) -> list[Row]:
    rows: list[Row] = []
    for model in models:
        for threads in threads_list:
            for source in sources:
                for gated in (True, False):
                    zone = parking_zone(source.polygon, scale=source.scale)
                    cam = camera(
                        "cam", str(source.path), [zone], detect_fps=DETECT_FPS, motion_gate=gated
                    )
                    site = write_site(
                        work / f"site-{len(rows)}", [cam], model=model, threads=threads
                    )
                    det = build_detector(site)
                    for variant in list(VARIANTS) if gated else ["as shipped"]:
                        rows.append(Row(source, model, threads, gated, variant, site, det))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("bench.replay_speed", __doc__ or "")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.models, args.threads = 1, ["yolo11n_int8.onnx"], [1]
    report = Report(
        KEY, "replay speed at 2 detections/s", command_line("bench.replay_speed", argv or [])
    )
    raw: dict[str, Any] = {}
    with workspace("bench-replay-") as work:
        paced = write_paced_clip(work / "car_park_real_pace.mp4", args.quick)
        sources = [
            Source("lot", data_dir() / LOT_CLIP, LOT_BAYS, 1.0),
            Source("road", data_dir() / ROAD_CLIP, ROAD_LANES, 1.0),
            Source("car park, real pace", paced, LOT_BAYS, SCALE),
        ]
        if args.quick:
            sources = sources[::2]
        rows = build_rows(work, args.models, args.threads, sources)
        for _ in range(args.rounds):
            settle(args)
            for row in rows:
                run_once(row, work)
        table = []
        for row in rows:
            speed = Stats.of(row.speed)
            table.append(
                [
                    MODELS.get(row.model, row.model),
                    row.threads,
                    row.source.name,
                    "on" if row.gated else "off",
                    row.variant,
                    f"{row.detections}/{row.frames}",
                    row.events,
                    speed.fmt(1, 1, "x"),
                    Stats.of(row.limit).fmt(1, 1, "x"),
                    "met" if speed.median >= GOAL else "missed",
                ]
            )
            raw[f"{row.model}/{row.threads}/{row.source.name}/{row.gated}/{row.variant}"] = {
                "speed": speed.as_dict(),
                "limit": Stats.of(row.limit).as_dict(),
            }
        shipped = [r for r in rows if r.variant == "as shipped" and r.gated]
        first = {r.source.name: r for r in reversed(shipped)}
        cli_lines = [cli_run(r.site, r.source) for r in first.values()]
    report.add(
        f"{args.rounds} rounds, interleaved. Speed = video seconds / wall seconds of "
        "`replay()` (median (min-max) over rounds); model runs / samples = how many of the "
        "sampled frames the model ran on; events = alert events printed. Goal: >= 20x.",
        "",
    )
    report.table(
        ["model", "threads", "source", "gate", "variant", "model runs / samples", "events",
         "speed", "physical limit", "goal >= 20x"],
        table,
    )  # fmt: skip
    report.add("The command line, once per source (gate on, as shipped, first model/threads):", "")
    report.add(*(f"- {line}" for line in cli_lines), "")
    report.publish(args.doc, raw, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
