"""Figure 3: capacity, how many cameras one node serves at a target detection rate.

A probe runs the real node (`bench.harness`: `Node` with a real Mosquitto, the one detection
worker, real pipelines, rules, alert manager and outbox) with N cameras fed at real time for
`--duration` seconds, then checks three things:

1. rate: the cameras were judged at the target rate (mean judgements per second per camera at
   least 95 % of `detect_fps`);
2. latency: the 95th percentile of the detection latency is at most 2 s. The latency of a
   judgement is the time from the picture the camera's previous verdict was based on to the end
   of this one: the longest a change can wait before a verdict reflects it (at 2 fps it cannot
   be below 0.5 s);
3. alerts: no camera missed a parking (or lift) alert that the reference saw. The reference is
   the same stream judged offline, in stream time, with the gate off and the model on every
   frame at the target rate.

Streams (`bench.streams`): parking cameras show the car-park time-lapse slowed 40x (a picture
change every ~5 s, cars staying 30-40 s; zone timings of parking_lot.yaml scaled 40x: grace
20 s, stationary window 8 s), each starting just before a car stops in the watched bays and
shifted by up to 3 s so cameras do not change in step; every fourth camera is the forecourt
still with its fire lane (same timings). Lift cameras show an empty car for 5 s, then two
e-bikes for 5 s, in a cycle (clear_after_s 2 s, so each appearance is a new alert).

The search starts from a prediction made from a short calibration probe (the worker time one
camera needs per second) and walks up or down to the largest N that passes.

    .venv/bin/python -m bench.capacity [--duration 45] [--threads 1] [--kinds parking lift]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    DEFAULT_MODEL,
    LOT_CLIP,
    MODELS,
    Report,
    Stats,
    command_line,
    data_dir,
    in_window,
    parser,
    percentile,
    wait_for_quiet,
)
from bench.harness import Feed, Feeder, Judgement, build_node, mosquitto, workspace
from bench.sites import FORECOURT_LANE, LOT_BAYS, camera, lift_zone, parking_zone, write_site
from bench.streams import LiftCycle, SlowedClip, Still, Stream, forecourt
from edge.config.loader import SiteConfig
from edge.messages import Frame, Transition
from edge.parts import build_detector
from edge.pipeline import CameraPipeline, Detector

KEY = "capacity"
SCALE = 40.0  # stream slow-down of the time-lapse, and the zone timings' stretch
# Stream times just before a car stops in the watched bays (from the reference run).
LOT_STARTS = (82.0, 148.0, 232.0)
JITTER_S = 3.0
LATENCY_LIMIT_S = 2.0
RATE_SHARE = 0.95
WARMUP_S = 4.0
END_MARGIN_S = 5.0


@dataclass(frozen=True, slots=True)
class CameraPlan:
    spec: dict[str, Any]
    feed: Feed
    base: str  # key of the reference it is checked against
    jitter: float


@dataclass
class Probe:
    kind: str
    gated: bool
    n: int
    rate: float = math.nan  # mean judgements/s per camera
    worst_rate: float = math.nan
    lat_p50: float = math.nan
    lat_p95: float = math.nan
    lat_max: float = math.nan
    detections_per_s: float = math.nan
    busy: float = math.nan  # share of wall time the worker spent in pipelines
    cpu: float = math.nan  # process CPU seconds per wall second
    expected: int = 0
    missed: int = 0
    extra: int = 0
    passed: bool = False
    why: str = ""


@dataclass
class Kind:
    name: str
    fps: float
    capture_fps: float
    gated: Sequence[bool]
    plans: Callable[[int, bool, random.Random], list[CameraPlan]]
    references: dict[str, list[float]] = field(default_factory=dict)


def parking_plans(n: int, gated: bool, rng: random.Random, fps: float) -> list[CameraPlan]:
    plans: list[CameraPlan] = []
    source = str(data_dir() / LOT_CLIP)
    for i in range(n):
        cam_id = f"p{i:02d}"
        jitter = rng.uniform(0.0, JITTER_S)
        if i % 4 == 3:
            zone = parking_zone(FORECOURT_LANE, scale=SCALE, kind="fire_lane")
            stream: Stream = Still(forecourt())
            base, offset = "forecourt", jitter
        else:
            zone = parking_zone(LOT_BAYS, scale=SCALE)
            start = LOT_STARTS[i % 4 % len(LOT_STARTS)]
            stream = SlowedClip(SCALE)
            base, offset = f"lot@{start:g}", start + jitter
        spec = camera(cam_id, source, [zone], detect_fps=fps, motion_gate=gated)
        plans.append(CameraPlan(spec, Feed(cam_id, stream, offset), base, jitter))
    return plans


def lift_plans(n: int, gated: bool, rng: random.Random, fps: float) -> list[CameraPlan]:
    source = str(data_dir() / LOT_CLIP)
    plans: list[CameraPlan] = []
    for i in range(n):
        cam_id = f"l{i:02d}"
        jitter = rng.uniform(0.0, LiftCycle().period_s)
        spec = camera(cam_id, source, [lift_zone(clear_after_s=2.0)], detect_fps=fps)
        plans.append(CameraPlan(spec, Feed(cam_id, LiftCycle(), jitter), "lift", jitter))
    return plans


def reference(
    plan: CameraPlan, site: SiteConfig, detector: Detector, fps: float, duration: float
) -> list[float]:
    """Stream times of the alerts raised with the gate off, the model on every frame."""
    pipeline = CameraPipeline(site.settings.camera(plan.feed.camera_id), detector)
    start = plan.feed.offset - plan.jitter
    raised: list[float] = []
    for k in range(math.ceil((duration + JITTER_S) * fps) + 1):
        t = k / fps
        frame = Frame(plan.feed.camera_id, k, t, t, plan.feed.stream.image_at(start + t))
        if any(e.transition is Transition.RAISED for e in pipeline.process(frame)):
            raised.append(start + t)
    return raised


def expected_raises(kind: Kind, plan: CameraPlan, duration: float) -> int:
    first, last = plan.feed.offset + 1.0, plan.feed.offset + duration - END_MARGIN_S
    if kind.name == "lift":
        assert isinstance(plan.feed.stream, LiftCycle)
        return len(plan.feed.stream.appearances(first, last - 1.0))
    return sum(1 for t in kind.references[plan.base] if first <= t <= last)


def analyse(
    probe: Probe,
    *,
    kind: Kind,
    plans: Sequence[CameraPlan],
    judgements: Sequence[Judgement],
    started: float,
    duration: float,
) -> None:
    by_cam: dict[str, list[Judgement]] = {p.feed.camera_id: [] for p in plans}
    for j in judgements:
        by_cam[j.camera].append(j)
    window = duration - WARMUP_S
    rates, latencies = [], []
    detections = 0
    busy = 0.0
    for plan in plans:
        js = sorted(by_cam[plan.feed.camera_id], key=lambda j: j.start)
        steady = in_window(js, started, WARMUP_S, duration)
        rates.append(len(steady) / window)
        for prev, cur in itertools.pairwise(js):
            if in_window([cur], started, WARMUP_S, duration):
                latencies.append(cur.end - prev.frame_ts)
        detections += sum(1 for j in steady if j.detected)
        busy += sum(j.end - j.start for j in steady)
        raised = sum(len(j.raised) for j in js if j.frame_ts - started <= duration)
        want = expected_raises(kind, plan, duration)
        probe.expected += want
        probe.missed += max(0, want - raised)
        probe.extra += max(0, raised - want - 1)  # one more may fall in the end margin
    probe.rate = sum(rates) / len(rates)
    probe.worst_rate = min(rates)
    probe.lat_p50 = percentile(latencies, 50)
    probe.lat_p95 = percentile(latencies, 95)
    probe.lat_max = max(latencies, default=math.nan)
    probe.detections_per_s = detections / window
    probe.busy = busy / window
    reasons = []
    if probe.rate < RATE_SHARE * kind.fps:
        reasons.append(f"rate {probe.rate:.2f}/s < {RATE_SHARE * kind.fps:.2f}")
    if not probe.lat_p95 <= LATENCY_LIMIT_S:
        reasons.append(f"p95 latency {probe.lat_p95:.2f} s > {LATENCY_LIMIT_S:g}")
    if probe.missed:
        reasons.append(f"{probe.missed} alerts missed")
    probe.passed = not reasons
    probe.why = "; ".join(reasons) or "ok"


class Bench:
    def __init__(
        self, work: Path, broker_url: str, *, model: str, threads: int, seed: int, lanes: int = 1
    ) -> None:
        self.lanes = lanes
        self.quiet_wait = 0.0
        self.probes_run = 0
        self.work = work
        self.broker_url = broker_url
        self.model = model
        self.threads = threads
        self.rng = random.Random(seed)
        self.count = 0
        self._detectors: list[Detector] = []

    def site(self, plans: Sequence[CameraPlan]) -> SiteConfig:
        self.count += 1
        return write_site(
            self.work / f"probe-{self.count:03d}",
            [p.spec for p in plans],
            model=self.model,
            threads=self.threads,
            broker_url=self.broker_url,
        )

    def detectors(self, site: SiteConfig) -> list[Detector]:
        """One detector per lane, for every probe: the conf floor is the same for all zones."""
        while len(self._detectors) < self.lanes:
            self._detectors.append(build_detector(site))
        return self._detectors

    def prepare(self, kind: Kind, duration: float) -> None:
        plans = kind.plans(4, False, random.Random(0))
        site = self.site(plans)
        det = self.detectors(site)[0]
        for plan in plans:
            if plan.base not in kind.references and plan.base != "lift":
                kind.references[plan.base] = reference(plan, site, det, kind.fps, duration)

    def probe(self, kind: Kind, gated: bool, n: int, duration: float) -> Probe:
        if self.quiet_wait > 0:
            wait_for_quiet(self.quiet_wait if self.probes_run == 0 else min(30.0, self.quiet_wait))
        self.probes_run += 1
        plans = kind.plans(n, gated, self.rng)
        site = self.site(plans)
        nut = build_node(site, self.detectors(site))
        feeder = Feeder(nut.slots, [p.feed for p in plans], kind.capture_fps, nut.clock)
        nut.start()
        cpu0 = os.times()
        feeder.start()
        time.sleep(duration)
        feeder.stop()
        cpu1 = os.times()
        nut.stop()
        probe = Probe(kind.name, gated, n)
        probe.cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / duration
        analyse(
            probe,
            kind=kind,
            plans=plans,
            judgements=nut.snapshot(),
            started=feeder.started_at,
            duration=duration,
        )
        print(
            f"  {kind.name} gated={gated} N={n}: rate {probe.rate:.2f}/s (worst "
            f"{probe.worst_rate:.2f}), latency p95 {probe.lat_p95:.2f} s, det/s "
            f"{probe.detections_per_s:.1f}, busy {probe.busy:.2f}, cpu {probe.cpu:.2f}, "
            f"alerts {probe.expected - probe.missed}/{probe.expected} (+{probe.extra}): "
            f"{'PASS' if probe.passed else 'FAIL'} {probe.why}",
            flush=True,
        )
        return probe

    def search(
        self, kind: Kind, gated: bool, duration: float, limit: int
    ) -> tuple[int, list[Probe]]:
        """Largest N that passes: calibrate, predict, then walk and bisect."""
        probes: list[Probe] = []
        calib_n = 2 if not gated else 6
        calib = self.probe(kind, gated, calib_n, max(12.0, duration / 3))
        probes.append(calib)
        per_camera = calib.busy / calib_n if calib.busy > 0 else 1.0
        # `busy` adds up the lanes' workers, each of which can be busy all the time.
        guess = max(1, min(limit, math.floor(0.9 * self.lanes / per_camera)))
        results: dict[int, bool] = {}
        if calib.n <= limit and calib.passed and calib.lat_p95 <= LATENCY_LIMIT_S:
            results[calib_n] = True  # short probe: only trusted as a lower bound
        step = max(1, round(0.15 * guess))
        n = guess if guess not in results else guess + step  # the calibration passed there
        while 1 <= n <= limit and n not in results:
            p = self.probe(kind, gated, n, duration)
            probes.append(p)
            results[n] = p.passed
            passes = [k for k, ok in results.items() if ok]
            fails = [k for k, ok in results.items() if not ok]
            lo = max(passes, default=0)
            hi = min((k for k in fails if k > lo), default=None)
            if hi is None:
                n = lo + step
            elif hi - lo <= 1:
                break
            elif not passes or lo == 0:
                n = max(1, hi - step)
            else:
                n = (lo + hi) // 2
        best = max((k for k, ok in results.items() if ok), default=0)
        return best, probes


KIND_FACTORIES: dict[str, Callable[[float], Kind]] = {
    "parking": lambda fps: Kind(
        "parking", fps, 5.0, (False, True), lambda n, g, r: parking_plans(n, g, r, fps)
    ),
    "lift": lambda fps: Kind("lift", fps, 25.0, (False,), lambda n, g, r: lift_plans(n, g, r, fps)),
}


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    p = parser("bench.capacity", __doc__ or "")
    p.add_argument("--duration", type=float, default=45.0, help="seconds per probe")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--threads", type=int, default=1, help="onnxruntime threads (config)")
    p.add_argument("--kinds", nargs="+", default=["parking", "lift"], choices=list(KIND_FACTORIES))
    p.add_argument("--parking-fps", type=float, default=2.0)
    p.add_argument("--lift-fps", type=float, default=5.0)
    p.add_argument("--repeats", type=int, default=1, help="whole searches (default 1)")
    p.add_argument("--limit", type=int, default=120, help="most cameras tried")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--lanes",
        type=int,
        default=1,
        help="detection lanes (models.lanes): workers with a detector each (default 1)",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.model = "yolo11n_int8.onnx"
    return args


def _report(args: argparse.Namespace, argv: Sequence[str] | None) -> Report:
    title = "capacity (cameras per node)"
    key = KEY
    if args.lanes > 1:
        title += f", {args.lanes} detection lanes"
        key += f"_lanes{args.lanes}"
    if args.threads != 1:
        key += f"_threads{args.threads}"
    return Report(key, title, command_line("bench.capacity", argv or []))


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    report = _report(args, argv)
    fps = {"parking": args.parking_fps, "lift": args.lift_fps}
    raw: dict[str, Any] = {"probes": []}
    probe_rows: list[list[object]] = []
    found: dict[tuple[str, bool], list[int]] = {}
    with workspace("bench-cap-") as work, mosquitto(work) as broker:
        bench = Bench(
            work,
            broker.url,
            model=args.model,
            threads=args.threads,
            seed=args.seed,
            lanes=args.lanes,
        )
        bench.quiet_wait = 0.0 if args.quick else args.quiet_wait
        for name in args.kinds:
            kind = KIND_FACTORIES[name](fps[name])
            duration = 3.0 if args.quick else args.duration
            bench.prepare(kind, duration)
            for _ in range(args.repeats):
                for gated in kind.gated:
                    if args.quick:
                        probes = [bench.probe(kind, gated, 1, duration)]
                        best = 1 if probes[0].passed else 0
                    else:
                        best, probes = bench.search(kind, gated, duration, args.limit)
                    found.setdefault((name, gated), []).append(best)
                    probe_rows.extend(_probe_row(pr) for pr in probes)
                    raw["probes"].extend(vars(pr) for pr in probes)
    summary = [
        [name, f"{fps[name]:g}", "on" if gated else "off", Stats.of(values).fmt(1, 0)]
        for (name, gated), values in found.items()
    ]
    report.add(
        f"Model {MODELS.get(args.model, args.model)}, `models.threads: {args.threads}`; "
        f"{args.duration:g} s per probe (first {WARMUP_S:g} s not counted for rate and latency), "
        f"{args.repeats} search(es). A probe passes when cameras are judged at >= "
        f"{RATE_SHARE:.0%} of the target rate, detection latency p95 <= {LATENCY_LIMIT_S:g} s "
        "and no alert the reference raised is missed. Frames are fed at 5 fps (parking) and "
        "25 fps (lifts) into the real node's slots; decoding is not included.",
        "",
    )
    report.table(["cameras", "target fps", "motion gate", "most cameras served"], summary)
    ratio = _ratio(found)
    if ratio:
        report.add(f"Gated / ungated parking cameras served: {ratio}", "")
    report.add("Every probe, in the order run:", "")
    report.table(
        [
            "kind",
            "gate",
            "N",
            "judged/s per camera (worst)",
            "latency p50 / p95 / max s",
            "model runs/s",
            "worker busy",
            "CPU cores",
            "alerts seen / expected (extra)",
            "verdict",
        ],
        probe_rows,
    )
    report.publish(args.doc, raw, args.json)
    return 0


def _probe_row(pr: Probe) -> list[object]:
    return [
        pr.kind,
        "on" if pr.gated else "off",
        pr.n,
        f"{pr.rate:.2f} ({pr.worst_rate:.2f})",
        f"{pr.lat_p50:.2f} / {pr.lat_p95:.2f} / {pr.lat_max:.2f}",
        f"{pr.detections_per_s:.1f}",
        f"{pr.busy:.0%}",
        f"{pr.cpu:.2f}",
        f"{pr.expected - pr.missed} / {pr.expected} (+{pr.extra})",
        "pass" if pr.passed else f"fail: {pr.why}",
    ]


def _ratio(found: dict[tuple[str, bool], list[int]]) -> str:
    gated = found.get(("parking", True))
    plain = found.get(("parking", False))
    if not gated or not plain:
        return ""
    values = [g / u for g, u in zip(gated, plain, strict=True) if u > 0]
    return Stats.of(values).fmt(1, 1, "x") if values else ""


if __name__ == "__main__":
    raise SystemExit(main())
