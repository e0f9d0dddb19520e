"""Figure 2: pipeline efficiency, whole-pipeline frame rate over raw inference rate, same run.

The pipeline is `edge.replay.replay` (the code behind `edge replay`) on a shared clip with the
motion gate off and `detect_fps` at the clip's own frame rate, so every frame is decoded,
letterboxed, run through the model, decoded and NMSed, tracked, judged by the zone rule and
handed to the alert manager, one after another on one thread. The raw rate is `session.run`
alone on the same detector's session, timed in two halves bracketing each replay, so both see
the same machine load. Efficiency = pipeline fps / raw runs per second, per round. Because
other people's jobs come and go within a round, the same ratio is also measured on the very
calls the pipeline makes: time inside `session.run` / wall time of the replay (the share).

A cProfile of one replay shows where the time that is not `session.run` goes.

    .venv/bin/python -m bench.efficiency [--rounds 3] [--threads 1 2]
"""

from __future__ import annotations

import contextlib
import cProfile
import functools
import io
import pstats
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

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
    video_frame,
)
from bench.sites import LOT_BAYS, ROAD_LANES, camera, parking_zone, write_site
from edge import replay as replay_module
from edge.config.loader import SiteConfig
from edge.detect.onnx_yolo import OnnxYoloDetector
from edge.detect.preprocess import letterbox
from edge.parts import build_detector
from edge.replay import ReplayResult, replay
from edge.video import files

KEY = "efficiency"
EPOCH = 1_767_225_600.0
CLIPS = {"lot": (LOT_CLIP, 20.0, LOT_BAYS), "road": (ROAD_CLIP, 30.0, ROAD_LANES)}


def _serial_decode() -> contextlib.AbstractContextManager[object]:
    """Before: the replay decodes on its own thread, between detections."""
    if "prefetch" not in files.iter_file_frames.__code__.co_varnames:
        return contextlib.nullcontext()
    serial = functools.partial(files.iter_file_frames, prefetch=False)
    return mock.patch.object(replay_module, "iter_file_frames", serial)


VARIANTS: dict[str, Callable[[], contextlib.AbstractContextManager[object]]] = {
    "decode inline": _serial_decode,
    "as shipped": contextlib.nullcontext,
}


@dataclass
class Config:
    model: str
    threads: int
    clip: str
    site: SiteConfig
    detector: OnnxYoloDetector
    source: Path
    raw: list[float] = field(default_factory=list)
    fps: dict[str, list[float]] = field(default_factory=dict)
    ratio: dict[str, list[float]] = field(default_factory=dict)
    share: dict[str, list[float]] = field(default_factory=dict)  # session.run time / wall
    inside: dict[str, list[float]] = field(default_factory=dict)  # runs/s inside the pipeline


def build(workdir: Path, model: str, threads: int, clip: str, frames: int | None) -> Config:
    rel, fps, polygon = CLIPS[clip]
    source = data_dir() / rel
    if frames is not None:
        source = short_clip(source, workdir / f"{clip}-{frames}.mp4", frames)
    cam = camera("cam", str(source), [parking_zone(polygon)], detect_fps=fps, motion_gate=False)
    site = write_site(workdir / f"{model}-{threads}-{clip}", [cam], model=model, threads=threads)
    return Config(model, threads, clip, site, build_detector(site), source)


def short_clip(source: Path, target: Path, frames: int) -> Path:
    """The first `frames` frames of `source` (for --quick)."""
    cap = cv2.VideoCapture(str(source))
    fps = float(cap.get(cv2.CAP_PROP_FPS)) or 25.0
    writer: cv2.VideoWriter | None = None
    try:
        for _ in range(frames):
            ok, image = cap.read()
            if not ok:
                break
            if writer is None:
                size = (image.shape[1], image.shape[0])
                writer = cv2.VideoWriter(str(target), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
            writer.write(image)
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    return target


def raw_rate(det: OnnxYoloDetector, tensor: Any, runs: int) -> tuple[float, int]:
    """Total seconds spent in `runs` calls of session.run, and the count."""
    feed = {det.input_name: tensor}
    total = 0.0
    for _ in range(runs):
        t = time.perf_counter()
        det.session.run(None, feed)
        total += time.perf_counter() - t
    return total, runs


class SessionTimer:
    """Times every `session.run` the pipeline makes (the session's own method, wrapped)."""

    def __init__(self, det: OnnxYoloDetector) -> None:
        self.session = det.session
        self.total = 0.0
        self.calls = 0

    def __enter__(self) -> SessionTimer:
        run = self.session.run

        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return run(*args, **kwargs)
            finally:
                self.total += time.perf_counter() - t
                self.calls += 1

        self.session.run = timed
        return self

    def __exit__(self, *exc: object) -> None:
        del self.session.run  # back to the class's method


def one_replay(cfg: Config, workdir: Path) -> ReplayResult:
    return replay(
        cfg.site,
        "cam",
        cfg.source,
        io.StringIO(),
        snapshots_dir=workdir / "snapshots",
        detector=cfg.detector,
        epoch=EPOCH,
    )


def measure(cfg: Config, workdir: Path, raw_runs: int, variant: str) -> None:
    tensor = letterbox(video_frame(CLIPS[cfg.clip][0], 0), cfg.detector.input_size).tensor
    cfg.detector.session.run(None, {cfg.detector.input_name: tensor})
    t1, n1 = raw_rate(cfg.detector, tensor, raw_runs // 2)
    with VARIANTS[variant](), SessionTimer(cfg.detector) as timer:
        result = one_replay(cfg, workdir)
    t2, n2 = raw_rate(cfg.detector, tensor, raw_runs - raw_runs // 2)
    raw = (n1 + n2) / (t1 + t2)
    fps = result.frames / result.wall_s
    cfg.raw.append(raw)
    cfg.fps.setdefault(variant, []).append(fps)
    cfg.share.setdefault(variant, []).append(timer.total / result.wall_s)
    cfg.inside.setdefault(variant, []).append(timer.calls / timer.total if timer.total else 0.0)
    cfg.ratio.setdefault(variant, []).append(fps / raw)


def profile(cfg: Config, workdir: Path, top: int) -> tuple[list[list[object]], int, float]:
    prof = cProfile.Profile()
    started = time.perf_counter()
    prof.enable()
    result = one_replay(cfg, workdir)
    prof.disable()
    wall = time.perf_counter() - started
    stats = pstats.Stats(prof)
    rows: list[list[object]] = []
    entries = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in entries[:top]:
        rows.append(
            [
                f"`{_where(filename, line, func)}`",
                ncalls,
                f"{tottime / result.frames * 1000:.2f}",
                f"{cumtime / result.frames * 1000:.2f}",
                f"{100 * tottime / wall:.1f} %",
            ]
        )
    return rows, result.frames, wall


def _where(filename: str, line: int, func: str) -> str:
    if filename == "~":
        return func
    path = Path(filename)
    with contextlib.suppress(ValueError):
        return f"{path.relative_to(REPO)}:{line} {func}"
    parts = path.parts
    for anchor in ("site-packages", "lib"):
        if anchor in parts:
            rest = parts[parts.index(anchor) + 1 :]
            return f"{'/'.join(rest[-2:])}:{line} {func}"
    return f"{path.name}:{line} {func}"


@contextlib.contextmanager
def workspace() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench-eff-") as tmp:
        yield Path(tmp)


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("bench.efficiency", __doc__ or "")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--raw-runs", type=int, default=30, help="session.run calls per round")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--clips", nargs="+", default=list(CLIPS), choices=list(CLIPS))
    p.add_argument("--top", type=int, default=15, help="profile entries shown")
    args = p.parse_args(argv)
    report = Report(KEY, "pipeline efficiency", command_line("bench.efficiency", argv or []))
    if args.quick:
        args.rounds, args.raw_runs, args.threads, args.top = 1, 2, [1], 5
        args.models, args.clips = ["yolo11n_int8.onnx"], ["lot"]
    raw_out: dict[str, Any] = {}
    with workspace() as work:
        frames = 12 if args.quick else None
        configs = [
            build(work, m, t, c, frames)
            for m in args.models
            for t in args.threads
            for c in args.clips
        ]
        for _ in range(args.rounds):
            settle(args)
            for cfg in configs:
                for variant in VARIANTS:
                    measure(cfg, work, args.raw_runs, variant)
        rows: list[list[object]] = []
        for cfg in configs:
            for variant in VARIANTS:
                rows.append(
                    [
                        MODELS.get(cfg.model, cfg.model),
                        cfg.threads,
                        cfg.clip,
                        variant,
                        Stats.of(cfg.raw).fmt(1, 1),
                        Stats.of(cfg.inside[variant]).fmt(1, 1),
                        Stats.of(cfg.fps[variant]).fmt(1, 1),
                        Stats.of(cfg.ratio[variant]).fmt(1, 3),
                        Stats.of(cfg.share[variant]).fmt(1, 3),
                    ]
                )
                raw_out[f"{cfg.model}/{cfg.threads}/{cfg.clip}/{variant}"] = {
                    "raw_runs_per_s": Stats.of(cfg.raw).as_dict(),
                    "pipeline_fps": Stats.of(cfg.fps[variant]).as_dict(),
                    "efficiency": Stats.of(cfg.ratio[variant]).as_dict(),
                    "session_share": Stats.of(cfg.share[variant]).as_dict(),
                }
        target = configs[0]
        prof_rows, frames, wall = profile(target, work, args.top)
    report.add(
        f"{args.rounds} rounds; each round replays each clip once per variant (every frame "
        f"detected) and times {args.raw_runs} `session.run` calls around it. Clips: "
        f"`lot` = `{LOT_CLIP}` (640x480, 162 frames), `road` = `{ROAD_CLIP}` (1280x720, 268 "
        "frames). Variants: `decode inline` = frames decoded on the replay thread between "
        "detections (the code before this benchmark); `as shipped` = the current "
        "`iter_file_frames`. Efficiency = pipeline fps / raw runs per second alone (the raw runs "
        "bracket the replay). `session.run` share = time inside `session.run` during the replay / "
        "the replay's wall time: the same ratio measured on the very same calls, so it is immune "
        "to load from other processes; `runs/s inside` is the rate of those calls. "
        "Values: median (min-max) over rounds.",
        "",
    )
    report.table(
        [
            "model",
            "threads",
            "clip",
            "variant",
            "raw runs/s alone",
            "runs/s inside",
            "pipeline fps",
            "efficiency",
            "session.run share",
        ],
        rows,
    )
    report.add(
        f"Profile (cProfile) of one replay: {MODELS.get(target.model)}, {target.threads} "
        f"thread(s), clip `{target.clip}`, {frames} frames in {wall:.1f} s under the profiler "
        "(which slows the Python parts). Top entries by own time; ms are per frame.",
        "",
    )
    report.table(
        ["function", "calls", "own ms/frame", "cumulative ms/frame", "share of wall"], prof_rows
    )
    report.publish(args.doc, raw_out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
