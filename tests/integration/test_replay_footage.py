"""Real footage through the real pipeline: detector, tracker, zone rules, alert manager, evidence.

Each test replays a sample clip or picture from the shared material with `edge.replay.replay`
(the same code as `edge replay`) and checks the alert events it prints against what a person
sees in the footage. The expectations were written by looking at the frames, not by recording
what the code printed. Each test says which frames were looked at and what they show.

Needs the shared models and footage (GRID_SHARED_DIR, default ../shared); skips without them.
Run time is about 25 s on a 2-core machine: one replay per footage file, shared by the tests
that check it (module-scoped fixtures), each at the lowest detect_fps that works.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from edge.config.loader import SiteConfig, load_config
from edge.messages import Box
from edge.replay import ReplayResult, replay

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "config" / "examples"
# Replays are anchored to this wall-clock instant (2026-01-01T00:00:00Z), so an alert's
# timestamps minus EPOCH are positions in the video.
EPOCH = 1_767_225_600.0

LOT_CLIP = "videos/parking_lot_cctv_timelapse.mp4"
ROAD_CLIP = "videos/road_traffic_cars.mp4"
FORECOURT = "images/parking/forecourt_parked_cars_qengineering.jpg"
LIFT_DIR = "images/elevator_ebike"

Event = dict[str, Any]
BoxT = tuple[float, float, float, float]


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Replayed:
    """What one replay printed, and where its evidence went."""

    events: list[Event]
    result: ReplayResult
    snapshots: Path
    frame_size: tuple[int, int]  # (width, height) of the source

    def alerts(self) -> dict[str, list[Event]]:
        """Events grouped by alert id, in the order they were printed."""
        out: dict[str, list[Event]] = {}
        for e in self.events:
            out.setdefault(e["id"], []).append(e)
        return out

    def raised(self) -> list[Event]:
        return [e for e in self.events if e["event"] == "raised"]


def video_s(stamp: str) -> float:
    """An alert timestamp (ISO 8601, Z) as seconds from the start of the replayed source."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() - EPOCH


def box_of(values: Sequence[float]) -> Box:
    return Box(*(float(v) for v in values))


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    return box_of(a).iou(box_of(b))


def frame_size(source: Path) -> tuple[int, int]:
    if source.suffix.lower() in {".jpg", ".jpeg", ".png"}:
        image = cv2.imread(str(source))
        assert image is not None, source
        return int(image.shape[1]), int(image.shape[0])
    cap = cv2.VideoCapture(str(source))
    try:
        ok, image = cap.read()
        assert ok, source
        return int(image.shape[1]), int(image.shape[0])
    finally:
        cap.release()


def run_replay(
    site: SiteConfig,
    camera_id: str,
    source: Path,
    work: Path,
    *,
    still_seconds: float = 5.0,
) -> Replayed:
    out = io.StringIO()
    snapshots = work / "snapshots"
    result = replay(
        site,
        camera_id,
        source,
        out,
        still_seconds=still_seconds,
        snapshots_dir=snapshots,
        epoch=EPOCH,
    )
    events = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    assert result.events == len(events)
    return Replayed(events, result, snapshots, frame_size(source))


def example(name: str, models_dir: Path) -> SiteConfig:
    """An example config from config/examples, with the shared models (GRID_SHARED_DIR)."""
    # Camera sources in the examples point at ../../../shared/data; the tests pass the source
    # from data_dir explicitly, so the files are not required where the YAML says.
    return load_config(EXAMPLES / name, models_dir=models_dir, check_files=False)


def site_in(tmp: Path, models_dir: Path, camera: dict[str, Any]) -> SiteConfig:
    """A one-camera site config written to `tmp` and loaded like any other."""
    doc = {
        "site": {"id": "test-site"},
        "node": {"id": "test-node"},
        "models": {"dir": str(models_dir), "detector": "yolov8n_int8.onnx"},
        "storage": {"dir": str(tmp / "var")},
        "cameras": [camera],
    }
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_config(path)


def assert_lifecycle(events: list[Event]) -> None:
    """One alert's events: raised first (seq 1), seq counting up, nothing after cleared."""
    assert events[0]["event"] == "raised", events[0]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["event"] for e in events].count("raised") == 1
    cleared = [i for i, e in enumerate(events) if e["event"] == "cleared"]
    assert cleared in ([], [len(events) - 1]), [e["event"] for e in events]


# ------------------------------------------------------------------------------------------------
# The example configs
# ------------------------------------------------------------------------------------------------

EXAMPLE_SOURCES = {
    "parking_lot.yaml": {"lot": LOT_CLIP},
    "fire_lane.yaml": {"forecourt": FORECOURT},
    "lift.yaml": {"lift-2": f"{LIFT_DIR}/etoilesha_ebike_2024-01-01_12-07-27.png"},
    "site.yaml": {
        "lot": LOT_CLIP,
        "forecourt": FORECOURT,
        "lift-2": f"{LIFT_DIR}/etoilesha_ebike_2024-01-01_12-07-27.png",
    },
}


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(EXAMPLE_SOURCES))
def test_example_config_loads_and_points_at_the_sample_footage(
    name: str, models_dir: Path, data_dir: Path
) -> None:
    site = load_config(EXAMPLES / name, models_dir=models_dir, check_files=False)
    assert site.detector_path.is_file()
    assert site.storage_dir.resolve() == (REPO / "var").resolve()
    sources = {c.id: c.source for c in site.settings.cameras}
    assert sources == {
        cam: f"../../../shared/data/{rel}" for cam, rel in EXAMPLE_SOURCES[name].items()
    }
    for rel in EXAMPLE_SOURCES[name].values():
        assert (data_dir / rel).is_file(), rel
    if data_dir.resolve() == (REPO.parent / "shared" / "data").resolve():
        # The CI layout: the relative paths resolve, so the full check (files too) passes.
        load_config(EXAMPLES / name, models_dir=models_dir)


# ------------------------------------------------------------------------------------------------
# Parking lot time-lapse: one alert per parked car, each cleared when the car leaves
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parked:
    what: str
    box: BoxT  # where it stands (normalised x1, y1, x2, y2), from the frames
    arrives: float  # first frame it stands in its bay (video seconds)
    leaves: float  # first frame its bay is empty again


# Bay A is x 0.38-0.46, bay B x 0.44-0.53 (boxes of cars standing in them overlap a little).
LOT_PARKED = (
    Parked("silver hatchback, bay B", (0.44, 0.63, 0.51, 0.74), arrives=2.30, leaves=3.15),
    Parked("dark SUV with roof rails, bay A", (0.39, 0.64, 0.46, 0.77), arrives=2.40, leaves=3.40),
    Parked("black saloon, bay A", (0.38, 0.64, 0.45, 0.78), arrives=3.95, leaves=4.85),
    Parked("dark hatchback, bay B", (0.44, 0.62, 0.53, 0.76), arrives=6.05, leaves=7.15),
)


@pytest.fixture(scope="module")
def lot(models_dir: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    site = example("parking_lot.yaml", models_dir)
    return run_replay(site, "lot", data_dir / LOT_CLIP, tmp_path_factory.mktemp("lot"))


@pytest.mark.integration
def test_parking_lot_raises_one_alert_per_car_parked_past_grace_and_clears_it(
    lot: Replayed, models_dir: Path
) -> None:
    """The zone of config/examples/parking_lot.yaml over two front bays of the time-lapse.

    How the expectation was derived. The clip (640x480, 20 fps, 162 frames, 8.1 s) is a
    time-lapse of one working day. Frame differences show about 65 distinct stills, each held
    for 2-3 frames (0.10-0.15 s), so a car's stay of half an hour or more lasts only a fraction
    of a video second. Looked at: one frame per still (f45, f47, f49, f52 ... f158, f161),
    cropped to the front bays and enlarged 2x with a 0.05 grid and the detector's boxes
    drawn on:
    - 0-2.2 s: dawn, the front bays are empty. 3.45 s (f69) is a washed-out frame with no car.
    - Bay A (x 0.38-0.46, ground at y 0.77-0.79): a dark SUV with roof rails from f48 (2.40 s)
      to f67 (3.35 s). Empty f68-f78. A black saloon from f79 (3.95 s) to f96 (4.80 s). After
      that only a grey SUV for one still (f114-115).
    - Bay B (x 0.44-0.53, ground at y 0.74-0.77): a silver hatchback from f46 (2.30 s) to f62
      (3.10 s). A silver car for one still (f77-78). A dark hatchback (headlights on as it
      arrives) from f121 (6.05 s) to f142 (7.10 s). Empty from f143 to the end.
    - Beside the zone: the bay left of A has a grey hatchback 4.25-4.80 s and a dark grey car
      6.65-7.20 s, 0.55 s each. In the bays right of B, and in the left-hand bays, the next car
      often arrives less than 0.5 s after the last one left. The rule cannot tell such cars
      apart, because a zone clears only after clear_after_s, and that is 0.5 s at least. The
      row of small angled cars along the right-hand lane (x 0.8-0.96, y 0.52-0.62) is missed by
      the stock model. The zone leaves all of these out.
    With grace_s 0.5 (about half an hour of real time), the four cars above, which stay
    0.8-1.0 s, must each raise one alert. Nothing else in the zone stays long enough. Each alert
    must clear about clear_after_s (0.5 s) after its car leaves. The clip goes on to 8.05 s.
    detect_fps 10 samples every still. At 5 or 8 fps the tracker's two-hit confirmation plus the
    grace take longer than the silver hatchback's and the dark SUV's stays.
    """
    site = example("parking_lot.yaml", models_dir)
    (zone,) = site.settings.camera("lot").zones
    # The expectations below hold for these settings; change them together.
    assert site.settings.camera("lot").detect_fps == 10
    assert (zone.grace, zone.clear_after, zone.stationary_window_s) == (0.5, 0.5, 0.2)

    alerts = lot.alerts()
    assert len(alerts) == len(LOT_PARKED), [
        (e["event"], e["objects"][0]["box"], e["updated_at"]) for e in lot.events
    ]
    assert lot.result.open_at_end == 0

    matched: dict[str, str] = {}
    for alert_id, events in alerts.items():
        assert_lifecycle(events)
        raised, cleared = events[0], events[-1]
        assert raised["kind"] == "illegal_parking"
        assert raised["source"] == {"camera": "lot", "zone": "front-bays-ab", "sensor": None}
        raised_t = video_s(raised["updated_at"])
        box = raised["objects"][0]["box"]
        candidates = [
            p
            for p in LOT_PARKED
            if iou(box, p.box) >= 0.5 and p.arrives + zone.grace <= raised_t <= p.leaves
        ]
        assert len(candidates) == 1, (box, raised_t, candidates)
        car = candidates[0]
        matched[alert_id] = car.what
        assert raised["dwell_s"] >= zone.grace
        assert video_s(raised["started_at"]) >= car.arrives - 0.01
        # Cleared once the car has gone, within clear_after_s plus a couple of samples.
        assert cleared["event"] == "cleared", f"{car.what}: never cleared"
        cleared_t = video_s(cleared["cleared_at"])
        assert cleared_t > raised_t
        assert car.leaves <= cleared_t <= car.leaves + zone.clear_after + 0.25, car.what
    # Every parked car got exactly one alert.
    assert sorted(matched.values()) == sorted(p.what for p in LOT_PARKED)

    # Never two alerts for the same car: no two overlapping boxes open at the same time.
    spans = [
        (
            video_s(ev[0]["updated_at"]),
            video_s(ev[-1]["cleared_at"]),
            ev[0]["objects"][0]["box"],
        )
        for ev in alerts.values()
    ]
    for i, (start_a, end_a, box_a) in enumerate(spans):
        for start_b, end_b, box_b in spans[i + 1 :]:
            if start_a < end_b and start_b < end_a:
                assert iou(box_a, box_b) < 0.3, (box_a, box_b)


# ------------------------------------------------------------------------------------------------
# Moving traffic: no alert
# ------------------------------------------------------------------------------------------------

# The road surface of road_traffic_cars.mp4 (1280x720 telephoto), from the left kerb line to
# beyond the right lane line, up to the far end where the road bends left at y 0.33. The
# top-left corner keeps out a roadside sign at x 0.07-0.14 (ground y 0.34) that the model
# reports as a static `truck` 0.25-0.47.
ROAD_ZONE = [[0.13, 0.32], [0.52, 0.32], [1.0, 0.74], [1.0, 1.0], [0.37, 1.0], [0.16, 0.40]]


def road_camera(source: Path) -> dict[str, Any]:
    return {
        "id": "road",
        "source": str(source),
        "detect_fps": 2,
        "zones": [
            {
                "id": "road",
                "kind": "fire_lane",  # any vehicle; the strictest dwell rule
                "polygon": ROAD_ZONE,
                "grace_s": 3,
                "stationary_window_s": 1.5,
                "clear_after_s": 5,
            }
        ],
    }


@pytest.mark.integration
def test_moving_traffic_raises_nothing(models_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    """A fire_lane zone over the whole road of road_traffic_cars.mp4: every car keeps moving.

    Looked at frames every 0.5 s (f0, f15 ... f255) with a 0.1 grid and the detector's boxes:
    a steady two-lane stream towards the camera, 7-9 cars in view at once, none stopping. The
    far cars (y 0.23-0.34) are small and move slowly in the picture: about 0.01-0.02 of the
    frame width per second. The clip lasts 8.9 s. grace_s 3 with stationary_window_s 1.5
    leaves 3 s in which any car that stood still for 1.5 s and then another 3 s would be
    raised. No car does: the slowest far car still loses its overlap with where it was 1.5 s
    earlier (IoU about 0.3-0.45, below stationary_iou 0.6).
    The control below replays the first frame of the same clip as a still scene with the same
    zone and timings. The same cars, frozen, do raise, so the zone, detector and grace can
    raise, and the silence on the clip comes from the cars moving.
    """
    clip = data_dir / ROAD_CLIP
    moving = run_replay(site_in(tmp_path, models_dir, road_camera(clip)), "road", clip, tmp_path)
    assert moving.result.video_s > 8.0  # the whole clip was replayed
    assert moving.events == [], [
        (e["event"], e["objects"][0]["box"], e["updated_at"]) for e in moving.events
    ]

    cap = cv2.VideoCapture(str(clip))
    ok, first = cap.read()
    cap.release()
    assert ok
    still = tmp_path / "road_first_frame.png"  # in tmp only, never in the repository
    cv2.imwrite(str(still), first)
    frozen = run_replay(
        site_in(tmp_path / "frozen", models_dir, road_camera(clip)),
        "road",
        still,
        tmp_path / "frozen",
        still_seconds=5.0,
    )
    # On frame 0 the model boxes 8 vehicles whose ground point is on the road, and all 8 are
    # raised; asking for 4 leaves room for small changes in the model's scores.
    assert len(frozen.raised()) >= 4, frozen.events
    assert {e["kind"] for e in frozen.raised()} == {"fire_lane_blocked"}
    # The zone includes the far end, where the cars look slowest: a far car is raised when frozen.
    assert any(e["objects"][0]["box"][3] < 0.4 for e in frozen.raised()), frozen.events


# ------------------------------------------------------------------------------------------------
# Forecourt: the van in the fire lane, not the cars parked in rows beside it
# ------------------------------------------------------------------------------------------------

# From forecourt_parked_cars_qengineering.jpg (1326x825), drawn with a 0.1 grid.
SILVER_VAN = (0.42, 0.55, 0.58, 0.82)  # silver MPV standing in the middle of the lane
ROW_CARS = (  # white cars parked in rows left of the lane: boxes reach into it, ground points not
    (0.15, 0.53, 0.43, 0.70),
    (0.21, 0.43, 0.46, 0.56),
    (0.24, 0.31, 0.43, 0.42),
    (0.20, 0.37, 0.40, 0.46),
    (0.00, 0.63, 0.08, 0.77),
    (0.00, 0.72, 0.05, 0.87),
)
KERB_SIDE = (  # standing along the right-hand kerb by the cones, outside the lane zone
    (0.63, 0.44, 0.74, 0.64),  # beige van
    (0.66, 0.36, 0.76, 0.50),  # black saloon
    (0.58, 0.25, 0.75, 0.35),  # silver saloon by the entrance
)


@pytest.fixture(scope="module")
def forecourt(
    models_dir: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Replayed:
    site = example("fire_lane.yaml", models_dir)
    # still_seconds left at its default (5 s), longer than the zone's 3 s grace.
    return run_replay(site, "forecourt", data_dir / FORECOURT, tmp_path_factory.mktemp("fc"))


@pytest.mark.integration
def test_van_in_the_fire_lane_is_raised_and_the_parked_rows_are_not(
    forecourt: Replayed,
) -> None:
    """The zone of config/examples/fire_lane.yaml: the central driving lane of the forecourt.

    Looking at the picture with a 0.1 grid: the silver MPV/van stands in the middle of the lane
    (box x 0.42-0.58, y 0.55-0.82, ground point (0.50, 0.82)). Rows of white cars are parked
    on the left. Their fronts reach x 0.43-0.46, into the lane's box range, but their ground
    points are at x 0.29-0.34, outside the lane. A beige van, a black saloon and a silver
    saloon stand along the right-hand kerb by the orange cones (ground x 0.67-0.71), outside the
    lane. About 14 pedestrians walk down the lane; people are not vehicles. So: exactly one
    fire_lane_blocked alert, for the van, raised once grace_s (3 s) has passed after it was
    judged stationary, within the 5 s still scene.
    """
    alerts = forecourt.alerts()
    assert len(alerts) == 1, [(e["event"], e["objects"][0]["box"]) for e in forecourt.events]
    (events,) = alerts.values()
    assert_lifecycle(events)
    raised = events[0]
    assert raised["kind"] == "fire_lane_blocked"
    assert raised["severity"] == "major"
    assert raised["source"]["zone"] == "central-lane"
    (obj,) = raised["objects"]
    assert obj["category"] == "vehicle"
    assert iou(obj["box"], SILVER_VAN) >= 0.8, obj["box"]
    for other in (*ROW_CARS, *KERB_SIDE):
        assert iou(obj["box"], other) < 0.3, (obj["box"], other)
    assert raised["dwell_s"] >= 3.0
    assert 3.0 <= video_s(raised["updated_at"]) < 5.0
    # The van is still there when the still scene ends: the alert stays open.
    assert forecourt.result.open_at_end == 1


# ------------------------------------------------------------------------------------------------
# Lift: e-bikes the stock model sees are raised within a second; the rest are not (yet)
# ------------------------------------------------------------------------------------------------

# The e-bikes the stock yolov8n_int8 model reports as `motorcycle` at or above the lift's 0.3
# floor (see shared/data/SOURCES.md, "What the COCO model sees"), with their boxes as drawn on
# the pictures with a 0.1 grid.
LIFT_SEEN: dict[str, tuple[BoxT, ...]] = {
    # two e-bikes with leg covers and baskets at the lift door: motorcycle 0.65 and 0.60
    "etoilesha_ebike_2024-01-01_12-07-27.png": (
        (0.00, 0.17, 0.41, 0.99),
        (0.52, 0.28, 0.85, 0.95),
    ),
    # a man in a red shirt with a black e-bike inside the car, seen from the lobby: 0.67
    "etoilesha_ebike_2024-01-02_10-33-51.png": ((0.18, 0.61, 0.64, 1.00),),
}
# An e-bike (or e-scooter) is in every one of these pictures too, but the stock model does not
# report it as a two-wheeler at 0.3 or more: nothing at all on the four Lily-Le ceiling-CCTV
# frames (not even at 0.05) or on 10-31-29 / 10-31-42, and motorcycle 0.24 on 12-08-24 and 0.21
# on 12-08-53. So no alert is raised. That is a detector accuracy problem, not a rule problem:
# it needs a fine-tuned model with an e-bike class (models.classes), not a change here. These
# cases record today's behaviour, so a better model shows up as a failing expectation to update.
LIFT_MISSED = (
    "lilyle_elevator_cctv_5000.jpg",
    "lilyle_elevator_cctv_5003.jpg",
    "lilyle_elevator_cctv_5006.jpg",
    "lilyle_elevator_cctv_5009.jpg",
    "etoilesha_ebike_2024-01-01_12-08-24.png",
    "etoilesha_ebike_2024-01-01_12-08-53.png",
    "etoilesha_ebike_2024-01-02_10-31-29.png",
    "etoilesha_ebike_2024-01-02_10-31-42.png",
)
LIFT_STILL_S = 2.0  # the rule decides within confirm_s (1 s); 2 s shows nothing comes later


@pytest.fixture(scope="module")
def lift(
    models_dir: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Replayed]:
    """Each elevator picture replayed as a 2 s still scene through config/examples/lift.yaml."""
    site = example("lift.yaml", models_dir)
    return {
        name: run_replay(
            site,
            "lift-2",
            data_dir / LIFT_DIR / name,
            tmp_path_factory.mktemp("lift"),
            still_seconds=LIFT_STILL_S,
        )
        for name in (*LIFT_SEEN, *LIFT_MISSED)
    }


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(LIFT_SEEN))
def test_ebike_the_model_sees_is_raised_within_a_second(
    name: str, lift: dict[str, Replayed]
) -> None:
    replayed = lift[name]
    alerts = replayed.alerts()
    assert len(alerts) == 1, replayed.events
    (events,) = alerts.values()
    assert_lifecycle(events)
    raised = events[0]
    assert raised["kind"] == "ebike_in_lift"
    assert raised["severity"] == "critical"
    started, raised_at = video_s(raised["started_at"]), video_s(raised["updated_at"])
    # Confirmed within confirm_s of video time, and raised within 1 s of the scene's start.
    assert 0.0 <= started <= raised_at
    assert raised_at - started <= 1.0
    assert raised_at <= 1.0
    # The alert shows every e-bike in the picture, and nothing else.
    boxes = [o["box"] for o in raised["objects"]]
    assert all(o["category"] == "two_wheeler" for o in raised["objects"])
    assert len(boxes) == len(LIFT_SEEN[name]), boxes
    for expected in LIFT_SEEN[name]:
        assert max(iou(b, expected) for b in boxes) >= 0.8, (expected, boxes)
    # Still there when the scene ends: open, not cleared (clear_after_s is 10 s).
    assert replayed.result.open_at_end == 1


@pytest.mark.integration
@pytest.mark.parametrize("name", LIFT_MISSED)
def test_ebike_the_stock_model_misses_raises_nothing(name: str, lift: dict[str, Replayed]) -> None:
    # Accuracy, not logic: see LIFT_MISSED. A fine-tuned model is expected to turn these into
    # raised alerts.
    assert lift[name].events == []


# ------------------------------------------------------------------------------------------------
# Evidence: every raised alert's snapshot is on disk, a JPEG of the frame, matching its hash
# ------------------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("which", ["lot", "forecourt", "lift"])
def test_every_raised_alert_has_its_snapshot_on_disk(
    which: str, request: pytest.FixtureRequest
) -> None:
    value = request.getfixturevalue(which)
    replays: list[Replayed] = list(value.values()) if isinstance(value, dict) else [value]
    checked = 0
    for replayed in replays:
        width, height = replayed.frame_size
        for raised in replayed.raised():
            evidence = raised["evidence"]
            assert evidence is not None, raised["id"]
            assert evidence["content_type"] == "image/jpeg"
            assert evidence["snapshot_id"] == f"{raised['id']}-{raised['seq']}"
            path = replayed.snapshots / f"{evidence['snapshot_id']}.jpg"
            assert path.is_file(), path
            data = path.read_bytes()
            assert data[:3] == b"\xff\xd8\xff", "not a JPEG"
            assert len(data) == evidence["bytes"]
            assert hashlib.sha256(data).hexdigest() == evidence["sha256"]
            assert (evidence["width"], evidence["height"]) == (width, height)
            image = cv2.imread(str(path))
            assert image is not None
            assert (image.shape[1], image.shape[0]) == (width, height)
            checked += 1
    assert checked >= 1  # each footage raised at least one alert to check


# ------------------------------------------------------------------------------------------------
# A release that sticks (issue 13): the van released once never comes back while it stays
# ------------------------------------------------------------------------------------------------

BUS_FROM_S, BUS_TO_S, CLIP_END_S = 15.0, 50.0, 80.0


@pytest.fixture(scope="module")
def van_hidden_by_a_bus(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """80 s of the forecourt at 2 fps: the van stands in the fire lane throughout, and
    from 15 s to 50 s a bus-sized grey block stands in front of it (longer than the zone's
    clear_after_s, 30 s, so the rule clears, and the van comes back as a new occupant and a new
    track). Every frame is the real picture, moved by up to 2 px, as a mast in the wind moves a
    camera; the block is the only thing painted."""
    image = cv2.imread(str(data_dir / FORECOURT))
    assert image is not None
    h, w = image.shape[:2]
    path = tmp_path_factory.mktemp("bus") / "van_hidden_by_a_bus.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 2.0, (w, h))
    try:
        for i in range(int(CLIP_END_S * 2)):
            t = i / 2.0
            shift = np.float32([[1, 0, (i % 5) - 2], [0, 1, (i % 3) - 1]])
            frame = cv2.warpAffine(image, shift, (w, h), borderMode=cv2.BORDER_REPLICATE)
            if BUS_FROM_S <= t < BUS_TO_S:
                x1, y1, x2, y2 = int(0.36 * w), int(0.45 * h), int(0.66 * w), int(0.95 * h)
                frame[y1:y2, x1:x2] = (128, 128, 128)
            writer.write(frame)
    finally:
        writer.release()
    return path


@pytest.mark.integration
@pytest.mark.parametrize("release_each", [False, True])
def test_a_released_van_never_comes_back_while_it_stays(
    release_each: bool, van_hidden_by_a_bus: Path, models_dir: Path, tmp_path: Path
) -> None:
    """Without a release, the van hidden by the bus for 35 s is raised twice: the rule cleared
    it while hidden (nothing to see), then saw it stop again. Released once, it gives zero
    further alerts over the rest of the clip: the bus, the new track and the new occupant
    change nothing, because the place stays silent for the zone's release_hold_s (300 s)."""
    site = example("fire_lane.yaml", models_dir)
    (zone,) = site.settings.camera("forecourt").zones
    assert (zone.clear_after, zone.release_hold) == (30.0, 300.0)
    out = io.StringIO()
    replay(site, "forecourt", van_hidden_by_a_bus, out, snapshots_dir=tmp_path, epoch=EPOCH,
           release_each=release_each)  # fmt: skip
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    raised = [e for e in events if e["event"] == "raised"]
    for e in raised:
        assert iou(e["objects"][0]["box"], SILVER_VAN) >= 0.6, e["objects"][0]["box"]
    if not release_each:
        assert len(raised) == 2, [(e["event"], e["updated_at"]) for e in events]
        assert video_s(raised[1]["updated_at"]) > BUS_TO_S
        return
    assert len(raised) == 1, [(e["event"], e["updated_at"]) for e in events]
    assert [e["event"] for e in events] == ["raised", "released"]
    assert video_s(raised[0]["updated_at"]) < BUS_FROM_S
