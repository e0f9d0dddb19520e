"""Site configs for the benchmarks, written as YAML and loaded like any other config.

Going through `load_config` means a benchmark runs exactly what an installer's file would
build: the same validation, defaults and derived thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from bench.common import DEFAULT_MODEL, models_dir
from edge.config.loader import SiteConfig, load_config
from tests.integration.broker import free_port

# parking_lot.yaml's zone: two front bays of the car park time-lapse.
LOT_BAYS = [[0.39, 0.70], [0.505, 0.68], [0.505, 0.82], [0.39, 0.85]]
# fire_lane.yaml's zone: the central lane of the forecourt picture (a silver van stands in it).
FORECOURT_LANE = [[0.44, 0.30], [0.60, 0.30], [0.63, 1.0], [0.36, 1.0]]
# The two lanes of the road clip (cars drive through; nothing may raise).
ROAD_LANES = [[0.25, 0.35], [0.75, 0.35], [0.95, 1.0], [0.05, 1.0]]
WHOLE_FRAME = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


def parking_zone(
    polygon: list[list[float]], *, scale: float = 1.0, kind: str = "no_parking"
) -> dict[str, Any]:
    """A parking-type zone. `scale` stretches parking_lot.yaml's video-second timings."""
    return {
        "id": "zone",
        "kind": kind,
        "polygon": polygon,
        "min_confidence": 0.3,
        "grace_s": round(0.5 * scale, 3),
        "stationary_window_s": round(0.2 * scale, 3),
        "clear_after_s": round(max(0.5, 0.5 * scale), 3),
    }


def lift_zone(*, clear_after_s: float = 10.0) -> dict[str, Any]:
    """The lift example's zone (whole car, 3 hits in 1 s)."""
    return {
        "id": "car",
        "kind": "lift",
        "polygon": WHOLE_FRAME,
        "confirm_s": 1.0,
        "min_hits": 3,
        "clear_after_s": clear_after_s,
    }


def camera(
    camera_id: str,
    source: str,
    zones: Sequence[dict[str, Any]],
    *,
    detect_fps: float,
    motion_gate: bool | None = None,
    offline_after_s: float = 30.0,
) -> dict[str, Any]:
    cam: dict[str, Any] = {
        "id": camera_id,
        "source": source,
        "detect_fps": detect_fps,
        "offline_after_s": offline_after_s,
        "zones": list(zones),
    }
    if motion_gate is not None:
        cam["motion_gate"] = motion_gate
    return cam


def write_site(
    workdir: Path,
    cameras: Sequence[dict[str, Any]],
    *,
    model: str = DEFAULT_MODEL,
    threads: int = 1,
    lanes: int = 1,
    broker_url: str = "mqtt://127.0.0.1:1883",
    name: str = "site.yaml",
) -> SiteConfig:
    doc = {
        "site": {"id": "bench-site", "name": "bench"},
        "node": {"id": "bench-node"},
        "mqtt": {"url": broker_url},
        "models": {
            "dir": str(models_dir()),
            "detector": model,
            "threads": threads,
            "lanes": lanes,
        },
        "storage": {"dir": str(workdir / "var")},
        # The node serves its HTTP API as `edge run` does; a free port, so nodes never collide.
        "api": {"port": free_port()},
        "cameras": list(cameras),
    }
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_config(path, check_files=False)
