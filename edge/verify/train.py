"""Fit the verifier's two classifiers on extracted features.

- box classifier (4 classes): every candidate whose class the boxes settle (an e-bike, bicycle,
  wheelchair region; or `other` when it touches none), plus the labelled objects themselves;
- whole-car classifier (e-bike / none): one row per picture view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from edge.verify.classifier import Array, FitParams, Labels, Softmax, fit
from edge.verify.dataset import CLASSES, EBIKE
from edge.verify.extract import ItemFeatures
from edge.verify.features import FeatureSpec
from edge.verify.model_file import VerifierModel

Progress = Callable[[str], None]


def _box_params() -> FitParams:
    return FitParams(l2=1e-2)


def _frame_params() -> FitParams:
    return FitParams(l2=1e-1)


@dataclass(frozen=True, slots=True)
class TrainParams:
    box: FitParams = field(default_factory=_box_params)
    frame: FitParams = field(default_factory=_frame_params)
    context: bool = False
    """Context features (edge/verify/context.py) for both classifiers."""


def _shell(spec: FeatureSpec, context: bool) -> VerifierModel:
    """A model with no classifiers yet: only what decides its inputs."""
    empty = Softmax(*(np.zeros(1, dtype=np.float32) for _ in range(4)))
    return VerifierModel(empty, empty, spec, "", "", context=context)


def box_rows(
    features: Iterable[ItemFeatures], inputs: VerifierModel | None = None
) -> tuple[Array, Labels]:
    xs, ys = [], []
    for f in features:
        keep = f.cand_y >= 0
        cand_x, obj_x = f.cand_x[keep], f.obj_x
        if inputs is not None:
            boxes = np.array([[b.x1, b.y1, b.x2, b.y2] for b in f.cand_boxes]).reshape(-1, 4)
            cand_x = inputs.box_inputs(cand_x, boxes[keep], f.persons, f.two_wheelers)
            obj_x = inputs.box_inputs(obj_x, f.obj_boxes, f.persons, f.two_wheelers)
        xs += [cand_x, obj_x]
        ys += [f.cand_y[keep], f.obj_y]
    if not xs:
        raise ValueError("no training rows")
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def frame_rows(
    features: Iterable[ItemFeatures],
    alarm_of: Mapping[str, bool],
    inputs: VerifierModel | None = None,
) -> tuple[Array, Labels]:
    """One row per view; class 0 is "an e-bike is in the car", class 1 "none"."""
    rows = [
        (
            inputs.frame_inputs(f.frame_x, f.persons, f.two_wheelers) if inputs else f.frame_x,
            EBIKE if alarm_of[f.item_id] else 1,
        )
        for f in features
    ]
    if not rows:
        raise ValueError("no training rows")
    x = np.stack([r[0] for r in rows]).astype(np.float32)
    return x, np.array([r[1] for r in rows], dtype=np.int64)


def _reporter(name: str, total: int, progress: Progress | None) -> Callable[[int, float], None]:
    def report(it: int, loss: float) -> None:
        if progress is not None:
            progress(f"{name}: iteration {it}/{total}, weighted loss {loss:.4f}")

    return report


def fit_verifier(
    features: list[ItemFeatures],
    alarm_of: Mapping[str, bool],
    spec: FeatureSpec,
    detector: tuple[str, str],
    *,
    params: TrainParams | None = None,
    progress: Progress | None = None,
    info: Mapping[str, str | int | float] | None = None,
) -> VerifierModel:
    """Both classifiers on `features`; `detector` is (file name, sha256)."""
    p = params or TrainParams()
    inputs = _shell(spec, p.context)
    xb, yb = box_rows(features, inputs)
    counts = np.bincount(yb, minlength=len(CLASSES)).tolist()
    if progress is not None:
        shown = ", ".join(f"{c} {n}" for c, n in zip(CLASSES, counts, strict=True))
        progress(f"box classifier: {len(yb)} rows ({shown})")
    box = fit(xb, yb, len(CLASSES), p.box, _reporter("box", p.box.iterations, progress))
    xf, yf = frame_rows(features, alarm_of, inputs)
    if progress is not None:
        progress(f"whole-car classifier: {len(yf)} views, {int((yf == EBIKE).sum())} with e-bike")
    frame = fit(xf, yf, 2, p.frame, _reporter("whole-car", p.frame.iterations, progress))
    summary: dict[str, str | int | float] = {
        "box_rows": len(yb),
        "frame_rows": len(yf),
        **{f"rows_{c}": n for c, n in zip(CLASSES, counts, strict=True)},
        **dict(info or {}),
    }
    return VerifierModel(
        box=box,
        frame=frame,
        spec=spec,
        detector_name=detector[0],
        detector_sha256=detector[1],
        info=summary,
        context=p.context,
    )
