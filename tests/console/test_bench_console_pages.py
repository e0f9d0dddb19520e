"""bench.console_pages runs end to end on a handful of cases, so it cannot rot (the full run is
never part of the tests; its figures are in docs/benchmarks.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import console_pages

pytestmark = pytest.mark.integration


def test_the_pages_benchmark_runs_on_a_few_cases(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nText written by people stays.\n", encoding="utf-8")
    assert console_pages.main(["--quick", "--doc", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert "Text written by people stays." in text
    assert text.count("<!-- bench:console_pages begin") == 1
    assert "| inbox list, 500 newest of all grids | **" in text
