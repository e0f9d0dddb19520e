"""The RTSP capacity search finds the largest passing count while the two modes take turns."""

from __future__ import annotations

from bench.rtsp_capacity import Probe, Search, interleaved


class FakeBench:
    """Stands in for the node under test: a probe passes up to a limit per mode."""

    def __init__(self, limits: dict[str, int]) -> None:
        self.limits = limits
        self.order: list[tuple[str, int]] = []

    def probe(self, mode: str, parking: int, lifts: int = 0) -> Probe:
        self.order.append((mode, parking))
        probe = Probe(mode, parking, lifts)
        probe.passed = parking <= self.limits[mode]
        return probe


def test_both_searches_find_their_limit_and_take_turns() -> None:
    bench = FakeBench({"full": 5, "keyframes": 23})
    searches = [Search("full", 1, 48), Search("keyframes", 8, 48)]
    interleaved(bench, searches)
    full, keyframes = (s.best for s in searches)
    # Exact below 10 cameras; within a tenth above (the search stops there, on purpose).
    assert full == 5 and 23 * 0.9 <= keyframes <= 23
    modes = [mode for mode, _ in bench.order]
    # Turns alternate while both searches run; the shorter one's end leaves the other alone.
    assert modes[:6] == ["full", "keyframes"] * 3
    assert len(bench.order) == len(set(bench.order))  # no count probed twice


def test_a_search_stops_at_its_limit() -> None:
    bench = FakeBench({"full": 100, "keyframes": 100})
    search = Search("keyframes", 8, 30)
    interleaved(bench, [search])
    assert search.best == 30
    assert max(n for _, n in bench.order) == 30
