"""The lift verifier's pure parts: labels and splits, classifier, file format, candidates,
feedback, the lift rule driven by verdicts, and the alarm-level figures."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.messages import AlertEvent, AlertKind, Box, Severity, Transition
from edge.rules.lift import LiftRule
from edge.verify import candidates as cands
from edge.verify.augment import GREY, View, training_views
from edge.verify.cache import FeatureCache
from edge.verify.classifier import FitParams, Softmax, class_weights, fit
from edge.verify.context import BOX_CONTEXT, FRAME_CONTEXT
from edge.verify.dataset import (
    DatasetError,
    Fold,
    Item,
    ItemKind,
    LabelBox,
    check_folds,
    read_crop_folders,
    read_labels,
    source_folds,
    train_items,
)
from edge.verify.evaluate import (
    Scored,
    auc,
    confusion,
    cross_validate,
    group_of,
    rates,
    separability,
    stock_rule,
    summary,
    truth_of,
    verifier_rule,
    wilson,
)
from edge.verify.extract import SKIP, ItemFeatures, label_candidate, load_view
from edge.verify.features import FeatureSpec, frame_columns
from edge.verify.feedback import CropStore, save_feedback
from edge.verify.model_file import (
    VERSION,
    VerifierFileError,
    VerifierModel,
    check_detector,
    newest,
)
from edge.verify.verdict import Verdict
from tests.unit.scenes import zone

HEADER = "id,image,source,kind,alarm,region,boxes\n"
WHOLE_CAR = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]


def write_labels(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text("# made for a test\n" + HEADER + rows)
    return path


def test_labels_are_read_with_regions_and_boxes(tmp_path: Path) -> None:
    path = write_labels(
        tmp_path,
        "a,a.jpg,lift1,frame,1,,ebike 0.1 0.5 0.5 1.0;person 0.4 0.1 0.8 0.9\n"
        "a#1,a.jpg,lift1,subframe,0,0.5 0.0 1.0 1.0,ebike 0.1 0.5 0.5 1.0\n",
    )
    frame, sub = read_labels(path, tmp_path)
    assert frame.alarm and frame.path == tmp_path / "a.jpg" and len(frame.boxes) == 2
    assert sub.kind is ItemKind.SUBFRAME and not sub.alarm
    # Seen from the right half, the bike is gone and the person is re-normalised.
    assert sub.boxes_in_view() == []
    (person,) = frame.boxes_in_view()[1:]
    assert person.label == "person"


BAD_ROWS = {
    "bad box": ("a,a.jpg,s,frame,1,,ebike 0.5 0.5 0.2 1.0\n", "labels.csv:3"),
    "unknown box label": ("a,a.jpg,s,frame,1,,car 0 0 1 1\n", "box label 'car'"),
    "alarm not 0/1": ("a,a.jpg,s,frame,yes,,\n", "alarm must be 0 or 1"),
    "subframe without region": ("a,a.jpg,s,subframe,0,,\n", "region is required"),
    "unknown kind": ("a,a.jpg,s,video,0,,\n", "kind 'video'"),
    "duplicate id": ("a,a.jpg,s,frame,0,,\na,b.jpg,s,frame,0,,\n", "duplicate id"),
}


@pytest.mark.parametrize(("rows", "message"), BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_bad_labels_say_where_and_why(tmp_path: Path, rows: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        read_labels(write_labels(tmp_path, rows), tmp_path)


def test_crop_folders_are_a_dataset(tmp_path: Path) -> None:
    save_feedback(np.full((20, 30, 3), 7, np.uint8), "other", tmp_path)
    save_feedback(np.full((20, 30, 3), 9, np.uint8), "ebike", tmp_path)
    items = read_crop_folders(tmp_path)
    assert sorted((it.kind, it.alarm) for it in items) == [
        (ItemKind.CROP, False),
        (ItemKind.CROP, True),
    ]


def _item(id_: str, source: str, alarm: bool = False, kind: ItemKind = ItemKind.FRAME) -> Item:
    return Item(id_, Path(id_), source, kind, alarm)


def test_leave_one_source_out_keeps_sources_apart() -> None:
    items = [_item("a", "s1", True), _item("b", "s1"), _item("c", "s2", True)]
    items.append(_item("a-aug", "s1", True, ItemKind.AUGMENTED))
    folds = source_folds(items)
    assert [(f.name, sorted(f.test_ids)) for f in folds] == [("s1", ["a", "b"]), ("s2", ["c"])]
    assert [it.id for it in train_items(items, folds[1])] == ["a", "b", "a-aug"]
    assert [it.id for it in train_items(items, folds[0])] == ["c"]
    with pytest.raises(DatasetError, match="held out in both"):
        check_folds(items, [Fold("x", frozenset({"a"})), Fold("y", frozenset({"a"}))])


def test_classifier_learns_a_separable_problem() -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(-2, 1, (200, 5)), rng.normal(2, 1, (30, 5))])
    y = np.array([1] * 200 + [0] * 30, dtype=np.int64)
    model = fit(x, y, 2, FitParams(iterations=100))
    accuracy = (model.predict(x).argmax(axis=1) == y).mean()
    assert accuracy > 0.97
    w = class_weights(y, 2)
    assert w.sum() == pytest.approx(1.0)
    assert w[y == 0].sum() == pytest.approx(w[y == 1].sum())


def _spec() -> FeatureSpec:
    return FeatureSpec(("p3", "p4"), (2, 3), ("motorcycle",), ("person",), ("person", "car"))


def tiny_model() -> VerifierModel:
    rng = np.random.default_rng(0)
    spec = _spec()
    x = rng.normal(size=(40, spec.size))
    box = fit(x, np.arange(40, dtype=np.int64) % 4, 4, FitParams(iterations=5))
    xf = x[:, frame_columns(spec.map_dims, len(spec.score_names))]
    frame = fit(xf, np.arange(40, dtype=np.int64) % 2, 2, FitParams(iterations=5))
    return VerifierModel(box, frame, spec, "det.onnx", "ab" * 32, info={"pictures": 40})


def test_verifier_file_round_trip(tmp_path: Path) -> None:
    model = tiny_model().with_decision("box", 0.7)
    model.save(tmp_path / "v.npz")
    loaded = VerifierModel.load(tmp_path / "v.npz")
    assert (loaded.mode, loaded.threshold, loaded.spec) == ("box", 0.7, model.spec)
    x = np.ones((3, model.spec.size))
    np.testing.assert_allclose(loaded.box.predict(x), model.box.predict(x), rtol=1e-6)
    assert loaded.info["pictures"] == 40
    # The whole-car embedding: per map the maxima (columns 2-3 of p3, 7-9 of p4), then the
    # 2 class scores and 3 shape columns.
    assert frame_columns((2, 3), 2).tolist() == [2, 3, 7, 8, 9, 10, 11, 12, 13, 14]
    assert loaded.frame.n_inputs == loaded.spec.frame_size == 10


def _rewrite_meta(path: Path, **changes: object) -> None:
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"]))
    meta.update(changes)
    arrays["meta"] = np.array(json.dumps(meta))
    with path.open("wb") as f:
        np.savez(f, **arrays)


MISMATCHES = {
    "a newer format version": (
        {"version": VERSION + 1},
        f"format version {VERSION + 1}, but this node reads versions 2-{VERSION}; retrain it",
    ),
    "a version 1 file": ({"version": 1}, "format version 1, but this node reads versions 2-3"),
    "unknown context features": ({"context": {"box": ["x"], "frame": []}}, "context features"),
    "not a verifier file": ({"format": "something-else"}, "not a verifier file"),
    "other classes": ({"classes": ["ebike", "other"]}, "classes"),
}


@pytest.mark.parametrize(("changes", "message"), MISMATCHES.values(), ids=MISMATCHES.keys())
def test_mismatched_verifier_file_is_refused_clearly(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    path = tmp_path / "v.npz"
    tiny_model().save(path)
    _rewrite_meta(path, **changes)
    with pytest.raises(VerifierFileError, match=message):
        VerifierModel.load(path)


def test_other_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    with pytest.raises(VerifierFileError, match="not a verifier file"):
        VerifierModel.load(tmp_path / "x.npz")
    with pytest.raises(VerifierFileError, match="not found"):
        VerifierModel.load(tmp_path / "missing.npz")


def test_verifier_refuses_another_detector() -> None:
    with pytest.raises(VerifierFileError, match="retrain it with `edge models train-verifier"):
        check_detector(tiny_model(), Path("yolo11n_int8.onnx"), "cd" * 32)
    check_detector(tiny_model(), Path("det.onnx"), "ab" * 32)


def test_candidate_regions_stay_in_the_zone() -> None:
    region = Box(0.2, 0.0, 1.0, 0.8)
    grid = cands.grid_regions(region, 3)
    assert len(grid) == 10 and grid[0] == region
    assert all(region.x1 <= g.x1 < g.x2 <= region.x2 + 1e-9 for g in grid)
    person = Box(0.4, 0.2, 0.6, 0.8)
    clipped = [cands.clip(r, region) for r in cands.person_regions(person)]
    assert all(c is not None and c.x1 >= region.x1 and c.y2 <= region.y2 for c in clipped)
    assert cands.clip(Box(0.0, 0.0, 0.1, 0.1), region) is None


BIKE = Box(0.2, 0.4, 0.6, 1.0)
LABELS = {
    "the bike itself": (Box(0.2, 0.4, 0.6, 1.0), 0),
    "a box a bit larger than the bike": (Box(0.15, 0.35, 0.65, 1.0), 0),
    "far from the bike": (Box(0.7, 0.0, 1.0, 0.3), 3),
    "half of the bike (a half-hidden bike) counts": (Box(0.2, 0.4, 0.4, 1.0), 0),
    "a quarter of the bike: neither": (Box(0.2, 0.4, 0.3, 1.0), SKIP),
    "the whole picture: neither": (Box(0.0, 0.0, 1.0, 1.0), SKIP),
}


@pytest.mark.parametrize(("box", "label"), LABELS.values(), ids=LABELS.keys())
def test_candidates_are_labelled_by_overlap(box: Box, label: int) -> None:
    objects = [LabelBox("ebike", BIKE), LabelBox("person", Box(0.5, 0.0, 0.9, 1.0))]
    assert label_candidate(box, objects) == label


def test_feedback_files_crops_by_label_once(tmp_path: Path) -> None:
    crop = np.full((10, 12, 3), 50, np.uint8)
    first = save_feedback(crop, "other", tmp_path)
    assert first.parent == tmp_path / "other" and first.suffix == ".png"
    assert save_feedback(crop, "other", tmp_path) == first
    with pytest.raises(ValueError, match="label must be one of"):
        save_feedback(crop, "scooter", tmp_path)
    with pytest.raises(ValueError, match="BGR"):
        save_feedback(np.zeros((4, 4), np.uint8), "ebike", tmp_path)


def test_crop_store_keeps_the_newest(tmp_path: Path) -> None:
    store = CropStore(tmp_path, max_files=2)
    for n in range(3):
        store.put(f"lift-1-z1-{n}", np.full((8, 8, 3), n, np.uint8))
    assert store.load("lift-1-z1-0") is None
    loaded = store.load("lift-1-z1-2")
    assert loaded is not None and int(loaded[0, 0, 0]) == 2
    with pytest.raises(ValueError, match="not a crop id"):
        store.load("../etc/passwd")


def _verdict(is_ebike: bool, n: int = 0) -> Verdict:
    return Verdict(is_ebike, 0.8 if is_ebike else 0.1, 0.9, 0.7, "ebike", BIKE, f"cam-z1-{n}")


def drive(rule: LiftRule, verdicts: list[bool], step: float = 0.25) -> list[AlertEvent]:
    events = []
    for n, ebike in enumerate(verdicts):
        rule.observe(_verdict(ebike, n))
        events += rule.update([], n * step)
    return events


def test_lift_rule_raises_on_verified_frames_and_carries_the_verdict() -> None:
    rule = LiftRule("cam", zone("lift", polygon=WHOLE_CAR, clear_after_s=2))
    events = drive(rule, [False, True, True, True] + [False] * 12)
    raised, cleared = events
    assert (raised.kind, raised.transition, raised.ts) == (
        AlertKind.EBIKE_IN_LIFT,
        Transition.RAISED,
        0.75,
    )
    assert raised.severity is Severity.CRITICAL
    assert raised.detail["verifier_score"] == 0.8 and raised.detail["crop_id"] == "cam-z1-3"
    assert [o.class_name for o in raised.objects] == ["ebike"]
    assert cleared.transition is Transition.CLEARED and cleared.ts == 2.75


def test_lift_rule_with_a_verifier_ignores_unverified_two_wheelers() -> None:
    rule = LiftRule("cam", zone("lift", polygon=WHOLE_CAR))
    assert drive(rule, [False] * 20) == []


def _scored(truth: str, score: float, stock: float, kind: ItemKind = ItemKind.FRAME) -> Scored:
    labels = {"people_only": "person", "bicycle": "bicycle"}
    boxes = (LabelBox(labels[truth], BIKE),) if truth in labels else ()
    item = Item(f"{truth}{score}", Path("x"), "s", kind, truth == "ebike", None, boxes)
    return Scored(item, "s", stock, score, score, score, "ebike")


def test_alarm_level_rates_and_confusion() -> None:
    scored = [
        _scored("ebike", 0.9, 0.0),
        _scored("ebike", 0.2, 0.5),
        _scored("people_only", 0.6, 0.0),
        _scored("bicycle", 0.1, 0.8),
        _scored("ebike", 0.9, 0.0, ItemKind.CROP),
    ]
    verifier = rates(scored, verifier_rule(0.5))
    assert (verifier["recall"].hits, verifier["recall"].total) == (1, 2)
    assert str(verifier["false_alarms"]) == "50.0% (1/2) [9-91]"
    assert verifier["false_alarms_people_only"].pct == 100.0
    assert verifier["crop_recall"].total == 1
    stock = confusion(scored, stock_rule(0.3))
    assert stock["ebike"] == (1, 1) and stock["bicycle"] == (1, 0)


def some_features(view: View) -> ItemFeatures:
    rng = np.random.default_rng(3)
    return ItemFeatures(
        item_id=view.item.id,
        view_id=view.id,
        cand_x=rng.normal(size=(3, 7)).astype(np.float32),
        cand_y=np.array([0, 3, SKIP], dtype=np.int64),
        cand_origin=("detector", "person", "grid"),
        cand_boxes=(Box(0.1, 0.2, 0.3, 0.4), Box(0.0, 0.0, 0.5, 0.5), Box(1 / 3, 0.0, 1.0, 1.0)),
        obj_x=np.zeros((0, 7), dtype=np.float32),
        obj_y=np.zeros(0, dtype=np.int64),
        frame_x=rng.normal(size=7).astype(np.float32),
        stock_score=0.123456789,
    )


def test_feature_cache_round_trips_exactly_and_misses_on_any_change(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(b"not really a png")
    ebike = (LabelBox("ebike", Box(0.1, 0.1, 0.6, 0.9)),)
    item = Item("a", image, "src", ItemKind.FRAME, True, boxes=ebike)
    view = View(item)
    cache = FeatureCache(tmp_path / "cache", "ab" * 32, cands.CandidateParams())
    assert cache.get(view) is None
    stored = some_features(view)
    cache.put(view, stored)
    got = cache.get(View(Item("renamed", image, "src", ItemKind.FRAME, True, boxes=ebike)))
    assert got is not None and got.item_id == "renamed"
    for name in ItemFeatures.__slots__:
        if name not in ("item_id", "view_id"):
            a, b = getattr(stored, name), getattr(got, name)
            assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b, name
    assert (cache.hits, cache.misses) == (1, 1)

    other_detector = FeatureCache(tmp_path / "cache", "cd" * 32, cands.CandidateParams())
    assert other_detector.get(view) is None
    assert cache.get(View(item, flip=True)) is None
    relabelled = Item("a", image, "src", ItemKind.FRAME, False)
    assert cache.get(View(relabelled)) is None
    image.write_bytes(b"an edited picture")  # another size (and modification time)
    assert cache.get(view) is None
    # A damaged entry is a miss, not an error.
    fresh = FeatureCache(tmp_path / "fresh", "ab" * 32, cands.CandidateParams())
    fresh.put(view, stored)
    (entry,) = (tmp_path / "fresh").rglob("*.npz")
    entry.write_bytes(b"garbage")
    assert fresh.get(view) is None


def test_camera_scale_views_keep_the_region_at_frame_scale(tmp_path: Path) -> None:
    image = np.full((100, 200, 3), 7, dtype=np.uint8)
    path = tmp_path / "lift.png"
    assert cv2.imwrite(str(path), image)
    boxes = (
        LabelBox("person", Box(0.1, 0.1, 0.3, 0.9)),
        LabelBox("ebike", Box(0.45, 0.5, 0.9, 0.9)),  # mostly outside the region
    )
    sub = Item("f#1", path, "s", ItemKind.SUBFRAME, False, Box(0.0, 0.0, 0.5, 1.0), boxes)
    views = training_views(sub, np.random.default_rng(0))
    assert [v.id for v in views] == ["f#1", "f#1#scale", "f#1|flip", "f#1#scale|flip"]
    scale = views[1]
    assert scale.item.region is None and scale.keep == sub.region
    assert [(o.label, o.box) for o in scale.objects()] == [
        ("person", Box(0.1, 0.1, 0.3, 0.9)),
        ("ignore", Box(0.45, 0.5, 0.5, 0.9)),
    ]
    seen = load_view(scale)
    assert seen.shape == image.shape  # the camera's scale, not the region's
    assert (seen[:, :100] == 7).all() and (seen[:, 100:] == GREY).all()
    flipped = load_view(views[3])
    assert (flipped[:, 100:] == 7).all() and (flipped[:, :100] == GREY).all()


def test_wilson_intervals_match_the_textbook_values() -> None:
    lo, hi = wilson(0, 1)
    assert lo == 0.0 and hi == pytest.approx(79.35, abs=0.01)
    lo, hi = wilson(44, 53)
    assert lo == pytest.approx(70.8, abs=0.1) and hi == pytest.approx(90.8, abs=0.1)
    assert wilson(5, 5)[1] == 100.0 and wilson(0, 0) == (0.0, 100.0)


def test_figures_keep_real_lift_views_other_photos_and_synthetic_views_apart() -> None:
    def item(name: str, kind: ItemKind, scene: str, label: str, alarm: bool = False) -> Item:
        boxes = (LabelBox(label, BIKE),) if label else ()
        return Item(name, Path("x"), "s", kind, alarm, None, boxes, scene)

    lift_bike = item("a", ItemKind.FRAME, "lift", "child_bicycle")
    web_bike = item("b", ItemKind.FRAME, "other", "bicycle")
    fake_bike = item("c", ItemKind.SYNTHETIC, "lift", "stroller")
    crop = item("d", ItemKind.CROP, "lift", "ebike", alarm=True)
    assert [group_of(i) for i in (lift_bike, web_bike, fake_bike, crop)] == [
        "lift",
        "other",
        "synthetic",
        "crop",
    ]
    assert truth_of(lift_bike) == "child_bicycle" and truth_of(fake_bike) == "stroller"
    legacy = item("e", ItemKind.FRAME, "other", "stroller_or_wheelchair")
    assert truth_of(legacy) == "wheelchair"
    # Every one alarms: each group counts only its own.
    scored = [Scored(i, "s", 0.0, 0.9, 0.9, 0.9, "ebike") for i in (lift_bike, web_bike, fake_bike)]
    rule = verifier_rule(0.5)
    assert rates(scored, rule, "lift")["false_alarms_child_bicycle"].total == 1
    assert rates(scored, rule, "lift")["false_alarms_bicycle"].total == 0
    assert rates(scored, rule, "other")["false_alarms_bicycle"].total == 1
    assert rates(scored, rule, "synthetic")["false_alarms_stroller"].total == 1
    # Without a group: real views only, never a synthetic one.
    assert rates(scored, rule)["false_alarms"].total == 2
    assert rates(scored, rule)["false_alarms_stroller"].total == 0


def test_a_synthetic_view_leaves_training_with_any_of_its_sources(tmp_path: Path) -> None:
    path = write_labels(
        tmp_path,
        "q,q.jpg,qwaiz,frame,1,,\n"
        "b,b.jpg,bicycles_a,frame,0,,\n"
        "s1,s1.jpg,lilyle+bicycles_a,synthetic,0,,\n"
        "s2,s2.jpg,qwaiz+bicycles_b,synthetic,0,,\n"
        "s3,s3.jpg,lilyle+bicycles_b,synthetic,1,,\n",
    )
    items = read_labels(path, tmp_path)
    assert items[2].sources == frozenset({"lilyle", "bicycles_a"})
    folds = source_folds(items)
    assert [f.name for f in folds] == ["bicycles_a", "qwaiz"]  # synthetic views are no fold
    by_name = {f.name: f for f in folds}
    assert [i.id for i in train_items(items, by_name["bicycles_a"])] == ["q", "s2", "s3"]
    assert [i.id for i in train_items(items, by_name["qwaiz"])] == ["b", "s1", "s3"]


def test_the_scene_column_is_optional_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(
        "id,image,source,kind,alarm,region,boxes,scene\n"
        "a,a.jpg,web,frame,0,,child_bicycle 0.1 0.1 0.5 0.5,other\n"
        "b,b.jpg,lift1,frame,0,,wheelchair 0.1 0.1 0.5 0.5,lift\n"
    )
    a, b = read_labels(path, tmp_path)
    assert (a.scene, b.scene) == ("other", "lift")
    path.write_text("id,image,source,kind,alarm,region,boxes,scene\na,a.jpg,w,frame,0,,,outside\n")
    with pytest.raises(DatasetError, match=r"labels.csv:2: scene must be one of"):
        read_labels(path, tmp_path)
    path.write_text("id,image,source,kind,alarm,region,boxes,scene\na,a.jpg,w+,synthetic,0,,,\n")
    with pytest.raises(DatasetError, match="empty part"):
        read_labels(path, tmp_path)


def test_context_features_round_trip_and_a_version_2_file_still_loads(tmp_path: Path) -> None:
    plain = tiny_model()
    path = tmp_path / "v2.npz"
    plain.save(path)
    _rewrite_meta(path, version=2)
    assert VerifierModel.load(path).context is False
    n_box, n_frame = plain.spec.size + len(BOX_CONTEXT), plain.spec.frame_size + len(FRAME_CONTEXT)

    def softmax(n: int, k: int) -> Softmax:
        z = np.zeros(n, np.float32)
        return Softmax(
            z, np.ones(n, np.float32), np.zeros((n, k), np.float32), np.zeros(k, np.float32)
        )

    ctx = replace(plain, box=softmax(n_box, 4), frame=softmax(n_frame, 2), context=True)
    ctx.save(tmp_path / "v3.npz")
    loaded = VerifierModel.load(tmp_path / "v3.npz")
    assert loaded.context and loaded.box.n_inputs == n_box
    x = loaded.box_inputs(
        np.zeros((1, plain.spec.size), np.float32), [[0.1, 0.5, 0.3, 0.9]], [], []
    )
    assert x.shape == (1, n_box)


def _at(box: Box, rider: bool = False, n: int = 0) -> Verdict:
    return Verdict(True, 0.8, 0.9, 0.7, "ebike", box, f"cam-z1-{n}", rider)


LEFT, RIGHT = Box(0.0, 0.5, 0.2, 0.9), Box(0.75, 0.1, 0.95, 0.4)


def run_track(rule: LiftRule, verdicts: list[Verdict], step: float = 0.2) -> list[AlertEvent]:
    events = []
    for n, v in enumerate(verdicts):
        rule.observe(v)
        events += rule.update([], n * step)
    return events


def test_a_verdict_jumping_around_the_car_never_builds_a_track() -> None:
    jumping = [_at(LEFT if n % 2 else RIGHT, n=n) for n in range(15)]
    assert run_track(LiftRule("cam", zone("lift", polygon=WHOLE_CAR)), jumping) == []
    # Judged frame by frame (verifier_frames 1), the same verdicts raise on the third frame.
    alone = LiftRule("cam", zone("lift", polygon=WHOLE_CAR, verifier_frames=1))
    (raised,) = run_track(alone, jumping)
    assert raised.ts == pytest.approx(0.4)


def test_a_moving_e_bike_builds_a_track_and_raises_without_extra_delay() -> None:
    moving = [_at(Box(0.1 + 0.03 * n, 0.5, 0.4 + 0.03 * n, 0.95), n=n) for n in range(6)]
    rule = LiftRule("cam", zone("lift", polygon=WHOLE_CAR, verifier_frames=3))
    (raised,) = run_track(rule, moving)
    assert raised.ts == pytest.approx(0.4)  # the third verified frame, as before tracks
    # Five frames needed: raised on the fifth, and the first four count as hits too.
    rule = LiftRule("cam", zone("lift", polygon=WHOLE_CAR, verifier_frames=5, min_hits=3))
    (raised,) = run_track(rule, moving)
    assert raised.ts == pytest.approx(0.8) and raised.started == 0.0  # from its first frame


def test_the_rider_pattern_when_required() -> None:
    z = zone("lift", polygon=WHOLE_CAR, verifier_rider=True)
    assert run_track(LiftRule("cam", z), [_at(BIKE, n=n) for n in range(10)]) == []
    with_rider = [_at(BIKE, rider=n == 1, n=n) for n in range(10)]
    (raised,) = run_track(LiftRule("cam", z), with_rider)
    assert raised.ts == pytest.approx(0.4)


@pytest.mark.parametrize("value", [0, 51, "three"])
def test_verifier_frames_is_checked(value: object) -> None:
    with pytest.raises(ValueError, match="verifier_frames"):
        zone("lift", polygon=WHOLE_CAR, verifier_frames=value)


def test_the_newest_verifier_is_chosen_by_the_number_in_its_name(tmp_path: Path) -> None:
    for name in ("ebike_lift_v1.npz", "ebike_lift_v9.npz", "ebike_lift_v10.npz", "other_v99.npz"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "ebike_lift_vX.npz").write_bytes(b"")
    assert newest(tmp_path).name == "ebike_lift_v10.npz"
    with pytest.raises(VerifierFileError, match=r"no ebike_lift_v<N>\.npz"):
        newest(tmp_path / "nothing")


def test_auc_says_whether_a_score_tells_two_classes_apart() -> None:
    assert auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auc([0.1], [0.9]) == 0.0
    assert auc([0.5, 0.5], [0.5]) == 0.5  # ties count half
    assert auc([0.9, 0.3], [0.5, 0.1]) == 0.75  # 3 of the 4 pairs ranked right
    assert np.isnan(auc([], [0.2]))


def test_separability_is_per_group_and_per_class_and_reaches_the_json() -> None:
    def scored(name: str, kind: ItemKind, label: str, score: float, alarm: bool) -> Scored:
        boxes = (LabelBox(label, BIKE),) if label else ()
        item = Item(name, Path("x"), "s", kind, alarm, None, boxes, "lift")
        return Scored(item, "s", 0.0, score, 1.0 - score, score, "ebike")

    views = [
        scored("e1", ItemKind.FRAME, "ebike", 0.9, True),
        scored("e2", ItemKind.FRAME, "ebike", 0.4, True),
        scored("b1", ItemKind.FRAME, "bicycle", 0.6, False),
        scored("p1", ItemKind.FRAME, "person", 0.1, False),
        # A synthetic bicycle that outscores every e-bike: only the synthetic group sees it.
        scored("s1", ItemKind.SYNTHETIC, "ebike", 0.3, True),
        scored("s2", ItemKind.SYNTHETIC, "bicycle", 0.95, False),
    ]
    lift = separability(views, "score", "lift")
    assert lift["bicycle"] == 0.5 and lift["people_only"] == 1.0
    assert np.isnan(lift["wheelchair"])
    assert separability(views, "score", "synthetic")["bicycle"] == 0.0
    assert separability(views, "frame", "lift")["people_only"] == 0.0  # ranked by that field
    figures = summary(views, 0.5, 0.3)
    assert figures["verifier"]["lift.auc_bicycle"] == 0.5
    assert figures["verifier"]["synthetic.auc_bicycle"] == 0.0
    assert figures["verifier"]["lift.auc_wheelchair"] == -1.0  # unmeasured


def test_synthetic_views_can_be_judged_without_being_trained_on(tmp_path: Path) -> None:
    path = write_labels(
        tmp_path,
        "q1,q1.jpg,qwaiz,frame,1,,\n"
        "q2,q2.jpg,qwaiz,frame,0,,\n"
        "l1,l1.jpg,lilyle,frame,1,,\n"
        "l2,l2.jpg,lilyle,frame,0,,\n"
        "s1,s1.jpg,qwaiz+bicycles_a,synthetic,0,,\n"
        "s2,s2.jpg,lilyle+bicycles_a,synthetic,1,,\n",
    )
    items = read_labels(path, tmp_path)
    spec = _spec()
    rng = np.random.default_rng(5)
    features = [
        ItemFeatures(
            item_id=it.id,
            view_id=it.id,
            cand_x=rng.normal(size=(2, spec.size)).astype(np.float32),
            cand_y=np.array([0 if it.alarm else 3, 3], dtype=np.int64),
            cand_origin=("detector", "grid"),
            cand_boxes=(BIKE, Box(0.0, 0.0, 1.0, 1.0)),
            obj_x=np.zeros((0, spec.size), dtype=np.float32),
            obj_y=np.zeros(0, dtype=np.int64),
            frame_x=rng.normal(size=spec.frame_size).astype(np.float32),
            stock_score=0.0,
        )
        for it in items
    ]
    folds = source_folds(items)
    said: list[str] = []
    for train_synthetic in (True, False):
        scored = cross_validate(
            items,
            features,
            folds,
            spec,
            ("det.onnx", "ab" * 32),
            progress=said.append,
            train_synthetic=train_synthetic,
        )
        # Either way each synthetic view is judged, in the fold of its lift.
        assert sorted((s.item.id, s.fold) for s in scored if s.group == "synthetic") == [
            ("s1", "qwaiz"),
            ("s2", "lilyle"),
        ]
    # Holding out lilyle leaves q1, q2 and s1 to train on; without synthetic views, two.
    assert "fold 1/2 lilyle: train on 3 pictures" in said[0]
    assert "fold 1/2 lilyle: train on 2 pictures" in said[2]
