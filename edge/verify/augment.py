"""Extra training views of the labelled pictures: mirror images and zoomed-in crops.

Every lift picture with an e-bike is a whole camera view, while the lift negatives we can make
(people-only and empty-car regions) are parts of one, so they look zoomed in. Without zoomed
positives a classifier could learn "zoomed in, so no e-bike". Crops that keep every e-bike whole,
at several zoom levels, take that cue away; mirror images double what little there is.
Training only: these views are never evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from edge.messages import Box
from edge.verify.dataset import Item, ItemKind, LabelBox

ZOOMS = (1.3, 1.7, 2.2)


@dataclass(frozen=True, slots=True)
class View:
    """A picture as the detector will see it: an item (maybe a region of it), maybe mirrored."""

    item: Item
    flip: bool = False
    tag: str = ""

    @property
    def id(self) -> str:
        return self.item.id + self.tag + ("|flip" if self.flip else "")

    def objects(self) -> list[LabelBox]:
        boxes = self.item.boxes_in_view()
        if not self.flip:
            return boxes
        return [
            LabelBox(b.label, Box(1 - b.box.x2, b.box.y1, 1 - b.box.x1, b.box.y2)) for b in boxes
        ]


def _zoom_region(target: Box, zoom: float, rng: np.random.Generator) -> Box | None:
    """A region 1/zoom of the frame (per side) that holds `target` whole, placed at random."""
    side = 1.0 / zoom
    if target.width > side or target.height > side:
        return None
    x1 = rng.uniform(max(0.0, target.x2 - side), min(target.x1, 1.0 - side))
    y1 = rng.uniform(max(0.0, target.y2 - side), min(target.y1, 1.0 - side))
    return Box(x1, y1, x1 + side, y1 + side)


def zoomed(item: Item, rng: np.random.Generator) -> list[View]:
    """Crops of a whole frame with an e-bike that keep every e-bike (and unsure object) whole."""
    keep = [b.box for b in item.boxes if b.label in ("ebike", "ignore")]
    if item.kind is not ItemKind.FRAME or not item.alarm or not keep:
        return []
    target = Box(
        min(b.x1 for b in keep),
        min(b.y1 for b in keep),
        max(b.x2 for b in keep),
        max(b.y2 for b in keep),
    )
    out = []
    for n, zoom in enumerate(ZOOMS, 1):
        region = _zoom_region(target, zoom, rng)
        if region is not None:
            view = replace(item, kind=ItemKind.AUGMENTED, region=region)
            out.append(View(view, tag=f"#zoom{n}"))
    return out


def training_views(item: Item, rng: np.random.Generator, *, mirror: bool = True) -> list[View]:
    """The item itself, its zoomed crops, and (for everything but web photos) mirror images."""
    views = [View(item), *zoomed(item, rng)]
    if mirror:
        views += [View(v.item, flip=True, tag=v.tag) for v in list(views)]
    return views
