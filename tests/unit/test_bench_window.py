"""The capacity benches count a camera's judgements within the measured window only."""

from __future__ import annotations

from dataclasses import dataclass

from bench.common import in_window


@dataclass(frozen=True)
class J:
    start: float


def test_judgements_after_the_window_are_not_counted() -> None:
    # A probe anchored at 100 s, 8 s of warm-up, 45 s long: then the node stops, its RTSP
    # cameras still streaming, and judges more frames while its captures close.
    made = [J(100 + t) for t in (1.0, 7.5, 8.0, 20.0, 44.5, 45.0, 46.0, 60.0)]
    assert [j.start - 100 for j in in_window(made, 100.0, 8.0, 45.0)] == [8.0, 20.0, 44.5]
