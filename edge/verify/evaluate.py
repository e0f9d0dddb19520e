"""Alarm-level evaluation: one verdict per picture, as the lift rule would raise it.

A picture is one camera view of a lift car (a frame, or a people-only / empty part of one) or an
object crop. Each gets the verifier's scores and the stock detector's best two-wheeler score.
With a split (leave-one-source-out), each picture is judged by a verifier trained without any
picture of its source, so the figures say how it does on a lift it has never seen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edge.verify.dataset import CLASSES, EBIKE, Fold, Item, ItemKind, train_items
from edge.verify.extract import ItemFeatures
from edge.verify.features import FeatureSpec
from edge.verify.model_file import VerifierModel
from edge.verify.train import Progress, TrainParams, fit_verifier

TRUTHS = (
    "ebike",
    "bicycle",
    "child_bicycle",
    "stroller",
    "wheelchair",
    "people_only",
    "empty",
)
NEGATIVES = TRUTHS[1:]
GROUPS = ("lift", "other", "synthetic", "crop")
"""Where a picture comes from, never mixed in one figure: a real lift view, a real photo taken
elsewhere (web photos of wheelchairs, bicycles, kick scooters), a synthetic lift view made here,
an object crop."""
_FINE_ORDER = (
    ("child_bicycle", "child_bicycle"),
    ("stroller", "stroller"),
    ("wheelchair", "wheelchair"),
    ("stroller_or_wheelchair", "wheelchair"),
    ("bicycle", "bicycle"),
)


@dataclass(frozen=True, slots=True)
class Scored:
    item: Item
    fold: str
    stock: float
    box: float
    frame: float
    score: float
    label: str

    @property
    def truth(self) -> str:
        return truth_of(self.item)

    @property
    def view(self) -> bool:
        """A camera view (alarm level), not an object crop."""
        return self.item.kind is not ItemKind.CROP

    @property
    def group(self) -> str:
        return group_of(self.item)


def group_of(item: Item) -> str:
    """`lift`, `other`, `synthetic` or `crop` (see GROUPS)."""
    if item.kind is ItemKind.SYNTHETIC:
        return "synthetic"
    if item.kind is ItemKind.CROP:
        return "crop"
    return "lift" if item.scene == "lift" else "other"


def truth_of(item: Item) -> str:
    """What the picture holds, as the alarm question sees it (the hardest negative first)."""
    if item.alarm:
        return "ebike"
    labels = {b.label for b in item.boxes_in_view()}
    for label, truth in _FINE_ORDER:
        if label in labels:
            return truth
    return "people_only" if "person" in labels else "empty"


def score_features(model: VerifierModel, f: ItemFeatures) -> tuple[float, float, float, str]:
    """(best box e-bike probability, whole-car probability, alarm score, best box's class)."""
    boxes = np.array([[b.x1, b.y1, b.x2, b.y2] for b in f.cand_boxes]).reshape(-1, 4)
    probs = model.box.predict(model.box_inputs(f.cand_x, boxes, f.persons, f.two_wheelers))
    best = int(np.argmax(probs[:, EBIKE]))
    box = float(probs[best, EBIKE])
    frame_x = model.frame_inputs(f.frame_x, f.persons, f.two_wheelers)
    frame = float(model.frame.predict(frame_x)[0, EBIKE])
    return box, frame, model.decide(box, frame), CLASSES[int(np.argmax(probs[best]))]


def apply(
    model: VerifierModel, items: Sequence[Item], features: Sequence[ItemFeatures], fold: str
) -> list[Scored]:
    """Score the evaluated pictures of `items` with one trained verifier."""
    plain = {f.item_id: f for f in features if f.plain}
    out = []
    for item in items:
        scored_kind = item.kind.evaluated or item.kind is ItemKind.SYNTHETIC
        if scored_kind and item.id in plain:
            f = plain[item.id]
            box, frame, score, label = score_features(model, f)
            out.append(Scored(item, fold, f.stock_score, box, frame, score, label))
    return out


def cross_validate(
    items: Sequence[Item],
    features: Sequence[ItemFeatures],
    folds: Sequence[Fold],
    spec: FeatureSpec,
    detector: tuple[str, str],
    *,
    params: TrainParams | None = None,
    decision: tuple[str, float] = ("combined", 0.5),
    progress: Progress | None = None,
    train_synthetic: bool = True,
) -> list[Scored]:
    """Leave each fold out in turn: train on the rest (all its views), score the fold.

    A synthetic view is scored (apart from the real ones) by the fold that holds out the lift
    its background came from (the first of its sources); its pasted object's photo may have
    been seen on another background, which is one more reason its figures are only a check.
    With `train_synthetic` False the synthetic views are judged but never trained on: the
    baseline that says what training on them bought.
    """
    alarm_of = {it.id: it.alarm for it in items}
    scored: list[Scored] = []
    for n, fold in enumerate(folds, 1):
        train_ids = {
            it.id
            for it in train_items(items, fold)
            if train_synthetic or it.kind is not ItemKind.SYNTHETIC
        }
        held = {s for it in items if it.id in fold.test_ids for s in it.sources}
        test = [it for it in items if it.id in fold.test_ids]
        test += [
            it
            for it in items
            if it.kind is ItemKind.SYNTHETIC
            and it.source.split("+")[0] in held
            and it.id not in train_ids
        ]
        if progress is not None:
            progress(
                f"fold {n}/{len(folds)} {fold.name}: train on {len(train_ids)} pictures, "
                f"test on {len(test)}"
            )
        model = fit_verifier(
            [f for f in features if f.item_id in train_ids],
            alarm_of,
            spec,
            detector,
            params=params,
        ).with_decision(*decision)
        scored += apply(model, test, features, fold.name)
    return scored


Rule = Callable[[Scored], bool]


def verifier_rule(threshold: float, which: str = "score") -> Rule:
    return lambda s: float(getattr(s, which)) >= threshold


def stock_rule(threshold: float) -> Rule:
    return lambda s: s.stock >= threshold


def wilson(hits: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95 % by default), in percent. It stays inside
    0..100 and is honest for the small counts we have (0/1 gives 0-79 %)."""
    if total == 0:
        return (0.0, 100.0)
    p = hits / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (100.0 * max(0.0, centre - half), 100.0 * min(1.0, centre + half))


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """The chance that a random e-bike view scores above a random view of a negative class
    (ties count half): 0.5 means the score cannot tell the two apart, 1.0 always can. Unlike
    a rate at one threshold it does not move when a recipe only shifts every score, so it says
    whether a change separates the classes or merely trades recall for false alarms."""
    if not positives or not negatives:
        return float("nan")
    pos = np.asarray(positives, dtype=np.float64)[:, None]
    neg = np.asarray(negatives, dtype=np.float64)[None, :]
    return float((pos > neg).mean() + 0.5 * (pos == neg).mean())


SCORES = (
    ("stock", "stock"),
    ("verifier", "score"),
    ("box_only", "box"),
    ("whole_car_only", "frame"),
)
"""(method, the Scored field it ranks by) for separability."""


def separability(scored: Sequence[Scored], which: str, group: str) -> dict[str, float]:
    """Per negative class: AUC of e-bike views against that class's views, camera views of
    `group` only, ranked by the `which` field of Scored (nan when either side is empty)."""
    views = [s for s in scored if s.view and s.group == group]
    pos = [float(getattr(s, which)) for s in views if s.item.alarm]
    return {
        truth: auc(pos, [float(getattr(s, which)) for s in views if s.truth == truth])
        for truth in NEGATIVES
    }


@dataclass(frozen=True, slots=True)
class Rate:
    hits: int
    total: int

    @property
    def pct(self) -> float:
        return 100.0 * self.hits / self.total if self.total else float("nan")

    @property
    def ci(self) -> tuple[float, float]:
        return wilson(self.hits, self.total)

    def __str__(self) -> str:
        if not self.total:
            return "- (0, unmeasured)"
        lo, hi = self.ci
        return f"{self.pct:.1f}% ({self.hits}/{self.total}) [{lo:.0f}-{hi:.0f}]"


def rates(scored: Sequence[Scored], rule: Rule, group: str | None = None) -> dict[str, Rate]:
    """Recall on e-bike views; false alarms on the other views, all and by what they hold;
    and the same two on object crops. With `group`, only the camera views of that group
    (`lift`, `other`, `synthetic`); without, all real camera views (not synthetic)."""
    if group is None:
        views = [s for s in scored if s.view and s.group != "synthetic"]
    else:
        views = [s for s in scored if s.view and s.group == group]
    crops = [s for s in scored if not s.view]

    def rate(chosen: Sequence[Scored]) -> Rate:
        return Rate(sum(1 for s in chosen if rule(s)), len(chosen))

    out = {
        "recall": rate([s for s in views if s.item.alarm]),
        "false_alarms": rate([s for s in views if not s.item.alarm]),
    }
    for truth in NEGATIVES:
        out[f"false_alarms_{truth}"] = rate([s for s in views if s.truth == truth])
    out["crop_recall"] = rate([s for s in crops if s.item.alarm])
    out["crop_false_alarms"] = rate([s for s in crops if not s.item.alarm])
    return out


def confusion(
    scored: Sequence[Scored], rule: Rule, group: str | None = None
) -> dict[str, tuple[int, int]]:
    """Per truth (real camera views, or those of `group`): (alarms, no alarms)."""
    out = {}
    for truth in TRUTHS:
        group_ = [
            s
            for s in scored
            if s.view
            and s.truth == truth
            and (s.group == group if group else s.group != "synthetic")
        ]
        hits = sum(1 for s in group_ if rule(s))
        out[truth] = (hits, len(group_) - hits)
    return out


def label_confusion(scored: Sequence[Scored]) -> dict[str, dict[str, int]]:
    """Per truth (camera views): how often the best candidate was called each class."""
    out: dict[str, dict[str, int]] = {t: dict.fromkeys(CLASSES, 0) for t in TRUTHS}
    for s in scored:
        if s.view and s.group != "synthetic":
            out[s.truth][s.label] += 1
    return out


def summary(
    scored: Sequence[Scored], threshold: float, stock_threshold: float
) -> Mapping[str, Mapping[str, float | int]]:
    """Machine-readable figures (for --json and tests): per method, the real camera views as a
    whole (`recall_pct`, ...), then per group (`lift.recall_pct`, `other.false_alarms_bicycle_n`,
    `synthetic....`), each with its count and its 95 % Wilson interval (`_lo`, `_hi`)."""
    methods = {
        "verifier": verifier_rule(threshold),
        "box_only": verifier_rule(threshold, "box"),
        "whole_car_only": verifier_rule(threshold, "frame"),
        "stock": stock_rule(stock_threshold),
    }
    out: dict[str, dict[str, float | int]] = {}
    for name, rule in methods.items():
        out[name] = {}
        for prefix, group in (
            ("", None),
            ("lift.", "lift"),
            ("other.", "other"),
            ("synthetic.", "synthetic"),
        ):
            for key, r in rates(scored, rule, group).items():
                if prefix and key.startswith("crop_"):
                    continue
                lo, hi = r.ci
                out[name][f"{prefix}{key}_pct"] = round(r.pct, 1) if r.total else -1.0
                out[name][f"{prefix}{key}_n"] = r.total
                out[name][f"{prefix}{key}_lo"] = round(lo, 1)
                out[name][f"{prefix}{key}_hi"] = round(hi, 1)
    for name, which in SCORES:
        for group in GROUPS[:3]:
            for truth, value in separability(scored, which, group).items():
                out[name][f"{group}.auc_{truth}"] = -1.0 if math.isnan(value) else round(value, 3)
    return out
