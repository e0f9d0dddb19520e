"""Decoding raw Ultralytics YOLO output into boxes, and non-maximum suppression. Pure numpy.

The raw output is `1 x (4+C) x N`: rows 0-3 are cx, cy, w, h in input pixels, rows 4.. are the
per-class scores (already sigmoid, no objectness). There is no NMS in the graph.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.detect.preprocess import LetterboxResult

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.intp]

_BOX_ROWS = 4


def channels_first(output: npt.NDArray[np.floating], num_classes: int | None = None) -> FloatArray:
    """Return the output as a `(4+C) x N` float32 array, whichever way round it was exported.

    With `num_classes` the axis that is `4 + num_classes` long is the channel axis, so a
    transposed `1 x N x (4+C)` export works too; without it the Ultralytics layout is assumed.
    Raises ValueError when the shape fits neither.
    """
    arr = output[0] if output.ndim == 3 and output.shape[0] == 1 else output
    if arr.ndim != 2:
        raise ValueError(f"expected a 1 x (4+C) x N output, got shape {output.shape}")
    if num_classes is None:
        if arr.shape[0] <= _BOX_ROWS:
            raise ValueError(f"expected a 1 x (4+C) x N output, got shape {output.shape}")
        return arr.astype(np.float32, copy=False)
    channels = _BOX_ROWS + num_classes
    if arr.shape[0] == channels:
        return arr.astype(np.float32, copy=False)
    if arr.shape[1] == channels:
        return np.ascontiguousarray(arr.T, dtype=np.float32)
    raise ValueError(
        f"expected an output with an axis of 4 + {num_classes} classes = {channels}, "
        f"got shape {output.shape}"
    )


def decode(
    output: npt.NDArray[np.floating],
    conf_threshold: float,
    keep_class_ids: npt.ArrayLike,
    *,
    num_classes: int | None = None,
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Turn raw output into (boxes x1,y1,x2,y2 in input pixels, scores, class ids).

    Each anchor gets its single best class over *all* classes (as Ultralytics does); anchors
    whose best class is not in `keep_class_ids`, or whose score is not above `conf_threshold`,
    are dropped. Keeping the all-class argmax matters: a suitcase scored 0.5 suitcase and 0.3
    motorcycle must not come out as a 0.3 motorcycle just because suitcases are not wanted.
    """
    pred = channels_first(output, num_classes)
    keep = np.unique(np.asarray(keep_class_ids, dtype=np.intp))
    n_classes = pred.shape[0] - _BOX_ROWS
    if keep.size and (keep.min() < 0 or keep.max() >= n_classes):
        raise ValueError(f"class ids {keep.tolist()} out of range for {n_classes} classes")
    if keep.size == 0 or pred.shape[1] == 0:
        return _empty()
    class_scores = pred[_BOX_ROWS:]
    # Cheap pass over the wanted rows only: an anchor can only survive if one of its wanted
    # classes clears the threshold, which leaves a handful of candidates out of thousands.
    candidates = np.flatnonzero(class_scores[keep].max(axis=0) > conf_threshold)
    if candidates.size == 0:
        return _empty()
    cand_scores = class_scores[:, candidates]
    best = cand_scores.argmax(axis=0)
    wanted = np.isin(best, keep)
    candidates, best = candidates[wanted], best[wanted]
    scores = class_scores[best, candidates].astype(np.float32)
    cx, cy, w, h = pred[:_BOX_ROWS, candidates]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
    return boxes, scores, best.astype(np.intp)


def nms(boxes: npt.ArrayLike, scores: npt.ArrayLike, iou_threshold: float) -> IntArray:
    """Greedy NMS: indices of the boxes kept, best score first.

    A box is suppressed when its IoU with a better kept box is strictly above `iou_threshold`.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if b.shape[0] != s.shape[0]:
        raise ValueError(f"{b.shape[0]} boxes but {s.shape[0]} scores")
    x1, y1, x2, y2 = b.T
    areas = np.clip(x2 - x1, 0.0, None) * np.clip(y2 - y1, 0.0, None)
    # Stable sort so that equal scores keep input order: results do not depend on the sort.
    order = np.argsort(-s, kind="stable")
    kept: list[int] = []
    while order.size:
        i = int(order[0])
        kept.append(i)
        rest = order[1:]
        iw = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0.0, None)
        ih = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0.0, None)
        inter = iw * ih
        union = areas[i] + areas[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0.0)
        order = rest[iou <= iou_threshold]
    return np.asarray(kept, dtype=np.intp)


def batched_nms(
    boxes: npt.ArrayLike,
    scores: npt.ArrayLike,
    class_ids: npt.ArrayLike,
    iou_threshold: float,
) -> IntArray:
    """Class-wise NMS: boxes of different classes never suppress each other.

    Shifts each class into its own disjoint region of the plane so one NMS pass does all
    classes (the torchvision/Ultralytics offset trick).
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    c = np.asarray(class_ids, dtype=np.float64).reshape(-1)
    if b.shape[0] != c.shape[0]:
        raise ValueError(f"{b.shape[0]} boxes but {c.shape[0]} class ids")
    if b.shape[0] == 0:
        return np.empty(0, dtype=np.intp)
    span = float(np.abs(b).max()) * 2.0 + 1.0
    return nms(b + (c * span)[:, None], scores, iou_threshold)


def to_normalised(boxes: npt.ArrayLike, letterbox: LetterboxResult) -> FloatArray:
    """Map x1,y1,x2,y2 boxes from letterboxed input pixels to 0..1 frame coordinates, clipped."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    offset = np.array([letterbox.pad_left, letterbox.pad_top] * 2, dtype=np.float64)
    # Divide by the size the frame was actually resized to, not by the nominal scale: the
    # resize rounds to whole pixels, and this is what the pixels in the tensor really span.
    extent = np.array([letterbox.content_width, letterbox.content_height] * 2, dtype=np.float64)
    return np.clip((b - offset) / extent, 0.0, 1.0).astype(np.float32)


def _empty() -> tuple[FloatArray, FloatArray, IntArray]:
    return (
        np.empty((0, 4), dtype=np.float32),
        np.empty(0, dtype=np.float32),
        np.empty(0, dtype=np.intp),
    )
