"""Figure 1: raw inference, `session.run` alone: the physical limit of the node.

For each shared model, sessions with 1 and 2 intra-op threads are timed on the same real
picture (a letterboxed frame of the parking clip), interleaved round by round so that load
from other processes falls on every configuration alike. Besides the node's own session
options it times two alternatives side by side:

- `spin`: intra-op threads spin between operators while a run is in progress and stop
  spinning when it returns (`allow_spinning=1`, `force_spinning_stop=1`);
- `2 x 1 thread`: two runs at once on one 1-thread session from two Python threads (the
  GIL is released in `run`), i.e. what a worker with two inference lanes would get.

CPU per run is measured with the runs paced at 5 Hz (a lift camera's rate), so it includes
whatever the thread pool burns between runs.

    .venv/bin/python -m bench.inference [--rounds 5] [--runs 20]
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnxruntime as ort

from bench.common import (
    LOT_CLIP,
    MODELS,
    Report,
    Stats,
    class_map,
    command_line,
    model_path,
    parser,
    settle,
    video_frame,
)
from edge.detect.onnx_yolo import OnnxYoloDetector
from edge.detect.preprocess import Tensor, letterbox

KEY = "inference"
PACED_HZ = 5.0


@dataclass
class Variant:
    label: str
    run: Callable[[], object]
    lanes: int = 1  # concurrent runs (throughput mode)
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)


def spinning_session(path: str, threads: int) -> ort.InferenceSession:
    """The node's options, but spinning while a run is in progress only."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def variants_for(model: str) -> list[Variant]:
    path = model_path(model)
    out: list[Variant] = []
    tensor: Tensor | None = None
    for threads in (1, 2):
        det = OnnxYoloDetector(path, class_map(), threads=threads)
        if tensor is None:
            tensor = letterbox(video_frame(LOT_CLIP, 81), det.input_size).tensor
        feed = {det.input_name: tensor}
        out.append(
            Variant(f"{threads} thread{'s' * (threads > 1)} (node)", _runner(det.session, feed))
        )
        if threads == 2:
            spin = spinning_session(str(path), 2)
            out.append(Variant("2 threads, spin in run", _runner(spin, feed)))
        if threads == 1:
            out.append(Variant("2 x 1 thread (parallel)", _runner(det.session, feed), lanes=2))
    return out


def _runner(session: ort.InferenceSession, feed: dict[str, Tensor]) -> Callable[[], object]:
    def run() -> object:
        return session.run(None, feed)

    return run


def measure_round(v: Variant, runs: int, paced: int) -> None:
    for _ in range(2):
        v.run()
    if v.lanes == 1:
        for _ in range(runs):
            t = time.perf_counter()
            v.run()
            v.times.append(time.perf_counter() - t)
        v.rates.append(1.0 / float(np.median(v.times[-runs:])))
    else:
        v.rates.append(_parallel_rate(v, runs))
    # CPU per run at a paced 5 Hz, including anything the pool burns between runs.
    time.sleep(0.2)
    cpu0 = time.process_time()
    for _ in range(paced):
        t = time.perf_counter()
        v.run()
        time.sleep(max(0.0, 1.0 / PACED_HZ - (time.perf_counter() - t)))
    v.cpu.append((time.process_time() - cpu0) / paced)


def _parallel_rate(v: Variant, runs: int) -> float:
    barrier = threading.Barrier(v.lanes)

    def lane() -> None:
        barrier.wait()
        for _ in range(runs):
            v.run()

    threads = [threading.Thread(target=lane) for _ in range(v.lanes)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t
    v.times.append(wall / runs)  # per-lane time per run
    return v.lanes * runs / wall


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("bench.inference", __doc__ or "")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--runs", type=int, default=20, help="timed runs per round (default 20)")
    p.add_argument("--models", nargs="+", default=list(MODELS), help="model file names")
    args = p.parse_args(argv)
    rounds, runs, paced = (1, 2, 1) if args.quick else (args.rounds, args.runs, 5)
    if args.quick:
        args.models = ["yolo11n_int8.onnx"]
    report = Report(
        KEY, "raw inference (session.run alone)", command_line("bench.inference", argv or [])
    )
    raw: dict[str, Any] = {}
    rows: list[list[object]] = []
    for model in args.models:
        variants = variants_for(model)
        for _ in range(rounds):
            settle(args)
            for v in variants:
                measure_round(v, runs, paced)
        base = variants[0]
        for v in variants:
            t = Stats.of(v.times)
            rate = Stats.of(v.rates)
            speedup = Stats.of(r / b for r, b in zip(v.rates, base.rates, strict=True))
            rows.append(
                [
                    MODELS.get(model, model),
                    v.label,
                    t.fmt(1000),
                    rate.fmt(1, 1),
                    Stats.of(v.cpu).fmt(1000, 0),
                    speedup.fmt(1, 2),
                ]
            )
            raw[f"{model}/{v.label}"] = {
                "run_s": t.as_dict(),
                "runs_per_s": rate.as_dict(),
                "cpu_s_per_run_paced": Stats.of(v.cpu).as_dict(),
            }
    report.add(
        f"{rounds} interleaved rounds x {runs} runs per configuration, on a letterboxed frame of "
        f"`{LOT_CLIP}`. Times are single `session.run` calls: median (min-max) in ms. "
        "Runs/s is the median of the per-round rates; for `2 x 1 thread` it is both lanes "
        "together and the time is per run in each lane. Speed-up is against 1 thread, per "
        f"round. CPU per run is process CPU time with runs paced at {PACED_HZ:g} Hz.",
        "",
    )
    report.table(
        [
            "model",
            "threads / options",
            "session.run ms",
            "runs/s",
            "CPU ms per run @5 Hz",
            "x 1 thread",
        ],
        rows,
    )
    report.publish(args.doc, raw, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
