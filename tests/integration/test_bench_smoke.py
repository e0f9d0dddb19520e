"""Every benchmark in `bench/` runs end to end on a tiny input, so none of them rots.

The full benchmarks take tens of minutes and are never part of the test command; this runs
each one with `--quick` (the small model, a few frames, a few seconds of real time) and checks
that it produced its block of the report. Needs the shared models and footage and mosquitto.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from bench import (
    capacity,
    decode,
    delivery,
    efficiency,
    inference,
    lift_latency,
    memory,
    replay_speed,
    rtsp_capacity,
)
from tests.integration.broker import find_mosquitto

pytestmark = pytest.mark.integration

BENCHMARKS: list[tuple[str, Callable[[Sequence[str] | None], int]]] = [
    ("inference", inference.main),
    ("efficiency", efficiency.main),
    ("capacity", capacity.main),
    ("lift_latency", lift_latency.main),
    ("replay_speed", replay_speed.main),
    ("delivery", delivery.main),
    ("memory", memory.main),
    ("decode", decode.main),
    ("rtsp_capacity", rtsp_capacity.main),
]


def test_every_benchmark_runs_on_a_tiny_input(shared_dir: Path, tmp_path: Path) -> None:
    if find_mosquitto() is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto); CI installs it")
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nText written by people stays.\n", encoding="utf-8")
    for key, run in BENCHMARKS:
        assert run(["--quick", "--doc", str(doc)]) == 0, key
    text = doc.read_text(encoding="utf-8")
    assert "Text written by people stays." in text
    for key, _ in BENCHMARKS:
        assert text.count(f"<!-- bench:{key} begin") == 1, key
        assert text.count(f"<!-- bench:{key} end -->") == 1, key
    # A second run replaces a block instead of adding another.
    assert inference.main(["--quick", "--doc", str(doc)]) == 0
    assert doc.read_text(encoding="utf-8").count("<!-- bench:inference begin") == 1
