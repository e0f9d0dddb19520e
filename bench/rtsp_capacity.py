"""Figure 9b: cameras per node end to end through real RTSP streams, full decoding against
keyframe-only decoding in the same run; lifts on substreams beside parking cameras.

Unlike `bench.capacity`, which puts decoded pictures into the slots, this runs the whole node
as `edge run` builds it (`edge.app.Node`): one capture thread per camera reading RTSP/TCP from
the loopback RTSP bench (`bench.rtsp`: GStreamer's rtsp-server, camera-like 1080p H.264 at
3 Mbit/s, GOP 2 s), PyAV decoding, the motion gate, the detector, tracker, rules, alert manager,
outbox and MQTT link to a real Mosquitto, and the evidence clips' packet rings. The RTSP server
runs on the same two cores (its CPU is reported beside the node's).

Parking cameras judge at `--parking-fps` (default 0.5: one look per keyframe, which is what
makes keyframe-only decoding possible); every fourth camera watches the forecourt fire lane,
the others the car-park time-lapse slowed 40x (zone timings of parking_lot.yaml scaled 40x,
as in `bench.capacity`). The streams are mounts started at stream times just before a car
stops in the watched bays, several cameras per mount. A probe passes when:

1. rate: cameras judged at >= 95 % of their detect_fps on average;
2. latency: p95 of the detection latency (the previous verdict's picture to the end of this
   verdict) <= 2 s + one keyframe interval (2 s);
3. alerts: no camera missed an alert that the reference raised: the same pipeline, gate off,
   on the same decoded stream (its keyframes at the target rate) over the probe's stream time.

For each mode (`decode: full` and `decode: keyframes`, their probes taking turns so that both
meet the same load on a shared machine) the search walks up from a
calibration probe to the largest number of cameras that passes. Then one probe runs lift
cameras (5 fps, full decoding of a 640x360 substream, the lift cycle: e-bikes for 5 s every
10 s, each appearance an alert) beside half the keyframe-mode maximum of parking cameras.

    .venv/bin/python -m bench.rtsp_capacity [--duration 60] [--limit 64]
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import av
import numpy as np

from bench.common import (
    DEFAULT_MODEL,
    FORECOURT,
    LOT_CLIP,
    MODELS,
    Report,
    command_line,
    data_dir,
    image_file,
    in_window,
    parser,
    percentile,
    settle,
)
from bench.harness import mosquitto, workspace
from bench.rtsp.bench import RtspBench
from bench.rtsp.footage import MAIN, encode, recipes
from bench.sites import FORECOURT_LANE, LOT_BAYS, camera, lift_zone, parking_zone, write_site
from edge.app import Node
from edge.clock import SystemClock
from edge.config.loader import SiteConfig
from edge.messages import AlertEvent, Frame, Transition
from edge.parts import build_detector
from edge.pipeline import CameraPipeline, Detector

KEY = "rtsp_capacity"
SCALE = 40.0
KEYFRAME_S = 2.0
LATENCY_LIMIT_S = 2.0 + KEYFRAME_S
RATE_SHARE = 0.95
WARMUP_S = 8.0  # connections, first keyframes
END_MARGIN_S = 10.0
LOT_MAIN = "lot-1920x1080-g50-3000k"
FORECOURT_MAIN = "forecourt-1920x1080-g50-3000k"
LIFT_SUB = "lift-640x360-g50-512k"
# Stream times of the slowed time-lapse just before a car stops in the bays (bench.capacity),
# two mounts each, 2.5 s apart, so cameras do not all change picture in step.
LOT_STARTS = (82.0, 84.5, 148.0, 150.5, 232.0, 234.5)
FORECOURT_STARTS = (0.0, 6.0)


@dataclass(frozen=True, slots=True)
class Mount:
    name: str
    recipe: str
    start: float  # stream time the probe starts from
    kind: str  # lot, forecourt, lift


@dataclass(frozen=True, slots=True)
class Judgement:
    camera: str
    frame_ts: float
    start: float
    end: float
    raised: int


@dataclass
class Probe:
    mode: str
    parking: int
    lifts: int = 0
    rate: float = math.nan
    worst_rate: float = math.nan
    lat_p50: float = math.nan
    lat_p95: float = math.nan
    lift_lat_p95: float = math.nan
    node_cpu: float = math.nan
    server_cpu: float = math.nan
    expected: int = 0
    missed: int = 0
    lift_expected: int = 0
    lift_missed: int = 0
    degraded: int = 0
    stop_s: float = math.nan  # how long the node took to stop
    after_window: int = 0  # judgements made while it stopped (not counted)
    passed: bool = False
    why: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


def fit(
    polygon: list[list[float]], size: tuple[int, int], frame: tuple[int, int]
) -> list[list[float]]:
    """A zone drawn on a picture of `size`, moved to where the footage encoder put that
    picture in a `frame` (scaled to fit, centred: the bars a camera's aspect would leave)."""
    (w, h), (fw, fh) = size, frame
    s = min(fw / w, fh / h)
    ox, oy = (fw - w * s) / 2 / fw, (fh - h * s) / 2 / fh
    return [[round(ox + x * w * s / fw, 4), round(oy + y * h * s / fh, 4)] for x, y in polygon]


def zone_for(mount: Mount) -> dict[str, Any]:
    frame = (MAIN.width, MAIN.height)
    if mount.kind == "forecourt":
        img = image_file(FORECOURT)
        polygon = fit(FORECOURT_LANE, (img.shape[1], img.shape[0]), frame)
        return parking_zone(polygon, scale=SCALE, kind="fire_lane")
    with av.open(str(data_dir() / LOT_CLIP)) as c:
        ctx = c.streams.video[0].codec_context
        size = (ctx.width, ctx.height)
    return parking_zone(fit(LOT_BAYS, size, frame), scale=SCALE)


def mounts() -> list[Mount]:
    out = [Mount(f"lot{i}", LOT_MAIN, s, "lot") for i, s in enumerate(LOT_STARTS)]
    out += [Mount(f"fc{i}", FORECOURT_MAIN, s, "forecourt") for i, s in enumerate(FORECOURT_STARTS)]
    out += [Mount("lift0", LIFT_SUB, 0.0, "lift"), Mount("lift1", LIFT_SUB, 0.0, "lift")]
    return out


def parking_mount(i: int, all_mounts: Sequence[Mount]) -> Mount:
    lots = [m for m in all_mounts if m.kind == "lot"]
    courts = [m for m in all_mounts if m.kind == "forecourt"]
    if i % 4 == 3:
        return courts[(i // 4) % len(courts)]
    return lots[(i - i // 4) % len(lots)]


def reference(  # noqa: PLR0917 (the reference's inputs, each needed)
    mount: Mount,
    path: Path,
    site: SiteConfig,
    cam_id: str,
    detector: Detector,
    span: float,
    fps: float,
) -> list[float]:
    """Stream times of the alerts the gate-off pipeline raises, judging the stream's frames
    on the `fps` grid from the mount's start (keyframes at 0.5 fps) for `span` seconds."""
    pipeline = CameraPipeline(site.settings.camera(cam_id), detector)
    raised: list[float] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        base = stream.time_base or 1
        container.seek(int(max(0.0, mount.start - 2.0) / base), stream=stream)
        due = mount.start
        for frame in container.decode(stream):
            t = frame.time or 0.0
            if t + 1e-6 < due:
                continue
            if t > mount.start + span:
                break
            due = (math.floor((t + 1e-6) * fps) + 1) / fps
            ts = t - mount.start
            events = pipeline.process(
                Frame(cam_id, 0, ts, ts, np.asarray(frame.to_ndarray(format="bgr24"), np.uint8))
            )
            if any(e.transition is Transition.RAISED for e in events):
                raised.append(t)
    return raised


class Instrumented:
    """The node's pipelines timed, as `bench.harness` does, with its real capture threads."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.judgements: list[Judgement] = []
        self._lock = threading.Lock()
        for rt in node.cameras.runtimes:
            self._wrap(rt.pipeline)

    def _wrap(self, pipeline: CameraPipeline) -> None:
        process = pipeline.process
        clock = self.node.clock
        cam = pipeline.camera.id

        def timed(frame: Frame) -> list[AlertEvent]:
            start = clock.monotonic()
            events = process(frame)
            end = clock.monotonic()
            raised = sum(1 for e in events if e.transition is Transition.RAISED)
            with self._lock:
                self.judgements.append(Judgement(cam, frame.ts, start, end, raised))
            return events

        pipeline.process = timed  # type: ignore[method-assign]

    def snapshot(self) -> list[Judgement]:
        with self._lock:
            return list(self.judgements)


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, work: Path, broker_url: str, files: dict[str, Path], args: Any) -> None:
        self.work = work
        self.broker_url = broker_url
        self.files = files
        self.rtsp: RtspBench = RtspBench(files)  # replaced by each probe's running server
        self.args = args
        self.mounts = {m.name: m for m in mounts()}
        self.count = 0
        self.detector: Detector | None = None
        self.extra: list[Detector] = []  # lanes after the first (`--lanes`)
        self.references: dict[tuple[str, float], list[float]] = {}

    def plans(
        self, mode: str, parking: int, lifts: int
    ) -> tuple[list[dict[str, Any]], dict[str, Mount]]:
        cams: list[dict[str, Any]] = []
        of: dict[str, Mount] = {}
        all_mounts = list(self.mounts.values())
        for i in range(parking):
            m = parking_mount(i, all_mounts)
            cam_id = f"p{i:02d}"
            spec = camera(cam_id, self.rtsp.url(m.name), [zone_for(m)],
                          detect_fps=self.args.parking_fps)  # fmt: skip
            spec["decode"] = mode
            cams.append(spec)
            of[cam_id] = m
        for i in range(lifts):
            m = self.mounts[f"lift{i % 2}"]
            cam_id = f"l{i:02d}"
            spec = camera(cam_id, self.rtsp.url(m.name), [lift_zone(clear_after_s=2.0)],
                          detect_fps=5.0)  # fmt: skip
            cams.append(spec)
            of[cam_id] = m
        return cams, of

    def site(self, cams: list[dict[str, Any]]) -> SiteConfig:
        self.count += 1
        return write_site(self.work / f"probe-{self.count:03d}", cams, model=self.args.model,
                          lanes=self.args.lanes, broker_url=self.broker_url)  # fmt: skip

    def expected(self, mount: Mount, site: SiteConfig, cam_id: str, span: float) -> list[float]:
        key = (mount.name, span)
        if key not in self.references:
            assert self.detector is not None
            path = encode(recipes()[mount.recipe])
            self.references[key] = reference(
                mount, path, site, cam_id, self.detector, span, self.args.parking_fps
            )
        return self.references[key]

    def probe(self, mode: str, parking: int, lifts: int = 0) -> Probe:
        """One probe on a fresh RTSP server: what one probe's clients left behind (a
        connection still closing, a shared media being torn down) must not meet the next."""
        with RtspBench(self.files) as rtsp:
            self.rtsp = rtsp
            return self._probe(mode, parking, lifts)

    def _probe(self, mode: str, parking: int, lifts: int) -> Probe:
        settle(self.args)
        duration = self.args.duration
        cams, of = self.plans(mode, parking, lifts)
        site = self.site(cams)
        if self.detector is None:
            self.detector = build_detector(site)
        while len(self.extra) < self.args.lanes - 1:
            self.extra.append(build_detector(site))
        detectors = [self.detector, *self.extra]
        node = Node(site, SystemClock(), lanes=[(d, None) for d in detectors])
        inst = Instrumented(node)
        # Every mount back to its start; stream time = start + (t - anchor).
        for m in self.mounts.values():
            self.rtsp.seek(m.name, m.start)
        time.sleep(0.3)
        anchor = time.monotonic()
        server0, cpu0 = _proc_cpu(self.rtsp.pid), os.times()
        node.start()
        time.sleep(duration)
        cpu1, server1 = os.times(), _proc_cpu(self.rtsp.pid)
        degraded = sum(node.cameras.degraded(c["id"]) for c in cams)
        stopping = time.monotonic()
        node.stop(drain_timeout_s=1.0)
        probe = Probe(mode, parking, lifts, degraded=degraded)
        probe.stop_s = time.monotonic() - stopping
        # Judged after the window, while the node stopped: left out of the rate (in_window).
        probe.after_window = sum(1 for j in inst.snapshot() if j.start - anchor >= duration)
        probe.node_cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / duration
        probe.server_cpu = (server1 - server0) / duration
        self.analyse(probe, site, of, inst.snapshot(), anchor, duration)
        print(
            f"  {mode} parking={parking} lifts={lifts}: rate {probe.rate:.2f}/s (worst "
            f"{probe.worst_rate:.2f}), latency p50/p95 {probe.lat_p50:.2f}/{probe.lat_p95:.2f} s, "
            f"alerts {probe.expected - probe.missed}/{probe.expected}, lifts "
            f"{probe.lift_expected - probe.lift_missed}/{probe.lift_expected} (p95 "
            f"{probe.lift_lat_p95:.2f} s), degraded {degraded}, cpu node {probe.node_cpu:.2f} "
            f"server {probe.server_cpu:.2f}, stop {probe.stop_s:.1f} s ({probe.after_window} "
            f"judged meanwhile): {'PASS' if probe.passed else 'FAIL'} {probe.why}",
            flush=True,
        )
        return probe

    def analyse(  # noqa: PLR0917
        self, probe: Probe, site: SiteConfig, of: dict[str, Mount], judgements: list[Judgement],
        anchor: float, duration: float,
    ) -> None:  # fmt: skip
        by_cam: dict[str, list[Judgement]] = {c: [] for c in of}
        for j in judgements:
            by_cam[j.camera].append(j)
        window = duration - WARMUP_S
        rates: list[float] = []
        lat: list[float] = []
        lift_lat: list[float] = []
        for cam_id, mount in of.items():
            js = sorted(by_cam[cam_id], key=lambda j: j.start)
            steady = in_window(js, anchor, WARMUP_S, duration)
            for prev, cur in itertools.pairwise(js):
                if in_window([cur], anchor, WARMUP_S, duration):
                    (lift_lat if mount.kind == "lift" else lat).append(cur.end - prev.frame_ts)
            raised = sum(j.raised for j in js if j.frame_ts - anchor <= duration)
            first, last = mount.start + 1.0, mount.start + duration - END_MARGIN_S
            if mount.kind == "lift":
                # Lift cycle: e-bikes from 5 s to 10 s of every 10 s; the loop starts at 0.
                want = sum(1 for k in range(int(first), int(last)) if k % 10 == 5)
                probe.lift_expected += want
                probe.lift_missed += max(0, want - raised)
                continue
            rates.append(len(steady) / window)
            refs = self.expected(mount, site, cam_id, duration + 5.0)
            want = sum(1 for t in refs if first <= t <= last)
            probe.expected += want
            probe.missed += max(0, want - raised)
        fps = self.args.parking_fps
        probe.rate = sum(rates) / len(rates) if rates else math.nan
        probe.worst_rate = min(rates, default=math.nan)
        probe.lat_p50, probe.lat_p95 = percentile(lat, 50), percentile(lat, 95)
        probe.lift_lat_p95 = percentile(lift_lat, 95)
        reasons = []
        if rates and probe.rate < RATE_SHARE * fps:
            reasons.append(f"rate {probe.rate:.2f}/s < {RATE_SHARE * fps:.2f}")
        if not probe.lat_p95 <= LATENCY_LIMIT_S:
            reasons.append(f"p95 latency {probe.lat_p95:.2f} s > {LATENCY_LIMIT_S:g}")
        if probe.missed:
            reasons.append(f"{probe.missed} parking alerts missed")
        if probe.lift_missed:
            reasons.append(f"{probe.lift_missed} lift alerts missed")
        if probe.degraded:
            # A degraded camera is still served, but not as configured: in the full-decoding
            # search it decodes keyframes instead, which is not what is measured.
            reasons.append(f"{probe.degraded} cameras degraded")
        probe.passed = not reasons
        probe.why = "; ".join(reasons) or "ok"


class Search:
    """The largest N that passes, for one decoding mode: up by a growing step from `start`,
    then bisect. Stepped from outside, so that two modes' probes can take turns and meet the
    same load on a shared machine."""

    def __init__(self, mode: str, start: int, limit: int) -> None:
        self.mode, self.limit = mode, limit
        self.results: dict[int, bool] = {}
        self.probes: list[Probe] = []
        self._n: int | None = start
        self._step = max(1, start // 2)

    def next(self) -> int | None:
        """The number of cameras to probe next, or None when the search is over."""
        n = self._n
        return n if n is not None and 1 <= n <= self.limit and n not in self.results else None

    def record(self, probe: Probe) -> None:
        self.probes.append(probe)
        self.results[probe.parking] = probe.passed
        lo = max((k for k, ok in self.results.items() if ok), default=0)
        hi = min((k for k, ok in self.results.items() if not ok and k > lo), default=None)
        if hi is None:
            self._n = min(self.limit, lo + self._step) if lo < self.limit else None
            self._step *= 2
        elif hi - lo <= max(1, lo // 10):
            self._n = None
        else:
            self._n = (lo + hi) // 2 if lo else max(1, hi // 2)

    @property
    def best(self) -> int:
        return max((k for k, ok in self.results.items() if ok), default=0)


class Prober(Protocol):
    def probe(self, mode: str, parking: int, lifts: int = 0) -> Probe: ...


def interleaved(bench: Prober, searches: Sequence[Search]) -> None:
    """Run the searches' probes in turn (full, keyframes, full, ...) until all are over."""
    while True:
        stepped = False
        for search in searches:
            n = search.next()
            if n is not None:
                search.record(bench.probe(search.mode, n))
                stepped = True
        if not stepped:
            return


def _row(p: Probe) -> list[object]:
    return [
        p.mode, p.parking, p.lifts, f"{p.rate:.2f} ({p.worst_rate:.2f})",
        f"{p.lat_p50:.2f} / {p.lat_p95:.2f}",
        f"{p.expected - p.missed} / {p.expected}",
        f"{p.lift_expected - p.lift_missed} / {p.lift_expected} (p95 {p.lift_lat_p95:.2f} s)"
        if p.lifts else "",
        p.degraded, f"{p.node_cpu:.2f}", f"{p.server_cpu:.2f}",
        "pass" if p.passed else f"fail: {p.why}",
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("bench.rtsp_capacity", __doc__ or "")
    p.add_argument("--duration", type=float, default=60.0, help="seconds per probe")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--parking-fps", type=float, default=0.5)
    p.add_argument("--limit", type=int, default=64, help="most parking cameras tried")
    p.add_argument("--lifts", type=int, default=2, help="lift cameras in the mixed probe")
    p.add_argument(
        "--lanes",
        type=int,
        default=1,
        help="detection lanes (models.lanes), the same for both decoding modes (default 1)",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.limit, args.model = 15.0, 1, "yolo11n_int8.onnx"
    key, title = KEY, "cameras per node through RTSP, full vs keyframe decoding"
    if args.lanes > 1:
        key, title = f"{KEY}_lanes{args.lanes}", f"{title}, {args.lanes} detection lanes"
    report = Report(key, title, command_line("bench.rtsp_capacity", argv or []))
    files = {m.name: encode(recipes()[m.recipe]) for m in mounts()}
    probes: list[Probe] = []
    best: dict[str, int] = {}
    with workspace("bench-rtsp-") as work, mosquitto(work) as broker:
        bench = Bench(work, broker.url, files, args)
        if args.quick:
            for mode in ("full", "keyframes"):
                pr = bench.probe(mode, 1)
                best[mode] = int(pr.passed)
                probes.append(pr)
        else:
            searches = [Search("full", 1, args.limit), Search("keyframes", 8, args.limit)]
            interleaved(bench, searches)
            for search in searches:
                best[search.mode] = search.best
                probes.extend(search.probes)
        mixed = max(1, best.get("keyframes", 2) // 2)
        probes.append(bench.probe("keyframes", mixed, args.lifts))
    ratio = best["keyframes"] / best["full"] if best.get("full") else math.inf
    at_limit = f" (the search's limit, {args.limit} cameras: a lower bound)"
    report.add(
        f"Model {MODELS.get(args.model, args.model)}, "
        + ("one detection lane" if args.lanes == 1 else f"{args.lanes} detection lanes")
        + ", `models.threads: 1`; "
        f"parking cameras at detect_fps {args.parking_fps:g} on 1080p main streams (3 Mbit/s, "
        f"GOP 2 s), {args.duration:g} s per probe (first {WARMUP_S:g} s not counted for rate "
        f"and latency). A probe passes with >= {RATE_SHARE:.0%} of the target rate, detection "
        f"latency p95 <= {LATENCY_LIMIT_S:g} s (2 s + one keyframe interval) and no alert the "
        "reference raised missed. CPU in cores: the node's process (capture, decoding, "
        "detection, everything) and the RTSP server's, both on the same two cores.",
        "",
        f"Most parking cameras served: **{best.get('full', 0)}** decoding every frame, "
        f"**{best.get('keyframes', 0)}** decoding keyframes only"
        + (at_limit if best.get("keyframes") == args.limit else "")
        + f": **{ratio:.1f}x**.",
        "",
    )  # fmt: skip
    report.table(
        ["decode", "parking", "lifts", "judged/s per parking camera (worst)",
         "latency p50 / p95 s", "parking alerts seen / expected", "lift alerts (latency)",
         "degraded", "node CPU", "RTSP server CPU", "verdict"],
        [_row(pr) for pr in probes],
    )  # fmt: skip
    report.publish(args.doc, {"probes": [vars(pr) for pr in probes], "best": best}, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
