"""Embeddings from the detector's own feature maps: pooled per box, and over a whole lift car.

The detector already ran on the frame; its neck maps (P3, P4, P5: strides 8, 16, 32) and its raw
output come with the boxes (`OnnxYoloDetector(feature_outputs=...)`). An embedding is, per map,
the channel means and maxima over the box, plus the detector's own best class scores (e.g.
motorcycle, bicycle, person) among the anchors centred in the box, plus the box's shape.
The whole-car embedding keeps only the maxima (with the scores and shape): channel means over a
whole car describe the car itself (walls, light, the kind of camera), which differs from lift to
lift; a maximum says that something somewhere in the car looks like part of an e-bike.
No extra network runs: the cost is a few array slices per box.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.detect.onnx_yolo import OnnxYoloDetector
from edge.detect.postprocess import channels_first
from edge.detect.preprocess import LetterboxResult
from edge.messages import Box

Array = npt.NDArray[np.float32]
GEOMETRY = 3
"""Box shape features: log width, log height (relative to the region), log aspect ratio."""


class FeatureSpecError(Exception):
    """The detector lacks a tensor or a class the embeddings are made of."""


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """Which detector tensors and classes the embeddings are made of (saved with a verifier)."""

    map_names: tuple[str, ...]
    map_dims: tuple[int, ...]
    two_wheeler_names: tuple[str, ...]
    person_names: tuple[str, ...]
    score_names: tuple[str, ...]

    @property
    def size(self) -> int:
        """Columns of a box embedding."""
        return embedding_size(self.map_dims, len(self.score_names))

    @property
    def frame_size(self) -> int:
        """Columns of the whole-car embedding."""
        return len(frame_columns(self.map_dims, len(self.score_names)))

    def bind(self, names: Sequence[str]) -> ClassIds:
        """The class ids of this spec in a detector with class names `names`."""
        wanted = (*self.two_wheeler_names, *self.person_names, *self.score_names)
        missing = sorted({n for n in wanted if n not in names})
        if missing:
            raise FeatureSpecError(f"the detector has no classes {missing}")
        index = {n: i for i, n in enumerate(names)}
        return ClassIds(
            tuple(index[n] for n in self.two_wheeler_names),
            tuple(index[n] for n in self.person_names),
            tuple(index[n] for n in self.score_names),
        )


@dataclass(frozen=True, slots=True)
class ClassIds:
    two_wheeler: tuple[int, ...]
    person: tuple[int, ...]
    scores: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FeatureMaps:
    """One frame's detector maps (C x H x W each), raw output ((4+K) x N) and letterbox."""

    maps: tuple[Array, ...]
    raw: Array
    letterbox: LetterboxResult
    input_size: tuple[int, int]

    @classmethod
    def from_outputs(
        cls,
        outputs: Mapping[str, npt.NDArray[np.float32]],
        raw_name: str,
        map_names: Sequence[str],
        letterbox: LetterboxResult,
        input_size: tuple[int, int],
    ) -> FeatureMaps:
        missing = [n for n in (raw_name, *map_names) if n not in outputs]
        if missing:
            raise ValueError(f"the detector did not return the outputs {missing}")
        maps = tuple(_chw(outputs[n], n) for n in map_names)
        return cls(maps, channels_first(outputs[raw_name]), letterbox, input_size)

    @property
    def dims(self) -> tuple[int, ...]:
        return tuple(int(m.shape[0]) for m in self.maps)

    def to_input(self, boxes: Sequence[Box]) -> npt.NDArray[np.float64]:
        """Boxes (normalised to the frame) as x1, y1, x2, y2 in model-input pixels."""
        lb = self.letterbox
        b = np.array([[x.x1, x.y1, x.x2, x.y2] for x in boxes], dtype=np.float64).reshape(-1, 4)
        scale = np.array([lb.content_width, lb.content_height] * 2, dtype=np.float64)
        offset = np.array([lb.pad_left, lb.pad_top] * 2, dtype=np.float64)
        return b * scale + offset


def _chw(arr: npt.NDArray[np.float32], name: str) -> Array:
    a = np.asarray(arr, dtype=np.float32)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3:
        raise ValueError(f"feature map {name!r} is not 1 x C x H x W: {arr.shape}")
    return a


def embedding_size(dims: Sequence[int], n_scores: int) -> int:
    return 2 * sum(dims) + n_scores + GEOMETRY


def frame_columns(dims: Sequence[int], n_scores: int) -> npt.NDArray[np.int64]:
    """Which columns of a box embedding the whole-car embedding keeps: the maxima of each map,
    the class scores and the shape."""
    maxima, start = [], 0
    for d in dims:
        maxima.append(np.arange(start + d, start + 2 * d))
        start += 2 * d
    rest = np.arange(start, start + n_scores + GEOMETRY)
    return np.concatenate([*maxima, rest]).astype(np.int64)


def _pool(fmap: Array, box: npt.NDArray[np.float64], input_w: int) -> Array:
    c, h, w = fmap.shape
    stride = input_w / w
    x1 = int(np.clip(np.floor(box[0] / stride), 0, w - 1))
    y1 = int(np.clip(np.floor(box[1] / stride), 0, h - 1))
    x2 = int(np.clip(np.ceil(box[2] / stride), x1 + 1, w))
    y2 = int(np.clip(np.ceil(box[3] / stride), y1 + 1, h))
    roi = fmap[:, y1:y2, x1:x2].reshape(c, -1)
    return np.concatenate([roi.mean(axis=1), roi.max(axis=1)]).astype(np.float32)


def anchor_scores(
    fm: FeatureMaps, boxes_in: npt.NDArray[np.float64], class_ids: Sequence[int]
) -> Array:
    """Per box, the best score of each class among anchors centred inside it (0 if none)."""
    out = np.zeros((boxes_in.shape[0], len(class_ids)), dtype=np.float32)
    if not class_ids or boxes_in.shape[0] == 0:
        return out
    cx, cy = fm.raw[0], fm.raw[1]
    scores = fm.raw[[4 + i for i in class_ids]]  # K x N
    for i, (x1, y1, x2, y2) in enumerate(boxes_in):
        inside = (cx >= x1) & (cx <= x2) & (cy >= y1) & (cy <= y2)
        if inside.any():
            out[i] = scores[:, inside].max(axis=1)
    return out


def embed_boxes(
    fm: FeatureMaps, boxes: Sequence[Box], region: Box, score_ids: Sequence[int]
) -> Array:
    """One embedding row per box (see the module docstring)."""
    dims = embedding_size(fm.dims, len(score_ids))
    if not boxes:
        return np.zeros((0, dims), dtype=np.float32)
    boxes_in = fm.to_input(boxes)
    input_w = fm.input_size[1]
    pooled = np.stack([np.concatenate([_pool(m, b, input_w) for m in fm.maps]) for b in boxes_in])
    scores = anchor_scores(fm, boxes_in, score_ids)
    rw, rh = max(region.width, 1e-3), max(region.height, 1e-3)
    geo = np.array(
        [
            [
                np.log(max(b.width, 1e-3) / rw),
                np.log(max(b.height, 1e-3) / rh),
                np.log(max(b.width, 1e-3) / max(b.height, 1e-3)),
            ]
            for b in boxes
        ],
        dtype=np.float32,
    )
    return np.concatenate([pooled, scores, geo], axis=1).astype(np.float32)


def embed_region(fm: FeatureMaps, region: Box, score_ids: Sequence[int]) -> Array:
    """The whole-car embedding: the region pooled as one box, maxima only (one row)."""
    row: Array = embed_boxes(fm, [region], region, score_ids)[0]
    kept: Array = row[frame_columns(fm.dims, len(score_ids))]
    return kept


def feature_maps(detector: OnnxYoloDetector, spec: FeatureSpec) -> FeatureMaps:
    """The maps of the detector's last `detect` (it must have been built with them)."""
    outputs = detector.last_outputs
    lb = detector.last_letterbox
    if lb is None or not outputs:
        raise ValueError("the detector was not built with feature_outputs, or has not run yet")
    raw_name = next(name for name in outputs if name not in spec.map_names)
    return FeatureMaps.from_outputs(outputs, raw_name, spec.map_names, lb, detector.input_size)
