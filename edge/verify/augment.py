"""Extra training views of the labelled pictures: mirror images and zoomed-in crops.

Every lift picture with an e-bike is a whole camera view, while the lift negatives we can make
(people-only and empty-car regions) are parts of one, so they look zoomed in. Without zoomed
positives a classifier could learn "zoomed in, so no e-bike". Crops that keep every e-bike whole,
at several zoom levels, take that cue away; mirror images double what little there is.
Camera-scale views go the other way: the same regions (negatives and zoomed positives alike) at
the scale the camera sees them, the rest of the frame greyed out, so a person in a lift is
also seen as large as a real people-only frame would show them.
Training only: these views are never evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from edge.messages import Box
from edge.verify.dataset import Item, ItemKind, LabelBox

ZOOMS = (1.3, 1.7, 2.2)
GREY = 114
"""What a camera-scale view shows outside its region: the detector's own letterbox grey."""
HIDDEN = 0.5
"""An object with less than this share of it left in a camera-scale view becomes `ignore`."""


@dataclass(frozen=True, slots=True)
class View:
    """A picture as the detector will see it: an item (maybe a region of it), maybe with all
    but `keep` greyed out, maybe mirrored."""

    item: Item
    flip: bool = False
    tag: str = ""
    keep: Box | None = None

    @property
    def id(self) -> str:
        return self.item.id + self.tag + ("|flip" if self.flip else "")

    def objects(self) -> list[LabelBox]:
        boxes = self.item.boxes_in_view()
        if self.keep is not None:
            boxes = _kept(boxes, self.keep)
        if not self.flip:
            return boxes
        return [
            LabelBox(b.label, Box(1 - b.box.x2, b.box.y1, 1 - b.box.x1, b.box.y2)) for b in boxes
        ]


def _kept(boxes: list[LabelBox], keep: Box) -> list[LabelBox]:
    """The boxes as far as they are inside `keep`; a mostly hidden object is unsure."""
    out = []
    for b in boxes:
        x1, y1 = max(b.box.x1, keep.x1), max(b.box.y1, keep.y1)
        x2, y2 = min(b.box.x2, keep.x2), min(b.box.y2, keep.y2)
        if x2 <= x1 or y2 <= y1:
            continue
        inside = Box(x1, y1, x2, y2)
        hidden = b.label != "person" and inside.area < HIDDEN * b.box.area
        out.append(LabelBox("ignore" if hidden else b.label, inside))
    return out


def camera_scale(view: View) -> View | None:
    """`view` (a region of a frame) back at the frame's scale, the rest greyed out."""
    region = view.item.region
    if region is None or view.flip:
        return None
    whole = replace(view.item, kind=ItemKind.AUGMENTED, region=None)
    return View(whole, tag=view.tag + "#scale", keep=region)


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


def training_views(
    item: Item, rng: np.random.Generator, *, mirror: bool = True, scale: bool = True
) -> list[View]:
    """The item itself, its zoomed crops, their camera-scale views (`scale`: of subframes and
    zoomed crops), and mirror images of all (`mirror`)."""
    if item.kind is ItemKind.SYNTHETIC:
        return [View(item)]  # already placed and mirrored at random when it was made
    views = [View(item), *zoomed(item, rng)]
    if scale:
        views += [v for v in map(camera_scale, list(views)) if v is not None]
    if mirror:
        views += [View(v.item, flip=True, tag=v.tag, keep=v.keep) for v in list(views)]
    return views
