"""What every benchmark needs: the shared material, the machine, statistics and the report.

Each benchmark renders one Markdown block and replaces its own block in docs/benchmarks.md,
between `<!-- bench:NAME begin -->` and `<!-- bench:NAME end -->`; text outside the markers
(the analysis written by people) is left alone.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import cv2
import numpy as np
import onnxruntime as ort

from edge.config.model import Models
from edge.messages import Category, Image

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "benchmarks.md"

MODELS: dict[str, str] = {
    "yolov8n_int8.onnx": "YOLOv8n int8, 640x640",
    "yolo11n_int8.onnx": "YOLO11n int8, 320x320",
}
DEFAULT_MODEL = "yolov8n_int8.onnx"


class MissingMaterialError(RuntimeError):
    """The shared models or footage are not where GRID_SHARED_DIR (or ../shared) says."""


def shared_dir() -> Path:
    env = os.environ.get("GRID_SHARED_DIR")
    path = Path(env) if env else REPO.parent / "shared"
    if not (path / "models").is_dir() or not (path / "data").is_dir():
        raise MissingMaterialError(
            f"shared models and footage not found at {path} (set GRID_SHARED_DIR)"
        )
    return path


def models_dir() -> Path:
    return shared_dir() / "models"


def data_dir() -> Path:
    return shared_dir() / "data"


def model_path(name: str) -> Path:
    path = models_dir() / name
    if not path.is_file():
        raise MissingMaterialError(f"model {name} not found in {models_dir()}")
    return path


# ------------------------------------------------------------------------------------------
# Statistics
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stats:
    """Median, min and max of repeated measurements."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Stats:
        data = [float(v) for v in values if math.isfinite(float(v))]
        if not data:
            return cls(math.nan, math.nan, math.nan, 0)
        return cls(statistics.median(data), min(data), max(data), len(data))

    def fmt(self, scale: float = 1.0, digits: int = 1, unit: str = "") -> str:
        """`median (min-max)`, each multiplied by `scale`."""
        if self.n == 0:
            return "n/a"
        m, lo, hi = (f"{v * scale:.{digits}f}" for v in (self.median, self.low, self.high))
        return f"**{m}**{unit} ({lo}-{hi})" if self.n > 1 else f"**{m}**{unit}"

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high, "n": self.n}


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks; nan for no data."""
    data = sorted(float(v) for v in values)
    if not data:
        return math.nan
    return float(np.percentile(np.asarray(data), q))


class Timed(Protocol):
    @property
    def start(self) -> float: ...


TimedT = TypeVar("TimedT", bound=Timed)


def in_window(
    items: Iterable[TimedT], anchor: float, warmup_s: float, duration: float
) -> list[TimedT]:
    """The judgements that started within the measured window [anchor + warmup_s, anchor +
    duration): not the warm-up's, and not those made after it, while the node stops with its
    RTSP cameras still streaming. Counting those made a 45-s probe of 68 cameras look like 0.9
    looks a second per camera on 0.5-a-second keyframes."""
    return [j for j in items if warmup_s <= j.start - anchor < duration]


def now() -> float:
    return time.perf_counter()


# ------------------------------------------------------------------------------------------
# The machine
# ------------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    model = match.group(1).strip() if match else platform.processor() or "unknown"
    flags = re.search(r"^flags\s*:\s*(.+)$", text, re.MULTILINE)
    if flags:
        have = set(flags.group(1).split())
        wanted = ["avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8"]
        model += " (" + ", ".join(f for f in wanted if f in have) + ")"
    return model


def memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return math.nan


def load_average() -> str:
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def _cpu_ticks() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return math.nan, math.nan
    hz = float(os.sysconf("SC_CLK_TCK"))
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    total = sum(fields[:8])
    return (total - idle) / hz, total / hz


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class CpuMonitor:
    """How much CPU other processes took while a benchmark ran: the noise it ran in."""

    def __init__(self) -> None:
        self._busy, _ = _cpu_ticks()
        self._own = _own_cpu()
        self._wall = time.monotonic()

    def others(self) -> float:
        """Average cores used by everything but this process (and its waited children)."""
        busy, _ = _cpu_ticks()
        wall = time.monotonic() - self._wall
        if not wall > 0.0:
            return math.nan
        return max(0.0, (busy - self._busy) - (_own_cpu() - self._own)) / wall


def wait_for_quiet(max_wait_s: float, *, threshold: float = 0.3, window_s: float = 2.0) -> float:
    """Wait (up to `max_wait_s`) until other processes use under `threshold` cores.

    The machine is shared; a benchmark round started while someone else's job holds a core
    measures that job. Returns the cores others used in the last window.
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        monitor = CpuMonitor()
        time.sleep(window_s)
        others = monitor.others()
        if others < threshold or time.monotonic() >= deadline:
            if others >= threshold:
                print(
                    f"(machine still busy: others use {others:.2f} cores; going on)",
                    file=sys.stderr,
                )
            return others
        print(f"(waiting for a quiet machine: others use {others:.2f} cores)", file=sys.stderr)


def machine_line() -> str:
    return (
        f"{os.cpu_count()} cores, {cpu_model()}, {memory_gib():.1f} GiB RAM; "
        f"Python {platform.python_version()}, onnxruntime {ort.__version__}, "
        f"OpenCV {cv2.__version__}, numpy {np.__version__}; "
        f"load average at start {load_average()} (1, 5, 15 min); benchmark niceness {os.nice(0)}"
    )


# ------------------------------------------------------------------------------------------
# Command line and report
# ------------------------------------------------------------------------------------------


def parser(module: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    p.add_argument(
        "--quick",
        action="store_true",
        help="a tiny run that only proves the benchmark works (the smoke test uses it)",
    )
    p.add_argument(
        "--doc",
        default=str(DOC),
        help="Markdown file whose block for this benchmark is replaced ('-': print only)",
    )
    p.add_argument("--json", help="also write the raw results as JSON to this file")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=300.0,
        help="before the first round, wait up to this many seconds for other processes to "
        "use under 0.3 cores, before later rounds up to 30 s (default 300; 0 with --quick)",
    )
    return p


_settled = 0


def settle(args: argparse.Namespace) -> None:
    """Wait for a quiet machine unless --quick: `--quiet-wait` s at first, then up to 30 s."""
    global _settled
    if not args.quick and args.quiet_wait > 0:
        wait_for_quiet(args.quiet_wait if _settled == 0 else min(args.quiet_wait, 30.0))
        _settled += 1


def command_line(module: str, argv: Sequence[str]) -> str:
    shown = [a for a in argv]
    return " ".join([".venv/bin/python -m", module, *shown]).strip()


@dataclass
class Report:
    """One benchmark's Markdown block."""

    key: str
    title: str
    command: str
    started: str = ""
    machine: str = ""

    def __post_init__(self) -> None:
        self.monitor = CpuMonitor()
        self.lines: list[str] = []
        self.started = time.strftime("%Y-%m-%d %H:%M %Z")
        self.machine = machine_line()

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def table(self, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        self.lines.append("| " + " | ".join(header) + " |")
        self.lines.append("|" + "|".join("---" for _ in header) + "|")
        for row in rows:
            self.lines.append("| " + " | ".join(str(c) for c in row) + " |")
        self.lines.append("")

    def markdown(self) -> str:
        head = [
            f"<!-- bench:{self.key} begin (generated; edit outside these markers) -->",
            f"#### Measured: {self.title}",
            "",
            f"Command: `{self.command}`  ",
            f"Run: {self.started}; machine: {self.machine}.  ",
            f"Other processes used {self.monitor.others():.2f} cores on average during the run "
            f"(load average at the end {load_average()}).",
            "",
        ]
        return "\n".join([*head, *self.lines, f"<!-- bench:{self.key} end -->"]) + "\n"

    def publish(
        self, doc: str, raw: dict[str, Any] | None = None, json_path: str | None = None
    ) -> None:
        text = self.markdown()
        print(text)
        if doc != "-":
            write_block(Path(doc), self.key, text)
            print(f"(written to {doc})", file=sys.stderr)
        if json_path:
            Path(json_path).write_text(json.dumps(raw or {}, indent=2, default=str))


def write_block(doc: Path, key: str, block: str) -> None:
    """Replace this benchmark's block in `doc` (or append it), leaving the rest untouched."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    pattern = re.compile(
        rf"<!-- bench:{re.escape(key)} begin.*?<!-- bench:{re.escape(key)} end -->\n?", re.DOTALL
    )
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")


# ------------------------------------------------------------------------------------------
# Models and pictures
# ------------------------------------------------------------------------------------------


def class_map() -> dict[str, Category]:
    """The default category map of a site config (car/truck/bus, motorcycle/bicycle, person)."""
    return Models().class_map()


def video_frame(relative: str, index: int) -> Image:
    """Frame `index` of a shared video (decoded with OpenCV, BGR)."""
    path = data_dir() / relative
    cap = cv2.VideoCapture(str(path))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, image = cap.read()
    finally:
        cap.release()
    if not ok or image is None:
        raise MissingMaterialError(f"cannot read frame {index} of {path}")
    return np.asarray(image, dtype=np.uint8)


def image_file(relative: str) -> Image:
    path = data_dir() / relative
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise MissingMaterialError(f"cannot read {path}")
    return np.asarray(image, dtype=np.uint8)


LOT_CLIP = "videos/parking_lot_cctv_timelapse.mp4"
ROAD_CLIP = "videos/road_traffic_cars.mp4"
FORECOURT = "images/parking/forecourt_parked_cars_qengineering.jpg"
EBIKE = "images/elevator_ebike/etoilesha_ebike_2024-01-01_12-07-27.png"
