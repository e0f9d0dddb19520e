"""Alarm-level evaluation: one verdict per picture, as the lift rule would raise it.

A picture is one camera view of a lift car (a frame, or a people-only / empty part of one) or an
object crop. Each gets the verifier's scores and the stock detector's best two-wheeler score.
With a split (leave-one-source-out), each picture is judged by a verifier trained without any
picture of its source, so the figures say how it does on a lift it has never seen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edge.verify.dataset import CLASSES, EBIKE, Fold, Item, ItemKind, train_items
from edge.verify.extract import ItemFeatures
from edge.verify.features import FeatureSpec
from edge.verify.model_file import VerifierModel
from edge.verify.train import Progress, TrainParams, fit_verifier

TRUTHS = ("ebike", "bicycle", "stroller_or_wheelchair", "people_only", "empty")


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


def truth_of(item: Item) -> str:
    """What the picture holds, as the alarm question sees it."""
    if item.alarm:
        return "ebike"
    labels = {b.label for b in item.boxes_in_view()}
    for kind in ("bicycle", "stroller_or_wheelchair"):
        if kind in labels:
            return kind
    return "people_only" if "person" in labels else "empty"


def score_features(model: VerifierModel, f: ItemFeatures) -> tuple[float, float, float, str]:
    """(best box e-bike probability, whole-car probability, alarm score, best box's class)."""
    probs = model.box.predict(f.cand_x)
    best = int(np.argmax(probs[:, EBIKE]))
    box = float(probs[best, EBIKE])
    frame = float(model.frame.predict(f.frame_x)[0, EBIKE])
    return box, frame, model.decide(box, frame), CLASSES[int(np.argmax(probs[best]))]


def apply(
    model: VerifierModel, items: Sequence[Item], features: Sequence[ItemFeatures], fold: str
) -> list[Scored]:
    """Score the evaluated pictures of `items` with one trained verifier."""
    plain = {f.item_id: f for f in features if f.plain}
    out = []
    for item in items:
        if item.kind.evaluated and item.id in plain:
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
) -> list[Scored]:
    """Leave each fold out in turn: train on the rest (all its views), score the fold."""
    alarm_of = {it.id: it.alarm for it in items}
    scored: list[Scored] = []
    for n, fold in enumerate(folds, 1):
        train_ids = {it.id for it in train_items(items, fold)}
        test = [it for it in items if it.id in fold.test_ids]
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


@dataclass(frozen=True, slots=True)
class Rate:
    hits: int
    total: int

    @property
    def pct(self) -> float:
        return 100.0 * self.hits / self.total if self.total else float("nan")

    def __str__(self) -> str:
        return f"{self.pct:5.1f}% ({self.hits}/{self.total})" if self.total else "    - (0)"


def rates(scored: Sequence[Scored], rule: Rule) -> dict[str, Rate]:
    """Recall on e-bike views; false alarms on the other views, all and by what they hold;
    and the same two on object crops."""
    views = [s for s in scored if s.view]
    crops = [s for s in scored if not s.view]

    def rate(group: Sequence[Scored]) -> Rate:
        return Rate(sum(1 for s in group if rule(s)), len(group))

    out = {
        "recall": rate([s for s in views if s.item.alarm]),
        "false_alarms": rate([s for s in views if not s.item.alarm]),
    }
    for truth in TRUTHS[1:]:
        out[f"false_alarms_{truth}"] = rate([s for s in views if s.truth == truth])
    out["crop_recall"] = rate([s for s in crops if s.item.alarm])
    out["crop_false_alarms"] = rate([s for s in crops if not s.item.alarm])
    return out


def confusion(scored: Sequence[Scored], rule: Rule) -> dict[str, tuple[int, int]]:
    """Per truth (camera views): (alarms, no alarms)."""
    out = {}
    for truth in TRUTHS:
        group = [s for s in scored if s.view and s.truth == truth]
        hits = sum(1 for s in group if rule(s))
        out[truth] = (hits, len(group) - hits)
    return out


def label_confusion(scored: Sequence[Scored]) -> dict[str, dict[str, int]]:
    """Per truth (camera views): how often the best candidate was called each class."""
    out: dict[str, dict[str, int]] = {t: dict.fromkeys(CLASSES, 0) for t in TRUTHS}
    for s in scored:
        if s.view:
            out[s.truth][s.label] += 1
    return out


def summary(
    scored: Sequence[Scored], threshold: float, stock_threshold: float
) -> Mapping[str, Mapping[str, float | int]]:
    """Machine-readable figures (for --json and tests)."""
    methods = {
        "verifier": verifier_rule(threshold),
        "box_only": verifier_rule(threshold, "box"),
        "whole_car_only": verifier_rule(threshold, "frame"),
        "stock": stock_rule(stock_threshold),
    }
    out: dict[str, dict[str, float | int]] = {}
    for name, rule in methods.items():
        out[name] = {}
        for key, r in rates(scored, rule).items():
            out[name][f"{key}_pct"] = round(r.pct, 1) if r.total else -1.0
            out[name][f"{key}_n"] = r.total
    return out
