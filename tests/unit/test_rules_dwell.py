"""Illegal parking and fire-lane rules, driven second by second on a fake clock."""

from __future__ import annotations

import pytest

from edge.messages import AlertKind, Box, Category, Track, Transition
from edge.rules.dwell import DwellRule
from edge.rules.stationary import StationaryClassifier
from tests.unit.scenes import Scene, Seen, car_at, run, times, zone

PARKED = car_at(0.2)


def parked_between(t0: float, t1: float, box: Box = PARKED, track_id: int = 1) -> Scene:
    return lambda t: [Seen(track_id, box)] if t0 <= t < t1 else []


def with_gaps(every: float, gap: float) -> Scene:
    """Parked all along, but the detector misses it for `gap` s out of every `every` s."""
    return lambda t: [] if (t % every) >= every - gap else [Seen(1, PARKED)]


def id_switch_every(period: float) -> Scene:
    """Parked all along; the tracker hands out a new id every `period` s (and loses a frame)."""
    return lambda t: [] if t % period == 0 and t > 0 else [Seen(1 + int(t // period), PARKED)]


def driving_through(speed: float) -> Scene:
    """A car crossing the zone left to right at `speed` picture widths per second."""

    def scene(t: float) -> list[Seen]:
        x = -0.2 + speed * t
        return [Seen(1, car_at(x))] if -0.15 < x < 1.0 else []

    return scene


def stream_of_cars(gap_s: float) -> Scene:
    """Traffic: a new car every `gap_s` s, each driving through at 0.05 widths/s."""

    def scene(t: float) -> list[Seen]:
        out = []
        for n in range(int(t // gap_s) + 1):
            x = -0.1 + 0.05 * (t - n * gap_s)
            if 0.0 < x < 0.85:
                out.append(Seen(n + 1, car_at(x)))
        return out

    return scene


def side_by_side(t: float) -> list[Seen]:
    return [Seen(1, car_at(0.20)), Seen(2, car_at(0.36))]


def occluded_after_raise(t: float) -> list[Seen]:
    """Parked; from t=330 to 360 a passer-by hides its lower half (the box shrinks upward)."""
    if 330 <= t < 360:
        return [
            Seen(1, Box(PARKED.x1, PARKED.y1, PARKED.x2, PARKED.y1 + 0.05), confidence=0.5),
            Seen(9, Box(0.25, 0.55, 0.30, 0.75), Category.PERSON),
        ]
    return [Seen(1, PARKED)]


CASES = {
    # name: (scene, until, raised times, cleared times)
    "parked past grace raises once, clears after it leaves": (
        parked_between(0, 400),
        500,
        [300.0],
        [459.0],
    ),
    "leaves before grace: nothing": (parked_between(0, 250), 400, [], []),
    "detection gaps shorter than max_gap do not reset dwell": (with_gaps(30, 5), 400, [300.0], []),
    "tracker id switches do not reset dwell or re-raise": (id_switch_every(70), 700, [300.0], []),
    "a car driving through never raises": (driving_through(0.01), 200, [], []),
    "steady traffic over the same spot never raises": (stream_of_cars(20), 600, [], []),
    "occluded by a passer-by: no second alert, no clear": (occluded_after_raise, 500, [300.0], []),
}


@pytest.mark.parametrize(("scene", "until", "raised", "cleared"), CASES.values(), ids=CASES.keys())
def test_no_parking_table(
    scene: Scene, until: float, raised: list[float], cleared: list[float]
) -> None:
    rule = DwellRule(
        "cam", zone("no_parking", grace_s=300, clear_after_s=60), AlertKind.ILLEGAL_PARKING
    )
    events = run(rule.update, scene, until)
    assert times(events, "raised") == raised
    assert times(events, "cleared") == cleared
    assert len({e.key for e in events}) == len(raised)


def test_two_cars_side_by_side_get_one_alert_each() -> None:
    rule = DwellRule("cam", zone("no_parking", grace_s=60), AlertKind.ILLEGAL_PARKING)
    events = run(rule.update, side_by_side, 100)
    raised = [e for e in events if e.transition is Transition.RAISED]
    assert len(raised) == 2
    assert raised[0].key != raised[1].key
    assert {e.objects[0].track_id for e in raised} == {1, 2}


def test_open_alert_is_updated_with_dwell_while_car_stays() -> None:
    rule = DwellRule(
        "cam", zone("no_parking", grace_s=300, update_every_s=60), AlertKind.ILLEGAL_PARKING
    )
    events = run(rule.update, parked_between(0, 1000), 500)
    assert times(events, "updated") == [360.0, 420.0, 480.0]
    assert [round(e.dwell_s) for e in events] == [300, 360, 420, 480]
    assert len({e.key for e in events}) == 1


def test_fire_lane_defaults_are_short_and_count_motorcycles() -> None:
    z = zone("fire_lane")
    assert z.grace == 60 and z.clear_after == 30
    moto = lambda t: [Seen(1, car_at(0.5, w=0.05), Category.TWO_WHEELER, class_name="motorcycle")]  # noqa: E731
    events = run(DwellRule("cam", z, AlertKind.FIRE_LANE_BLOCKED).update, moto, 100)
    assert times(events, "raised") == [60.0]
    assert events[0].kind is AlertKind.FIRE_LANE_BLOCKED
    assert events[0].severity.value == "major"


def test_objects_outside_the_zone_or_of_other_categories_do_not_count() -> None:
    above_zone = car_at(0.2, y=0.1)  # ground point at y=0.22, zone starts at 0.5
    scene = lambda t: [Seen(1, above_zone), Seen(2, PARKED, Category.PERSON, class_name="person")]  # noqa: E731
    rule = DwellRule("cam", zone("no_parking", grace_s=30), AlertKind.ILLEGAL_PARKING)
    assert run(rule.update, scene, 200) == []


def test_low_confidence_and_tiny_boxes_are_ignored() -> None:
    tiny = Box(0.5, 0.6, 0.51, 0.61)
    scene = lambda t: [Seen(1, PARKED, confidence=0.2), Seen(2, tiny)]  # noqa: E731
    rule = DwellRule("cam", zone("no_parking", grace_s=30), AlertKind.ILLEGAL_PARKING)
    assert run(rule.update, scene, 200) == []


def test_resume_after_camera_outage_freezes_instead_of_clearing() -> None:
    rule = DwellRule(
        "cam", zone("no_parking", grace_s=60, clear_after_s=30), AlertKind.ILLEGAL_PARKING
    )
    events = run(rule.update, parked_between(0, 1000), 100)
    assert times(events, "raised") == [60.0]
    # Camera dead from 100 to 700: no update() calls at all. It comes back at 700.
    rule.resume(700.0)
    # The first frame back misses the car (detector hiccup): no clear, the timer restarted.
    assert rule.update([], 700.0) == []
    assert rule.update([], 720.0) == []
    # It is really gone: cleared clear_after_s after the camera came back.
    cleared = rule.update([], 730.0)
    assert [e.transition for e in cleared] == [Transition.CLEARED]


def test_a_still_box_is_stationary_on_every_frame_despite_float_frame_times() -> None:
    # Frame times built by repeated float addition, as a 10 fps replay produces them.
    classifier = StationaryClassifier(window_s=0.3, min_iou=0.6)
    track = Track(1, PARKED, "car", Category.VEHICLE, 0.8, 0.0, 0.0, 10)
    t, verdicts = 0.0, []
    for _ in range(80):
        verdicts.append(bool(classifier.observe([track], t)))
        t += 0.1
    assert verdicts[:3] == [False, False, False]
    assert all(verdicts[4:])


def test_an_object_cut_by_the_bottom_edge_is_in_a_whole_frame_zone() -> None:
    whole = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    rule = DwellRule(
        "cam", zone("fire_lane", polygon=whole, grace_s=10), AlertKind.FIRE_LANE_BLOCKED
    )
    events = run(rule.update, lambda t: [Seen(1, Box(0.4, 0.7, 0.6, 1.0))], 30)
    assert times(events, "raised") == [10.0]
