"""Where an e-bike could be in a lift car: the regions the verifier looks at.

The stock detector misses most e-bikes under their riders, so its two-wheeler boxes are only one
source. Candidates come from:

- `detector`: two-wheeler boxes decoded from the raw output at a much lower threshold than the
  detector's own (any e-bike-ish evidence is worth a look);
- `person`: regions beside, around and under each detected person (a rider pushes or sits on
  the e-bike; from a ceiling camera it is next to or under them);
- `proposal`: the detector's best boxes of any class (a COCO model often sees an e-bike as
  some other object: chair, suitcase, bench), class-agnostic;
- `grid`: the whole car and overlapping half-size windows, so an e-bike with no rider and no
  detector box is still looked at.

All are clipped to the lift zone's bounding box. Pure numpy on the detector's raw output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.detect.postprocess import batched_nms, decode, to_normalised
from edge.messages import Box
from edge.verify.features import FeatureMaps


@dataclass(frozen=True, slots=True)
class CandidateParams:
    two_wheeler_conf: float = 0.02
    max_two_wheelers: int = 8
    person_conf: float = 0.2
    max_persons: int = 4
    proposal_conf: float = 0.05
    max_proposals: int = 8
    grid_steps: int = 3
    nms_iou: float = 0.6


@dataclass(frozen=True, slots=True)
class Candidate:
    box: Box
    origin: str
    score: float = 0.0


def clip(box: Box, region: Box) -> Box | None:
    x1, y1 = max(box.x1, region.x1), max(box.y1, region.y1)
    x2, y2 = min(box.x2, region.x2), min(box.y2, region.y2)
    if x2 - x1 < 0.02 * region.width or y2 - y1 < 0.02 * region.height:
        return None
    return Box(x1, y1, x2, y2)


def classed_detections(
    fm: FeatureMaps, class_ids: Sequence[int], conf: float, iou: float, limit: int
) -> list[tuple[Box, float, int]]:
    """Boxes of `class_ids` (class-agnostic NMS), each with its score and the position of its
    class in `class_ids`."""
    if not class_ids:
        return []
    boxes, scores, classes = decode(fm.raw, conf, list(class_ids))
    kept = batched_nms(boxes, scores, np.zeros(len(scores)), iou)[:limit]
    norm = to_normalised(boxes[kept], fm.letterbox)
    position = {c: n for n, c in enumerate(class_ids)}
    rows = zip(norm.tolist(), scores[kept].tolist(), classes[kept].tolist(), strict=True)
    return [(Box(*(float(v) for v in b)), float(s), position.get(int(c), 0)) for b, s, c in rows]


def detections(
    fm: FeatureMaps, class_ids: Sequence[int], conf: float, iou: float, limit: int
) -> list[tuple[Box, float]]:
    return [(b, s) for b, s, _ in classed_detections(fm, class_ids, conf, iou, limit)]


def person_regions(p: Box) -> list[Box]:
    """Around a person: widened, left of, right of, and the lower part (where a bike would be)."""
    w, h = p.width, p.height
    return [
        Box(p.x1 - 0.5 * w, p.y1 + 0.2 * h, p.x2 + 0.5 * w, p.y2 + 0.1 * h),
        Box(p.x1 - 0.9 * w, p.y1 + 0.3 * h, p.x1 + 0.3 * w, p.y2 + 0.1 * h),
        Box(p.x2 - 0.3 * w, p.y1 + 0.3 * h, p.x2 + 0.9 * w, p.y2 + 0.1 * h),
        Box(p.x1 - 0.3 * w, p.y1 + 0.45 * h, p.x2 + 0.3 * w, p.y2 + 0.15 * h),
    ]


def grid_regions(region: Box, steps: int) -> list[Box]:
    """The region itself and `steps` x `steps` half-size windows over it."""
    out = [region]
    if steps < 2:
        return out
    w, h = region.width / 2.0, region.height / 2.0
    for i in range(steps):
        for j in range(steps):
            x = region.x1 + i * (region.width - w) / (steps - 1)
            y = region.y1 + j * (region.height - h) / (steps - 1)
            out.append(Box(x, y, x + w, y + h))
    return out


def generate(
    fm: FeatureMaps,
    region: Box,
    two_wheeler_ids: Sequence[int],
    person_ids: Sequence[int],
    params: CandidateParams = CandidateParams(),
) -> list[Candidate]:
    """The candidates of one lift zone (bounding box `region`) on one frame."""
    found: list[Candidate] = []
    for box, score in detections(
        fm, two_wheeler_ids, params.two_wheeler_conf, params.nms_iou, params.max_two_wheelers
    ):
        c = clip(box, region)
        if c is not None:
            found.append(Candidate(c, "detector", score))
    for person, score in detections(
        fm, person_ids, params.person_conf, params.nms_iou, params.max_persons
    ):
        for r in person_regions(person):
            c = clip(r, region)
            if c is not None:
                found.append(Candidate(c, "person", score))
    all_ids = list(range(fm.raw.shape[0] - 4))
    for box, score in detections(
        fm, all_ids, params.proposal_conf, params.nms_iou, params.max_proposals
    ):
        c = clip(box, region)
        if c is not None:
            found.append(Candidate(c, "proposal", score))
    found.extend(Candidate(g, "grid") for g in grid_regions(region, params.grid_steps))
    return found
