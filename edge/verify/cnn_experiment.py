"""The tiny crop CNN, measured: alone and with the verifier, held-out source groups, real lift
views apart from photos taken elsewhere (docs/verifier.md, section 3b). An experiment: needs
torch (the `train` extra) and the feature cache of an `eval-lift --cache` run.

    python -m edge.verify.cnn_experiment --data ../shared/datasets/ebike_lift \\
        --labels datasets/ebike_lift/labels.csv --detector ../shared/models/yolov8n_int8.onnx \\
        --cache DIR --out /tmp/cnn-exp \\
        --group etoilesha,bicycles_a --group lilyle,cemreefe,bicycles_b --group qwaiz,ruoclio

Each `--group` is a set of folds of `datasets/ebike_lift/splits/loso` held out together: one
CNN and one verifier (the v1 recipe, `fit_verifier`) are trained without any of their sources
and judge all their pictures (a CNN takes minutes here, so the seven folds that hold real lift
views and bicycle photos are held out in three groups; each picture is still judged by models
that never saw its source, with less training data than one fold at a time would leave).
The candidates are the verifier's own (from the cached features, as at run time), cropped
from the picture; the CNN is exported to ONNX and scored with onnxruntime, as a node would.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.verify.augment import View
from edge.verify.cache import FeatureCache
from edge.verify.candidates import CandidateParams
from edge.verify.cnn_train import CnnParams, TinyCnn, export, n_params, train
from edge.verify.crop_cnn import CropClassifier, crop_boxes, stored_side
from edge.verify.dataset import (
    CLASSES,
    EBIKE,
    Fold,
    Item,
    ItemKind,
    coarse,
    load_data,
    read_split,
    train_items,
)
from edge.verify.evaluate import Rate, Scored, group_of, rates, truth_of, verifier_rule
from edge.verify.extract import FeatureSource, ItemFeatures, extract_all, load_view
from edge.verify.train import fit_verifier

OTHER = len(CLASSES) - 1
Crops = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class ItemCrops:
    cand: Crops
    cand_y: npt.NDArray[np.int64]
    obj: Crops
    obj_y: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Judged:
    """One evaluated picture: the stock score, the verifier's and the CNN's candidate scores."""

    item: Item
    fold: str
    stock: float
    v1_box: list[float]
    v1_frame: float
    cnn: list[float]

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.item.id,
            "fold": self.fold,
            "group": group_of(self.item),
            "truth": truth_of(self.item),
            "stock": self.stock,
            "v1_box": self.v1_box,
            "v1_frame": self.v1_frame,
            "cnn": self.cnn,
        }


def item_crops(item: Item, f: ItemFeatures, side: int) -> ItemCrops:
    image = load_view(View(item))
    size = stored_side(side)
    objects = [o for o in View(item).objects() if o.label != "ignore"]
    obj_y = [
        CLASSES.index(coarse(o.label)) if coarse(o.label) in CLASSES else OTHER for o in objects
    ]
    return ItemCrops(
        cand=crop_boxes(image, f.cand_boxes, size),
        cand_y=f.cand_y,
        obj=crop_boxes(image, [o.box for o in objects], size),
        obj_y=np.array(obj_y, dtype=np.int64),
    )


def training_rows(
    crops: Mapping[str, ItemCrops],
    ids: Sequence[str],
    rng: np.random.Generator,
    *,
    per_view: int = 3,
    other_per_view: int = 2,
    all_others: frozenset[str] = frozenset(),
) -> tuple[Crops, npt.NDArray[np.int64]]:
    """Every labelled object; per view up to `per_view` candidates the boxes settle as an
    object and `other_per_view` as `other` (at random): a few thousand rows, not twenty
    thousand near-copies of the same background. The views in `all_others` give all their
    `other` candidates (the lift views: the hard negatives are people and the car)."""
    xs: list[Crops] = []
    ys: list[npt.NDArray[np.int64]] = []
    for i in ids:
        c = crops[i]
        xs.append(c.obj)
        ys.append(c.obj_y)
        others = len(c.cand_y) if i in all_others else other_per_view
        for wanted, cap in (
            ((c.cand_y >= 0) & (c.cand_y != OTHER), per_view),
            (c.cand_y == OTHER, others),
        ):
            idx = np.flatnonzero(wanted)
            idx = rng.permutation(idx)[:cap]
            xs.append(c.cand[idx])
            ys.append(c.cand_y[idx])
    return np.concatenate(xs), np.concatenate(ys)


def run_group(
    name: str,
    items: Sequence[Item],
    fold: Fold,
    *,
    features: Sequence[ItemFeatures],
    crops: Mapping[str, ItemCrops],
    source: FeatureSource,
    out: Path,
    params: CnnParams,
    progress: Callable[[str], None],
    lift_others: bool = False,
) -> tuple[list[Judged], float]:
    train_ids = [it.id for it in train_items(items, fold) if it.id in crops]
    alarm_of = {it.id: it.alarm for it in items}
    model = fit_verifier(
        [f for f in features if f.item_id in set(train_ids)],
        alarm_of,
        source.spec,
        (source.model_path.name, source.sha256),
    ).with_decision("combined", 0.5)
    lift = frozenset(it.id for it in items if it.scene == "lift") if lift_others else frozenset()
    x, y = training_rows(crops, train_ids, np.random.default_rng(params.seed), all_others=lift)
    counts = ", ".join(
        f"{c} {n}" for c, n in zip(CLASSES, np.bincount(y, minlength=4), strict=True)
    )
    progress(f"group {name}: verifier fitted; CNN on {len(y)} crops ({counts})")
    trained = train(x, y, params, progress)
    onnx_path = out / f"cnn_{name.replace(',', '+')}.onnx"
    export(trained.model, onnx_path)
    cnn = CropClassifier(onnx_path, threads=1)
    plain = {f.item_id: f for f in features if f.plain}
    judged = []
    for it in items:
        if it.id not in fold.test_ids or it.id not in crops:
            continue
        f = plain[it.id]
        boxes = np.array([[b.x1, b.y1, b.x2, b.y2] for b in f.cand_boxes]).reshape(-1, 4)
        v1 = model.box.predict(model.box_inputs(f.cand_x, boxes, f.persons, f.two_wheelers))
        frame = model.frame.predict(model.frame_inputs(f.frame_x, f.persons, f.two_wheelers))
        p = cnn.predict(crops[it.id].cand)
        judged.append(
            Judged(
                it,
                name,
                f.stock_score,
                [float(v) for v in v1[:, EBIKE]],
                float(frame[0, EBIKE]),
                [float(v) for v in p[:, EBIKE]],
            )
        )
    return judged, trained.seconds


Variant = Callable[[Judged], float]


def _v1(j: Judged) -> float:
    return math.sqrt(max(j.v1_box) * j.v1_frame)


def _cnn(j: Judged) -> float:
    return max(j.cnn)


def _agree(j: Judged) -> float:
    """Both must say e-bike: the verifier's score when the CNN's best candidate agrees."""
    return _v1(j) if _cnn(j) >= 0.5 else 0.0


def _agree_same_box(j: Judged) -> float:
    """Both must say e-bike of the same box: the CNN on the verifier's best candidate."""
    best = int(np.argmax(j.v1_box))
    return _v1(j) if j.cnn[best] >= 0.5 else 0.0


def _blend(j: Judged) -> float:
    """Per candidate the geometric mean of the two box opinions, then with the whole car."""
    box = max(math.sqrt(a * b) for a, b in zip(j.v1_box, j.cnn, strict=True))
    return math.sqrt(box * j.v1_frame)


VARIANTS: dict[str, Variant] = {
    "verifier v1 recipe": _v1,
    "CNN alone": _cnn,
    "v1 and CNN agree": _agree,
    "v1 and CNN, same box": _agree_same_box,
    "blend (geometric)": _blend,
}
"""Fixed before any figure was seen; every threshold 0.5."""


def scored(judged: Sequence[Judged], variant: Variant) -> list[Scored]:
    return [Scored(j.item, j.fold, j.stock, 0.0, 0.0, variant(j), "") for j in judged]


def mcnemar(a: Sequence[bool], b: Sequence[bool]) -> tuple[int, int, float]:
    """Exact two-sided McNemar on paired verdicts (True = correct): (only a right, only b
    right, p)."""
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return only_a, only_b, 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return only_a, only_b, min(1.0, 2.0 * tail)


ROWS = (
    ("recall", "e-bike (recall)"),
    ("false_alarms_bicycle", "bicycle"),
    ("false_alarms_child_bicycle", "child's bicycle"),
    ("false_alarms_stroller", "stroller"),
    ("false_alarms_wheelchair", "wheelchair"),
    ("false_alarms_people_only", "people only"),
    ("false_alarms_empty", "empty car"),
    ("false_alarms", "no e-bike, all"),
)


def report(judged: Sequence[Judged], write: Callable[[str], None]) -> None:
    rule = verifier_rule(0.5)
    for group, title in (("lift", "REAL LIFT VIEWS"), ("other", "REAL PHOTOS ELSEWHERE")):
        write(f"\n{title} (held-out groups; alarm at 0.5; [95 % Wilson])")
        tables = {name: rates(scored(judged, v), rule, group) for name, v in VARIANTS.items()}
        stock = rates(scored(judged, lambda j: 1.0 if j.stock >= 0.3 else 0.0), rule, group)
        tables = {"stock >= 0.3": stock, **tables}
        write(f"{'':22s}" + "".join(f"{n:>30s}" for n in tables))
        for key, label in ROWS:
            cells: list[Rate] = [t[key] for t in tables.values()]
            write(f"{label:22s}" + "".join(f"{c!s:>30s}" for c in cells))
    lift = [j for j in judged if group_of(j.item) == "lift"]
    base = [(_v1(j) >= 0.5) == j.item.alarm for j in lift]
    write("\npaired against the v1 recipe on real lift views (exact McNemar):")
    for name, v in list(VARIANTS.items())[1:]:
        other = [(v(j) >= 0.5) == j.item.alarm for j in lift]
        for part, keep in (("e-bike views", True), ("views without", False)):
            a = [x for x, j in zip(base, lift, strict=True) if j.item.alarm is keep]
            b = [x for x, j in zip(other, lift, strict=True) if j.item.alarm is keep]
            only_v1, only_new, p = mcnemar(a, b)
            write(
                f"  {name:22s} {part:14s}: right only with v1 {only_v1:3d}, "
                f"only with it {only_new:3d}, p = {p:.3f}"
            )


def per_frame_cost(
    onnx_path: Path, items: Sequence[Item], features: Mapping[str, ItemFeatures]
) -> tuple[float, float, int]:
    """Median and p95 ms to crop and judge one real lift frame's candidates, 1 thread."""
    cnn = CropClassifier(onnx_path, threads=1)
    times = []
    n_cands = []
    for it in items:
        if it.kind is not ItemKind.FRAME or it.scene != "lift" or it.id not in features:
            continue
        image = load_view(View(it))
        boxes = features[it.id].cand_boxes
        for _ in range(2):
            t = time.perf_counter()
            cnn.judge(image, boxes)
            times.append(1000.0 * (time.perf_counter() - t))
        n_cands.append(len(boxes))
    arr = np.array(times)
    return float(np.median(arr)), float(np.percentile(arr, 95)), int(np.median(n_cands))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--data", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--detector", required=True)
    p.add_argument("--cache", required=True, help="feature cache of an eval-lift --cache run")
    p.add_argument("--split", help="fold lists (default: splits/loso beside --labels)")
    p.add_argument("--group", action="append", required=True, help="folds held out together")
    p.add_argument("--out", required=True, help="directory for the ONNX files and judged.json")
    p.add_argument("--epochs", type=int, default=CnnParams().epochs)
    p.add_argument("--side", type=int, default=CnnParams().side, help="network input side")
    p.add_argument(
        "--lift-others",
        action="store_true",
        help="train on every `other` candidate of the lift views, not 2 per view",
    )
    args = p.parse_args(argv)

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    items = load_data(Path(args.data), Path(args.labels))
    items = [it for it in items if it.kind is not ItemKind.SYNTHETIC]
    split = Path(args.split) if args.split else Path(args.labels).parent / "splits" / "loso"
    folds = {f.name: f for f in read_split(split)}
    source = FeatureSource(Path(args.detector), threads=1)
    cache = FeatureCache(Path(args.cache), source.sha256, CandidateParams())
    features = extract_all(source, items, augment=True, cache=cache)
    progress(f"features: {cache.hits} views from the cache, {cache.misses} computed")
    plain = {f.item_id: f for f in features if f.plain}
    crops = {it.id: item_crops(it, plain[it.id], args.side) for it in items if it.id in plain}
    progress(f"crops of {len(crops)} pictures")
    params = CnnParams(epochs=args.epochs, side=args.side)
    judged: list[Judged] = []
    seconds: dict[str, float] = {}
    for group in args.group:
        names = group.split(",")
        unknown = [n for n in names if n not in folds]
        if unknown:
            print(f"--group {group}: no fold {unknown} in {split}", file=sys.stderr)
            return 2
        fold = Fold(group, frozenset().union(*(folds[n].test_ids for n in names)))
        found, secs = run_group(
            group,
            items,
            fold,
            features=features,
            crops=crops,
            source=source,
            out=out,
            params=params,
            progress=progress,
            lift_others=args.lift_others,
        )
        judged += found
        seconds[group] = secs
        (out / "judged.json").write_text(json.dumps([j.to_json() for j in judged]) + "\n")
    last = out / f"cnn_{args.group[-1].replace(',', '+')}.onnx"
    median, p95, n = per_frame_cost(last, items, plain)
    print(f"tiny CNN: {n_params(TinyCnn(params.width))} parameters, input {args.side} px")
    print("training time per group (s): " + ", ".join(f"{g} {s:.0f}" for g, s in seconds.items()))
    print(
        f"CNN per real lift frame (crop + judge ~{n} candidates, 1 thread): "
        f"median {median:.1f} ms, p95 {p95:.1f} ms"
    )
    report(judged, print)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
