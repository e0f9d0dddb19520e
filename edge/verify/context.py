"""Context features: what is around a candidate, not what it looks like.

A child's bicycle and an e-bike can look alike to the detector's maps; what differs is the
scene: a child's bicycle is small next to the adults in the car, a stroller is pushed and has
no rider on it, and the COCO model often calls an ordinary bicycle `bicycle` with some
confidence while it calls an e-bike `motorcycle` or nothing. So each candidate also gets:

- its size relative to the people in the car (log height and log area against the median
  person; 0 and a flag when there is nobody);
- how it sits with the nearest person (the share of the candidate a person covers, their IoU,
  the distance between centres in person heights): the rider-and-vehicle pattern;
- the detector's own `bicycle` and `motorcycle` boxes over it (best score among boxes that
  overlap it; their difference): a confident `bicycle` is negative evidence;
- how many people there are.

The whole car gets the number of people and the best `bicycle` and `motorcycle` scores.
All from the detections the verifier already decodes; a few numpy operations per frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float32]
BOX_CONTEXT = (
    "has_person",
    "log_height_vs_person",
    "log_area_vs_person",
    "person_cover",
    "person_iou",
    "person_distance",
    "bicycle_over",
    "motorcycle_over",
    "bicycle_minus_motorcycle",
    "people",
)
FRAME_CONTEXT = ("people", "bicycle_best", "motorcycle_best")


def _iou_cover(
    a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """IoU (N x M) of boxes a and b, and the share of each a that each b covers."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))[:, None]
    area_b = ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))[None, :]
    iou = inter / np.maximum(area_a + area_b - inter, 1e-9)
    return iou, inter / np.maximum(area_a, 1e-9)


def _best_over(
    boxes: npt.NDArray[np.float64], dets: npt.NDArray[np.float64], wanted: int | None
) -> npt.NDArray[np.float64]:
    """Per box, the best score of a detection of class position `wanted` that overlaps it."""
    out = np.zeros(len(boxes))
    if wanted is None or len(dets) == 0 or len(boxes) == 0:
        return out
    mine = dets[dets[:, 5] == wanted]
    if len(mine) == 0:
        return out
    iou, cover = _iou_cover(boxes, mine[:, :4])
    _, cover_det = _iou_cover(mine[:, :4], boxes)
    overlaps = (iou >= 0.3) | (cover >= 0.5) | (cover_det.T >= 0.5)
    scores = np.where(overlaps, mine[None, :, 4], 0.0)
    best: npt.NDArray[np.float64] = scores.max(axis=1)
    return best


def box_context(
    boxes: npt.ArrayLike,
    persons: npt.ArrayLike,
    two_wheelers: npt.ArrayLike,
    bicycle: int | None,
    motorcycle: int | None,
) -> Array:
    """One row of BOX_CONTEXT per box (x1, y1, x2, y2 normalised). `persons` rows are
    (box, score), `two_wheelers` rows (box, score, class position); `bicycle` and
    `motorcycle` are those class positions (None when the detector has no such class)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    p = np.asarray(persons, dtype=np.float64).reshape(-1, 5)
    t = np.asarray(two_wheelers, dtype=np.float64).reshape(-1, 6)
    n = len(b)
    out = np.zeros((n, len(BOX_CONTEXT)), dtype=np.float64)
    if n == 0:
        return out.astype(np.float32)
    bw = np.maximum(b[:, 2] - b[:, 0], 1e-3)
    bh = np.maximum(b[:, 3] - b[:, 1], 1e-3)
    out[:, 9] = np.log1p(len(p))
    if len(p):
        ph = np.maximum(p[:, 3] - p[:, 1], 1e-3)
        pw = np.maximum(p[:, 2] - p[:, 0], 1e-3)
        med_h, med_a = float(np.median(ph)), float(np.median(ph * pw))
        out[:, 0] = 1.0
        out[:, 1] = np.log(bh / med_h)
        out[:, 2] = np.log(bw * bh / med_a)
        iou, cover = _iou_cover(b, p[:, :4])
        out[:, 3] = cover.max(axis=1)
        out[:, 4] = iou.max(axis=1)
        bc = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], axis=1)
        pc = np.stack([(p[:, 0] + p[:, 2]) / 2, (p[:, 1] + p[:, 3]) / 2], axis=1)
        dist = np.linalg.norm(bc[:, None, :] - pc[None, :, :], axis=2) / ph[None, :]
        out[:, 5] = np.minimum(dist.min(axis=1), 5.0)
    out[:, 6] = _best_over(b, t, bicycle)
    out[:, 7] = _best_over(b, t, motorcycle)
    out[:, 8] = out[:, 6] - out[:, 7]
    return out.astype(np.float32)


def frame_context(
    persons: npt.ArrayLike, two_wheelers: npt.ArrayLike, bicycle: int | None, motorcycle: int | None
) -> Array:
    """FRAME_CONTEXT for the whole car."""
    p = np.asarray(persons, dtype=np.float64).reshape(-1, 5)
    t = np.asarray(two_wheelers, dtype=np.float64).reshape(-1, 6)

    def best(pos: int | None) -> float:
        if pos is None:
            return 0.0
        return float(t[t[:, 5] == pos, 4].max(initial=0.0))

    return np.array([np.log1p(len(p)), best(bicycle), best(motorcycle)], dtype=np.float32)


def positions(two_wheeler_names: Sequence[str]) -> tuple[int | None, int | None]:
    """Where `bicycle` and `motorcycle` are in the spec's two-wheeler classes."""
    names = list(two_wheeler_names)
    bike = names.index("bicycle") if "bicycle" in names else None
    moto = names.index("motorcycle") if "motorcycle" in names else None
    return bike, moto
