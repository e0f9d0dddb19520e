"""Run the detector over labelled pictures and keep what training and evaluation need.

For each picture: its candidates (exactly as at run time) with embeddings and, where the boxes
allow, a class; the labelled objects themselves (and shifted copies) as extra training rows; the
whole-car embedding; and the stock detector's best two-wheeler score, for the baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from edge.detect.onnx_yolo import OnnxYoloDetector, inspect_model
from edge.messages import Box, Category, Image
from edge.verify import candidates as cands
from edge.verify.augment import GREY, View, training_views
from edge.verify.dataset import CLASSES, Item, LabelBox, coarse
from edge.verify.features import (
    Array,
    FeatureMaps,
    FeatureSpec,
    embed_boxes,
    embed_region,
    feature_maps,
)
from edge.verify.graph import head_inputs
from edge.verify.model_file import sha256_of

if TYPE_CHECKING:
    from edge.verify.cache import FeatureCache

EXTRACT_VERSION = 3
"""Bump when the code below, features.py or candidates.py would give a view other features:
it is part of the feature cache's key (edge/verify/cache.py)."""
WHOLE = Box(0.0, 0.0, 1.0, 1.0)
SKIP = -1
"""Label of a candidate that only partly covers an object: neither positive nor negative."""
TWO_WHEELER_NAMES = ("motorcycle", "bicycle", "ebike", "e-bike", "e-scooter", "scooter")
PERSON_NAMES = ("person",)
STOCK_MIN_AREA = 0.0005
"""The lift zone's default min_area: the baseline counts what the stock rule would count."""
_JITTER = ((0.0, 0.0, 1.0), (0.08, -0.05, 1.1), (-0.06, 0.06, 0.9))


@dataclass(frozen=True, slots=True)
class ItemFeatures:
    item_id: str
    view_id: str
    cand_x: Array
    cand_y: npt.NDArray[np.int64]
    cand_origin: tuple[str, ...]
    cand_boxes: tuple[Box, ...]
    obj_x: Array
    obj_y: npt.NDArray[np.int64]
    frame_x: Array
    stock_score: float
    persons: Array = field(default_factory=lambda: np.zeros((0, 5), dtype=np.float32))
    """The detector's people (x1, y1, x2, y2 normalised, score), for context features."""
    obj_boxes: Array = field(default_factory=lambda: np.zeros((0, 4), dtype=np.float32))
    """Where the `obj_x` rows are (x1, y1, x2, y2 normalised), for context features."""
    two_wheelers: Array = field(default_factory=lambda: np.zeros((0, 6), dtype=np.float32))
    """Its low-threshold two-wheeler boxes (x1, y1, x2, y2, score, index in the spec's
    two_wheeler_names): COCO `bicycle` vs `motorcycle` is evidence both ways."""

    @property
    def plain(self) -> bool:
        """The picture as labelled (not a mirror image or zoomed training view)."""
        return self.view_id == self.item_id


class FeatureSource:
    """A detector with its neck maps exposed, and the spec of the embeddings made from them."""

    def __init__(self, model_path: Path, threads: int = 1) -> None:
        self.model_path = Path(model_path)
        map_names = tuple(head_inputs(self.model_path))
        names = inspect_model(self.model_path)[0]
        tw = tuple(n for n in names if n in TWO_WHEELER_NAMES)
        people = tuple(n for n in names if n in PERSON_NAMES)
        class_map = {n: Category.TWO_WHEELER for n in tw} | {n: Category.PERSON for n in people}
        self.detector = OnnxYoloDetector(
            self.model_path,
            class_map,
            threads=threads,
            conf_threshold=0.1,
            feature_outputs=map_names,
        )
        self.detector.detect(np.full((64, 64, 3), 114, dtype=np.uint8))
        dims = tuple(int(self.detector.last_outputs[n].shape[1]) for n in map_names)
        self.spec = FeatureSpec(map_names, dims, tw, people, tuple(names))
        self.ids = self.spec.bind(self.detector.names)
        self.sha256 = sha256_of(self.model_path)

    def run(self, image: Image) -> FeatureMaps:
        self.detector.detect(image)
        return feature_maps(self.detector, self.spec)


def load_view(view: View) -> Image:
    item = view.item
    image = cv2.imread(str(item.path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read image {item.path}")
    if item.region is not None:
        h, w = image.shape[:2]
        r = item.region
        image = image[int(r.y1 * h) : int(r.y2 * h), int(r.x1 * w) : int(r.x2 * w)]
    if view.keep is not None:
        h, w = image.shape[:2]
        k = view.keep
        y1, y2, x1, x2 = int(k.y1 * h), int(k.y2 * h), int(k.x1 * w), int(k.x2 * w)
        masked = np.full_like(image, GREY)
        masked[y1:y2, x1:x2] = image[y1:y2, x1:x2]
        image = masked
    if view.flip:
        image = image[:, ::-1]
    return np.ascontiguousarray(image)


def _inter(a: Box, b: Box) -> float:
    iw = min(a.x2, b.x2) - max(a.x1, b.x1)
    ih = min(a.y2, b.y2) - max(a.y1, b.y1)
    return iw * ih if iw > 0 and ih > 0 else 0.0


def label_candidate(box: Box, objects: Sequence[LabelBox]) -> int:
    """The class a candidate shows, `other`, or SKIP when it only partly covers an object."""
    best, best_iou, partial = len(CLASSES) - 1, 0.0, False
    for obj in objects:
        if obj.label == "person":
            continue
        inter = _inter(box, obj.box)
        cover = inter / max(obj.box.area, 1e-9)
        share = inter / max(box.area, 1e-9)
        iou = box.iou(obj.box)
        if iou >= 0.4 or (cover >= 0.7 and share >= 0.3):
            if obj.label == "ignore":
                return SKIP
            if iou >= best_iou:
                best, best_iou = CLASSES.index(coarse(obj.label)), iou
        elif cover > 0.2 or share > 0.2:
            partial = True
    if best_iou == 0.0 and partial:
        return SKIP
    return best


def _jittered(box: Box) -> list[Box]:
    out = []
    for dx, dy, s in _JITTER:
        cx = (box.x1 + box.x2) / 2 + dx * box.width
        cy = (box.y1 + box.y2) / 2 + dy * box.height
        w, h = box.width * s / 2, box.height * s / 2
        clipped = cands.clip(Box(cx - w, cy - h, cx + w, cy + h), WHOLE)
        if clipped is not None:
            out.append(clipped)
    return out


def _objects(
    fm: FeatureMaps, objects: Sequence[LabelBox], score_ids: Sequence[int]
) -> tuple[Array, npt.NDArray[np.int64], list[Box]]:
    """The labelled objects (people as `other`), each also slightly shifted and rescaled."""
    boxes: list[Box] = []
    labels: list[int] = []
    for obj in objects:
        if obj.label == "ignore":
            continue
        name = coarse(obj.label)
        label = CLASSES.index(name) if name in CLASSES else len(CLASSES) - 1
        for b in _jittered(obj.box):
            boxes.append(b)
            labels.append(label)
    return embed_boxes(fm, boxes, WHOLE, score_ids), np.array(labels, dtype=np.int64), boxes


def extract_view(
    source: FeatureSource, view: View, params: cands.CandidateParams | None = None
) -> ItemFeatures:
    fm = source.run(load_view(view))
    ids = source.ids
    found = cands.generate(
        fm, WHOLE, ids.two_wheeler, ids.person, params or cands.CandidateParams()
    )
    objects = view.objects()
    obj_x, obj_y, obj_boxes = _objects(fm, objects, ids.scores)
    stock = [c.score for c in found if c.origin == "detector" and c.box.area >= STOCK_MIN_AREA]
    p = params or cands.CandidateParams()
    people = cands.detections(fm, ids.person, p.person_conf, p.nms_iou, p.max_persons)
    bikes = cands.classed_detections(
        fm, ids.two_wheeler, p.two_wheeler_conf, p.nms_iou, p.max_two_wheelers
    )
    return ItemFeatures(
        item_id=view.item.id,
        view_id=view.id,
        cand_x=embed_boxes(fm, [c.box for c in found], WHOLE, ids.scores),
        cand_y=np.array([label_candidate(c.box, objects) for c in found], dtype=np.int64),
        cand_origin=tuple(c.origin for c in found),
        cand_boxes=tuple(c.box for c in found),
        obj_x=obj_x,
        obj_y=obj_y,
        frame_x=embed_region(fm, WHOLE, ids.scores),
        stock_score=max(stock, default=0.0),
        obj_boxes=np.array([[b.x1, b.y1, b.x2, b.y2] for b in obj_boxes], dtype=np.float32).reshape(
            -1, 4
        ),
        persons=np.array(
            [[b.x1, b.y1, b.x2, b.y2, s] for b, s in people], dtype=np.float32
        ).reshape(-1, 5),
        two_wheelers=np.array(
            [[b.x1, b.y1, b.x2, b.y2, s, k] for b, s, k in bikes], dtype=np.float32
        ).reshape(-1, 6),
    )


def extract_all(
    source: FeatureSource,
    items: Sequence[Item],
    *,
    augment: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
    seed: int = 0,
    cache: FeatureCache | None = None,
) -> list[ItemFeatures]:
    """Features of every item, plus its training views (mirror, zoom, camera scale) when
    `augment`; read from and written to `cache` when given (the same features either way)."""
    rng = np.random.default_rng(seed)
    views = [v for item in items for v in (training_views(item, rng) if augment else [View(item)])]
    out = []
    for n, view in enumerate(views, 1):
        found = cache.get(view) if cache is not None else None
        if found is None:
            found = extract_view(source, view)
            if cache is not None:
                cache.put(view, found)
        out.append(found)
        if progress is not None:
            progress(n, len(views), view.id)
    return out
