"""ByteTracker: stable ids through motion, occlusion, gaps and irregular frame times."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.config.model import Camera
from edge.messages import Box, Category, Detection, Track
from edge.pipeline import tracker_for
from edge.track.bytetrack import ByteTracker, boxes_array, greedy_match, iou_matrix

VEHICLE = Category.VEHICLE
PERSON = Category.PERSON


def det(
    cx: float,
    cy: float,
    w: float = 0.1,
    h: float = 0.1,
    *,
    conf: float = 0.9,
    cls: str = "car",
    cat: Category = VEHICLE,
) -> Detection:
    return Detection(Box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), cls, cat, conf)


def irregular_times(n: int, seed: int, lo: float = 0.04, hi: float = 0.25) -> list[float]:
    """`n` frame times with random gaps, as a motion-gated, shared-worker pipeline delivers.

    The first gap is the shortest possible: a track's first step is matched with no velocity
    estimate yet, which only a slow or near object survives whatever the tracker.
    """
    rng = random.Random(seed)
    times = [100.0, 100.0 + lo]
    while len(times) < n:
        times.append(times[-1] + rng.uniform(lo, hi))
    return times[:n]


def ids(tracks: list[Track]) -> list[int]:
    return [t.track_id for t in tracks]


def by_id(tracks: list[Track], track_id: int) -> Track:
    return next(t for t in tracks if t.track_id == track_id)


def centre_x(track: Track) -> float:
    return (track.box.x1 + track.box.x2) / 2


@pytest.mark.parametrize(
    ("vx", "vy", "size", "seed"),
    [
        (0.0, 0.0, 0.1, 1),  # parked
        (0.1, 0.0, 0.1, 2),
        (0.0, -0.15, 0.1, 3),
        (0.2, 0.1, 0.1, 4),
        # Far-away, fast objects: a 0.2 s gap moves the box further than its own width, which
        # only the constant-velocity prediction bridges.
        (0.35, 0.0, 0.05, 5),
        (-0.3, 0.15, 0.05, 6),
    ],
)
def test_steady_object_keeps_one_id_over_irregular_frames(
    vx: float, vy: float, size: float, seed: int
) -> None:
    tracker = ByteTracker()
    rng = random.Random(seed)
    times = irregular_times(20, seed, lo=0.04, hi=0.2)
    mid = (times[0] + times[-1]) / 2  # the path is centred in the frame
    seen: set[int] = set()
    for k, ts in enumerate(times):
        jitter = rng.uniform(-0.002, 0.002)
        d = det(0.5 + vx * (ts - mid) + jitter, 0.5 + vy * (ts - mid) - jitter, size, size)
        tracks = tracker.update([d], ts)
        if k == 0:
            assert tracks == []  # tentative until min_hits
            continue
        assert len(tracks) == 1
        assert tracks[0].box == d.box  # the evidence box is the detection, not a prediction
        assert tracks[0].last_seen == ts
        assert tracks[0].hits == k + 1
        seen.add(tracks[0].track_id)
    assert seen == {1}


@pytest.mark.parametrize(
    ("left", "right", "jitter"),
    [
        ((0.3, 0.2), (0.5, 0.2), 0.005),  # touching bumpers
        ((0.3, 0.2), (0.48, 0.2), 0.005),  # boxes overlapping by 10 % of a width
        ((0.3, 0.12), (0.42, 0.12), 0.004),  # two small cars far away, overlapping
        ((0.3, 0.2), (0.5, 0.2), 0.0),
    ],
)
def test_adjacent_parked_cars_keep_distinct_ids(
    left: tuple[float, float], right: tuple[float, float], jitter: float
) -> None:
    tracker = ByteTracker()
    rng = random.Random(7)
    owner: dict[int, str] = {}
    for ts in irregular_times(30, seed=8):
        dets = [
            det(left[0] + rng.uniform(-jitter, jitter), 0.6, left[1], 0.15, cls="left"),
            det(right[0] + rng.uniform(-jitter, jitter), 0.6, right[1], 0.15, cls="right"),
        ]
        rng.shuffle(dets)  # the detector's output order means nothing
        for t in tracker.update(dets, ts):
            assert owner.setdefault(t.track_id, t.class_name) == t.class_name
    assert owner == {1: owner[1], 2: owner[2]}
    assert sorted(owner.values()) == ["left", "right"]


@pytest.mark.parametrize(
    ("speed", "dy", "hidden_s", "seed"),
    [
        (0.3, 0.0, 0.0, 11),  # same lane: the boxes coincide at the crossing
        (0.3, 0.04, 0.0, 12),
        (0.6, 0.02, 0.0, 13),
        (0.6, 0.06, 0.0, 14),
        (1.0, 0.03, 0.0, 15),
        # The near object hides the far one around the crossing: the far track coasts
        # through it on its prediction and picks its object up on the other side.
        (0.3, 0.03, 0.3, 16),
        (0.6, 0.0, 0.2, 17),
    ],
)
def test_crossing_objects_keep_their_ids(
    speed: float, dy: float, hidden_s: float, seed: int
) -> None:
    tracker = ByteTracker()
    times = irregular_times(60, seed, lo=0.03, hi=0.08)
    crossing_ts = times[0] + 0.4 / speed
    side: dict[int, str] = {}
    tracks: list[Track] = []
    last_ts = times[0]
    for ts in times:
        dt = ts - times[0]
        a = det(0.1 + speed * dt, 0.5, 0.08, 0.2, cls="a")
        b = det(0.9 - speed * dt, 0.5 + dy, 0.08, 0.2, cls="b")
        if a.box.x2 >= 1.0:  # out of the frame
            break
        hidden = abs(ts - crossing_ts) < hidden_s / 2
        tracks, last_ts = tracker.update([a] if hidden else [b, a], ts), ts
        for t in tracks:
            # Identity by position: "a" travels right, so before the crossing it is on the
            # left, after it on the right. The class name alone would follow a swapped box too.
            expected = "a" if (centre_x(t) < 0.5) == (ts < crossing_ts) else "b"
            if abs(ts - crossing_ts) > max(0.1, hidden_s):
                assert side.setdefault(t.track_id, expected) == expected
    assert len(side) == 2
    assert ids(tracks) == [1, 2]
    assert all(t.last_seen == last_ts for t in tracks)


@pytest.mark.parametrize("updates_during_gap", [True, False])
@pytest.mark.parametrize(
    ("gap_s", "same_id"),
    [(0.5, True), (1.0, True), (2.9, True), (3.2, False), (3.5, False), (30.0, False)],
)
def test_missing_object_keeps_id_within_max_coast(
    gap_s: float, same_id: bool, updates_during_gap: bool
) -> None:
    tracker = ByteTracker(max_coast_s=3.0)
    car = det(0.4, 0.6, 0.2, 0.15)
    for k in range(5):
        tracker.update([car], 10.0 + 0.1 * k)
    last_hit = 10.4
    if updates_during_gap:
        t = last_hit + 0.1
        while t < last_hit + gap_s - 1e-9:
            coasting = tracker.update([], t)
            # Expired once a frame before this one has been without it for over 3 s.
            if t - 0.1 - last_hit <= 3.0 + 1e-9:
                assert ids(coasting) == [1]
                assert coasting[0].last_seen == last_hit
                assert not coasting[0].seen_at(t)
            else:
                assert coasting == []
            t += 0.1
    back = last_hit + gap_s
    tracks = tracker.update([car], back)
    tracks = tracks or tracker.update([car], back + 0.1)  # a new track needs its second hit
    # Without a frame during the gap nothing saw the car go (a camera judged every few seconds
    # past the node's limit, a camera outage): it keeps its id however long the gap.
    assert ids(tracks) == ([1] if same_id or not updates_during_gap else [2])


def test_a_camera_judged_every_5_s_keeps_its_parked_car() -> None:
    """Issue 17: past its limit the node judged each camera every 4-6 s; the tracker dropped
    every track between two looks (3 s of coasting), so no car was ever seen staying put and
    0 of 23 parking alerts were raised."""
    tracker = ByteTracker(max_coast_s=3.0)
    car = det(0.4, 0.6, 0.2, 0.15)
    seen = [ids(tracker.update([car], 5.0 * k)) for k in range(10)]
    assert seen[1:] == [[1]] * 9
    # One look without it, 5 s after the last: that look is evidence, and 5 s > 3 s.
    assert ids(tracker.update([], 50.0)) == [1]  # coasting, reported as last seen
    assert tracker.update([car], 55.0) == []  # a new, tentative track
    assert ids(tracker.update([car], 60.0)) == [2]


def test_coasting_track_moves_on_its_damped_velocity() -> None:
    tracker = ByteTracker()
    for k in range(10):
        tracker.update([det(0.2 + 0.02 * k, 0.5)], 0.1 * k)  # 0.2 units per second
    (hit,) = tracker.update([], 0.9)  # no time has passed since the last match
    assert hit.box == det(0.38, 0.5).box
    steps = [centre_x(tracker.update([], 0.9 + s)[0]) for s in (0.5, 1.0, 2.0, 2.9)]
    assert steps[0] == pytest.approx(0.38 + 0.2 * (1 - np.exp(-0.5)), abs=0.01)
    assert steps == sorted(steps)  # still moving forwards ...
    assert steps[-1] < 0.38 + 0.2 * 1.0  # ... but never further than speed x decay time
    tracker.update([], 4.0)
    assert tracker.update([], 4.1) == []  # the frame at 4.0 saw it gone for 3.1 s


@pytest.mark.parametrize("low_conf", [0.1, 0.2, 0.3, 0.44])
def test_occluded_detection_stays_matched_through_second_stage(low_conf: float) -> None:
    tracker = ByteTracker()
    for k in range(5):
        tracker.update([det(0.5, 0.6, 0.2, 0.15)], 0.2 * k)
    # A passer-by hides the right half: the detector sees less car, with less confidence.
    occluded = Detection(Box(0.4, 0.525, 0.52, 0.675), "car", VEHICLE, low_conf)
    for k in range(5, 40):  # 7 s, far longer than max_coast_s
        tracks = tracker.update([occluded], 0.2 * k)
        assert ids(tracks) == [1]
        assert tracks[0].last_seen == 0.2 * k
        assert tracks[0].box == occluded.box
        assert tracks[0].confidence == low_conf


@pytest.mark.parametrize(
    ("conf", "starts_track"),
    [
        (0.05, False),  # below low_threshold: ignored
        (0.3, False),  # low: may only extend a confirmed track
        (0.47, False),  # high, but below new_track_threshold
        (0.5, True),
        (0.9, True),
    ],
)
def test_only_confident_detections_start_tracks(conf: float, starts_track: bool) -> None:
    tracker = ByteTracker()
    tracks: list[Track] = []
    for k in range(10):
        tracks = tracker.update([det(0.5, 0.5, conf=conf)], 0.1 * k)
    assert ids(tracks) == ([1] if starts_track else [])


def test_low_confidence_never_confirms_a_tentative_track() -> None:
    tracker = ByteTracker(min_hits=3)
    tracker.update([det(0.5, 0.5, conf=0.9)], 0.0)
    for k in range(1, 10):
        assert tracker.update([det(0.5, 0.5, conf=0.3)], 0.1 * k) == []


def test_detection_below_low_threshold_does_not_keep_track_alive() -> None:
    tracker = ByteTracker()
    tracker.update([det(0.5, 0.5)], 0.0)
    tracker.update([det(0.5, 0.5)], 0.1)
    for k in range(2, 40):
        tracks = tracker.update([det(0.5, 0.5, conf=0.05)], 0.1 * k)
        assert all(t.last_seen == 0.1 for t in tracks)
    assert tracks == []


@pytest.mark.parametrize("min_hits", [1, 2, 3, 5])
def test_tentative_tracks_are_hidden_until_min_hits(min_hits: int) -> None:
    tracker = ByteTracker(min_hits=min_hits)
    for k in range(8):
        tracks = tracker.update([det(0.5, 0.5)], 0.1 * k)
        if k + 1 < min_hits:
            assert tracks == []
        else:
            assert ids(tracks) == [1]
            assert tracks[0].hits == k + 1
            assert tracks[0].first_seen == 0.0


def test_flickering_tentative_track_still_confirms() -> None:
    tracker = ByteTracker(min_hits=2)
    assert tracker.update([det(0.5, 0.5)], 0.0) == []
    assert tracker.update([], 0.1) == []
    assert ids(tracker.update([det(0.5, 0.5)], 0.2)) == [1]


def test_categories_are_never_mixed() -> None:
    tracker = ByteTracker()
    car = det(0.5, 0.5, 0.2, 0.3)
    tracker.update([car], 0.0)
    tracker.update([car], 0.1)
    # A person exactly where the car was (a driver standing in front of it, say).
    person = det(0.5, 0.5, 0.2, 0.3, cls="person", cat=PERSON)
    tracker.update([person], 0.2)
    tracks = tracker.update([person], 0.3)
    assert [(t.track_id, t.category, t.last_seen) for t in tracks] == [
        (1, VEHICLE, 0.1),  # the car coasts, unmatched
        (2, PERSON, 0.3),
    ]
    # The second stage respects categories too: a weak car box still goes to the car.
    tracks = tracker.update([person, det(0.5, 0.5, 0.2, 0.3, conf=0.2)], 0.4)
    assert [(t.track_id, t.last_seen) for t in tracks] == [(1, 0.4), (2, 0.4)]


@pytest.mark.parametrize(
    ("frames", "expected_class"),
    [
        ([("car", 0.9)] * 3, "car"),
        ([("car", 0.9)] * 5 + [("truck", 0.8)] * 3, "car"),  # 4.5 vs 2.4
        ([("car", 0.9)] * 5 + [("truck", 0.8)] * 10, "truck"),  # 4.5 vs 8.0
        ([("car", 0.6), ("truck", 0.9)] * 4, "truck"),  # flips every frame
        ([("truck", 0.5), ("car", 0.5)] * 2, "truck"),  # a tie keeps the first class seen
    ],
)
def test_class_flip_within_category_keeps_id(
    frames: list[tuple[str, float]], expected_class: str
) -> None:
    tracker = ByteTracker()
    tracks: list[Track] = []
    for k, (cls, conf) in enumerate(frames):
        tracks = tracker.update([det(0.5, 0.5, conf=conf, cls=cls)], 0.1 * k)
    assert ids(tracks) == [1]
    assert tracks[0].class_name == expected_class
    assert tracks[0].confidence == frames[-1][1]  # the latest, not the best


def test_ids_increase_from_one_per_instance() -> None:
    first, second = ByteTracker(min_hits=1), ByteTracker(min_hits=1)
    tracks = first.update([det(0.2, 0.2), det(0.5, 0.5), det(0.8, 0.8)], 0.0)
    assert ids(tracks) == [1, 2, 3]
    first.update([], 4.0)  # a frame that saw none of them, more than max_coast_s later
    assert ids(first.update([det(0.2, 0.8)], 5.0)) == [4]  # the others expired
    assert ids(second.update([det(0.5, 0.5)], 0.0)) == [1]


def test_reset_clears_everything() -> None:
    tracker = ByteTracker()
    for k in range(5):
        tracker.update([det(0.2, 0.2), det(0.6, 0.6)], 0.1 * k)
    tracker.reset()
    assert tracker.update([], 0.5) == []
    assert tracker.update([det(0.6, 0.6)], 0.6) == []  # tentative again, not a continuation
    assert ids(tracker.update([det(0.6, 0.6)], 0.7)) == [1]


def test_repeated_timestamp_does_not_break_velocity() -> None:
    tracker = ByteTracker()
    tracker.update([det(0.5, 0.5)], 1.0)
    tracker.update([det(0.5, 0.5)], 1.0)
    (track,) = tracker.update([], 1.5)
    assert track.box == det(0.5, 0.5).box


@pytest.mark.parametrize(
    "kwargs",
    [
        {"low_threshold": 0.5, "high_threshold": 0.4},
        {"low_threshold": -0.1},
        {"high_threshold": 1.5},
        {"new_track_threshold": 1.1},
        {"match_iou": 0.0},
        {"match_iou": 1.2},
        {"max_coast_s": -1.0},
        {"max_coast_s": float("inf")},
        {"min_hits": 0},
    ],
)
def test_invalid_settings_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ByteTracker(**kwargs)  # type: ignore[arg-type]


_coord = st.floats(0.0, 1.0, allow_nan=False)
_box = st.builds(Box, _coord, _coord, _coord, _coord)


@given(st.lists(_box, max_size=6), st.lists(_box, max_size=6))
def test_iou_matrix_agrees_with_box_iou(a: list[Box], b: list[Box]) -> None:
    m = iou_matrix(boxes_array(a), boxes_array(b))
    assert m.shape == (len(a), len(b))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            assert m[i, j] == pytest.approx(p.iou(q), abs=1e-12)


@pytest.mark.parametrize(
    ("scores", "pairs"),
    [
        ([[0.9, 0.8], [0.85, 0.1]], [(0, 0)]),  # row 1's only option above 0.3 is taken
        ([[0.5, 0.9], [0.9, 0.5]], [(0, 1), (1, 0)]),
        ([[0.2, 0.29]], []),
        ([[0.6, 0.6], [0.6, 0.6]], [(0, 0), (1, 1)]),  # ties: lower row, then lower column
        (np.zeros((0, 3)), []),
    ],
)
def test_greedy_match(scores: list[list[float]], pairs: list[tuple[int, int]]) -> None:
    assert greedy_match(np.asarray(scores, dtype=np.float64), 0.3) == pairs


def test_a_lift_cameras_tracker_reports_from_the_first_match() -> None:
    """The lift rule's own min_hits confirms an e-bike; its tracker must not add a frame of
    delay. Other cameras keep the tracker's confirmation on the second match."""

    def camera(kind: str) -> Camera:
        zone = {"id": "z", "kind": kind, "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}
        return Camera.model_validate({"id": "c", "source": "0", "zones": [zone]})

    bike = [det(0.5, 0.5, conf=0.8, cls="motorcycle", cat=Category.TWO_WHEELER)]
    assert len(tracker_for(camera("lift")).update(bike, 0.0)) == 1
    parking = tracker_for(camera("no_parking"))
    assert parking.update(bike, 0.0) == []
    assert len(parking.update(bike, 0.2)) == 1
