"""bench.zones_save runs end to end and writes its block (the figure itself is in
docs/benchmarks.md; no timing is asserted here)."""

from __future__ import annotations

from pathlib import Path

from bench import zones_save


def test_the_zones_save_benchmark_runs_and_loses_no_comment(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nText written by people stays.\n", encoding="utf-8")
    assert zones_save.main(["--quick", "--doc", str(doc)]) == 0  # 1 if a comment was lost
    text = doc.read_text(encoding="utf-8")
    assert "Text written by people stays." in text
    assert text.count("<!-- bench:zones_save begin") == 1
    assert "| site.yaml |" in text and "| forecourt |" in text
