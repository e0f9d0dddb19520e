"""bench.console_stats runs end to end on a tiny history, so it cannot rot (the full run is
never part of the tests; its figures are in docs/benchmarks.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import console_stats

pytestmark = pytest.mark.integration


def test_the_figures_benchmark_runs_on_a_tiny_history(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nText written by people stays.\n", encoding="utf-8")
    assert console_stats.main(["--quick", "--doc", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert "Text written by people stays." in text
    assert text.count("<!-- bench:console_stats begin") == 1
    assert "| SQLite | the last week, all grids |" in text
