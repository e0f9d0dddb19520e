"""The lift rule (confirm within a second, one alert per car) and camera health."""

from __future__ import annotations

import pytest

from edge.messages import Box, Category, Transition
from edge.rules.health import CameraHealth
from edge.rules.lift import LiftRule
from tests.unit.scenes import Scene, Seen, run, times, zone

WHOLE_CAR = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
BIKE = Box(0.3, 0.4, 0.6, 0.9)


def ebike(conf: float = 0.6, track_id: int = 1) -> Seen:
    return Seen(track_id, BIKE, Category.TWO_WHEELER, conf, "motorcycle")


def between(t0: float, t1: float, *seen: Seen) -> Scene:
    return lambda t: list(seen) if t0 <= t < t1 else []


PERSON = Seen(5, Box(0.1, 0.1, 0.3, 0.9), Category.PERSON, 0.9, "person")

CASES = {
    # name: (scene, raised at, cleared at) at 4 detections per second (exact binary steps)
    "e-bike rolls in: raised on the third hit, 0.5 s after it appears": (
        between(1.0, 30.0, ebike()),
        [1.5],
        [39.75],
    ),
    "a two-frame glimpse never raises": (between(1.0, 1.5, ebike()), [], []),
    "a person alone never raises": (between(0.0, 30.0, PERSON), [], []),
    "below the zone's confidence floor never raises": (between(0.0, 30.0, ebike(0.2)), [], []),
    "the rider turning it (new track id) does not raise twice": (
        lambda t: [ebike(track_id=1 if t < 10 else 2)] if 1.0 <= t < 20 else [],
        [1.5],
        [29.75],
    ),
}


@pytest.mark.parametrize(("scene", "raised", "cleared"), CASES.values(), ids=CASES.keys())
def test_lift_table(scene: Scene, raised: list[float], cleared: list[float]) -> None:
    rule = LiftRule("lift-3", zone("lift", polygon=WHOLE_CAR))
    events = run(rule.update, scene, until=60.0, step=0.25)
    assert times(events, "raised") == raised
    assert times(events, "cleared") == cleared
    assert all(e.severity.value == "critical" for e in events)


def test_lift_alert_carries_the_bike_and_its_start() -> None:
    rule = LiftRule("lift-3", zone("lift", polygon=WHOLE_CAR))
    events = run(rule.update, between(1.0, 5.0, ebike(), PERSON), until=2.0, step=0.25)
    (raised,) = events
    assert raised.started == pytest.approx(1.0)
    assert [o.class_name for o in raised.objects] == ["motorcycle"]


def test_lift_comes_back_after_clear_as_a_new_alert() -> None:
    rule = LiftRule("lift-3", zone("lift", polygon=WHOLE_CAR, clear_after_s=5))
    scene = lambda t: [ebike()] if 1 <= t < 3 or 20 <= t < 22 else []  # noqa: E731
    events = run(rule.update, scene, until=40.0, step=0.25)
    assert [e.transition for e in events] == [Transition.RAISED, Transition.CLEARED] * 2
    assert events[0].key != events[2].key


HEALTH = {
    # name: (frame times, check times, expected transitions with times)
    "frames keep coming: nothing": ([0, 5, 10, 15, 20], [25], []),
    "silent past offline_after_s: offline, then clears on the next frame": (
        [0, 5],
        [10, 20, 36, 40],
        [("raised", 36.0), ("cleared", 50.0)],
    ),
    "never delivers a frame: offline": ([], [29, 30, 31], [("raised", 30.0)]),
}


@pytest.mark.parametrize(("frames", "checks", "expected"), HEALTH.values(), ids=HEALTH.keys())
def test_camera_health(
    frames: list[float], checks: list[float], expected: list[tuple[str, float]]
) -> None:
    health = CameraHealth("cam", offline_after_s=30, started=0.0)
    got = []
    for t in sorted({*frames, *checks}):
        if t in frames:
            got += health.frame(t)
        if t in checks:
            got += health.check(t)
    if expected and expected[-1][0] == "cleared":
        got += health.frame(expected[-1][1])
    assert [(e.transition.value, e.ts) for e in got] == expected
    assert all(e.kind.value == "camera_offline" for e in got)
