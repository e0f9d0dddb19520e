"""Synthetic lift views: real lift backgrounds with a bicycle, child's bicycle, wheelchair or
e-bike pasted in, for training (and a separate check), never counted as a real lift.

Every real lift frame we have holds an e-bike, so the verifier has seen almost no lift car with
something wheeled in it that must NOT alarm. A synthetic view is made from:

- a background: a real lift frame with its e-bikes (and unsure objects) painted out
  (`cv2.inpaint`), so what is left is the car and its people, or the one empty car;
- an object cut out of a labelled photo: GrabCut inside its box gives a mask, feathered;
- a placement a ceiling-corner camera would give: on the floor half of the car, next to a
  person (a rider pushes it in) when there is one, sized relative to the people in the car
  (an adult's bicycle about as tall as a person's lower body, a child's smaller), squashed
  vertically and sheared (seen from above), sometimes partly hidden (a band of it left out);
- lighting matched: the object's LAB mean and spread moved to the background's where it lands,
  then the whole picture re-encoded as a CCTV-quality JPEG.

The view names both sources (`<lift>+<photo group>`), so leave-one-source-out keeps it out of
training when either is held out (`dataset.train_items`). Deterministic for a seed.
There are no stroller pictures in our data, so none is made: the stroller figure stays
unmeasured.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge.messages import Box, Image
from edge.verify.dataset import Item, ItemKind, LabelBox, write_labels

PASTED = ("ebike", "bicycle", "child_bicycle", "wheelchair", "stroller")
"""Labels of objects that can be cut out and pasted."""
HIDE = ("ebike", "bicycle", "child_bicycle", "stroller", "wheelchair", "ignore")
"""What is painted out of a background (so it holds people only, or nothing)."""
MIN_SIDE = 40
"""Smallest object (pixels on each side) worth cutting out."""
CUT_SIDE = 160
"""Objects are cut out at most this many pixels on their longer side: GrabCut's time grows
with the pixels, and a lift camera sees an object at about this size anyway."""
HEIGHT_OF_PERSON = {
    "ebike": (0.55, 0.9),
    "bicycle": (0.55, 0.85),
    "child_bicycle": (0.35, 0.55),
    "wheelchair": (0.5, 0.75),
    "stroller": (0.45, 0.65),
}
"""Pasted height as a share of the median person's box height in the same frame."""
HEIGHT_OF_FRAME = {"child_bicycle": (0.2, 0.32)}
HEIGHT_OF_FRAME_DEFAULT = (0.3, 0.5)
"""Without people in the frame: pasted height as a share of the frame's."""


@dataclass(frozen=True, slots=True)
class Cutout:
    """An object cut out of a photo: BGR pixels and a 0..1 mask of the same size."""

    label: str
    pixels: Image
    mask: npt.NDArray[np.float32]
    source: str
    origin: str


@dataclass(frozen=True, slots=True)
class Background:
    item: Item
    image: Image
    persons: tuple[Box, ...]
    holes: tuple[Box, ...] = ()
    """Where e-bikes were painted out: where vehicles stand in this car."""


def _pixel_box(box: Box, w: int, h: int) -> tuple[int, int, int, int]:
    return (
        int(np.clip(box.x1 * w, 0, w - 1)),
        int(np.clip(box.y1 * h, 0, h - 1)),
        int(np.clip(np.ceil(box.x2 * w), 1, w)),
        int(np.clip(np.ceil(box.y2 * h), 1, h)),
    )


def read_image(path: Path) -> Image:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return np.asarray(image, dtype=np.uint8)


def background(item: Item, image: Image) -> Background:
    """The frame with every e-bike, bicycle, wheelchair and unsure object painted out."""
    h, w = image.shape[:2]
    mask = np.zeros((h, w), dtype=np.uint8)
    for lb in item.boxes:
        if lb.label in HIDE:
            x1, y1, x2, y2 = _pixel_box(lb.box, w, h)
            # A few pixels more: boxes are drawn tight, and an edge left behind bleeds in.
            mask[max(0, y1 - 3) : y2 + 3, max(0, x1 - 3) : x2 + 3] = 255
    # Inpainting is slow on big frames: paint at most 640 px wide, then scale the fill back.
    scale = min(1.0, 640 / max(w, 1))
    small = cv2.resize(image, (max(1, int(w * scale)), max(1, int(h * scale))))
    small_mask = cv2.resize(mask, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST)
    filled = cv2.inpaint(small, small_mask, 5, cv2.INPAINT_TELEA)
    big = cv2.resize(filled, (w, h))
    out = np.where(mask[..., None] > 0, big, image).astype(np.uint8)
    persons = tuple(lb.box for lb in item.boxes if lb.label == "person")
    holes = tuple(lb.box for lb in item.boxes if lb.label in HIDE and lb.label != "ignore")
    return Background(item, out, persons, holes)


def cut_out(image: Image, box: Box, label: str, source: str, origin: str) -> Cutout | None:
    """GrabCut inside `box` (with a margin): the object's pixels and a feathered mask."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = _pixel_box(box, w, h)
    if x2 - x1 < MIN_SIDE or y2 - y1 < MIN_SIDE:
        return None
    mx, my = max(4, (x2 - x1) // 10), max(4, (y2 - y1) // 10)
    cx1, cy1, cx2, cy2 = max(0, x1 - mx), max(0, y1 - my), min(w, x2 + mx), min(h, y2 + my)
    f = min(1.0, CUT_SIDE / max(x2 - x1, y2 - y1))
    crop: Image = np.ascontiguousarray(
        cv2.resize(
            image[cy1:cy2, cx1:cx2], (max(2, int((cx2 - cx1) * f)), max(2, int((cy2 - cy1) * f)))
        )
    )
    gc = np.zeros(crop.shape[:2], dtype=np.uint8)
    rect = (
        int((x1 - cx1) * f),
        int((y1 - cy1) * f),
        max(2, int((x2 - x1) * f)),
        max(2, int((y2 - y1) * f)),
    )
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(crop, gc, rect, bgd, fgd, 3, cv2.GC_INIT_WITH_RECT)
        fg = np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    except cv2.error:
        fg = np.zeros(crop.shape[:2], dtype=np.float32)
    inside = np.zeros_like(fg)
    inside[rect[1] : rect[1] + rect[3], rect[0] : rect[0] + rect[2]] = 1.0
    if fg.sum() < 0.15 * inside.sum():
        # GrabCut found next to nothing (thin frame, busy background): keep the box, softened.
        fg = inside
    mask = cv2.GaussianBlur(fg, (0, 0), sigmaX=1.5)
    return Cutout(label, crop, mask.astype(np.float32), source, origin)


def _match_light(obj: Image, mask: npt.NDArray[np.float32], patch: Image) -> Image:
    """Move the object's LAB mean and spread (where it is) to those of the patch it covers."""
    lab = cv2.cvtColor(obj, cv2.COLOR_BGR2LAB).astype(np.float32)
    ref = cv2.cvtColor(patch, cv2.COLOR_BGR2LAB).astype(np.float32).reshape(-1, 3)
    sel = mask > 0.5
    if sel.sum() < 10:
        return obj
    src = lab[sel]
    mean, std = src.mean(axis=0), src.std(axis=0) + 1e-3
    rmean, rstd = ref.mean(axis=0), ref.std(axis=0) + 1e-3
    # Lightness fully, colour half-way: a red e-bike must stay red under the car's light.
    gain = np.array([rstd[0] / std[0], 1.0, 1.0], dtype=np.float32).clip(0.5, 2.0)
    shift = np.array([rmean[0], 0.5 * (rmean[1] + mean[1]), 0.5 * (rmean[2] + mean[2])])
    out = (lab - mean) * gain + shift
    return np.asarray(cv2.cvtColor(out.clip(0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR))


def _warp(
    pixels: Image, mask: npt.NDArray[np.float32], rng: np.random.Generator
) -> tuple[Image, npt.NDArray[np.float32]]:
    """Seen from a ceiling corner: squashed vertically, sheared, maybe mirrored."""
    h, w = mask.shape
    squash = rng.uniform(0.65, 1.0)
    shear = rng.uniform(-0.25, 0.25)
    out_w = int(w + abs(shear) * h * squash) + 1
    out_h = max(2, int(h * squash))
    m = np.array([[1.0, shear, max(0.0, -shear) * out_h], [0.0, squash, 0.0]], dtype=np.float32)
    pix = cv2.warpAffine(pixels, m, (out_w, out_h), borderMode=cv2.BORDER_REPLICATE)
    msk = cv2.warpAffine(mask, m, (out_w, out_h), borderValue=0.0)
    if rng.random() < 0.5:
        pix, msk = pix[:, ::-1], msk[:, ::-1]
    return np.ascontiguousarray(pix), np.ascontiguousarray(msk)


def _target_height(cut: Cutout, bg: Background, frame_h: int, rng: np.random.Generator) -> int:
    if bg.persons:
        ph = float(np.median([p.height for p in bg.persons])) * frame_h
        lo, hi = HEIGHT_OF_PERSON.get(cut.label, (0.5, 0.8))
        return max(MIN_SIDE // 2, int(ph * rng.uniform(lo, hi)))
    lo, hi = HEIGHT_OF_FRAME.get(cut.label, HEIGHT_OF_FRAME_DEFAULT)
    return max(MIN_SIDE // 2, int(frame_h * rng.uniform(lo, hi)))


def _place(bg: Background, size: tuple[int, int], rng: np.random.Generator) -> tuple[int, int]:
    """Top-left corner: where a vehicle stood in this car (over the painted-out patch, which
    it then hides), beside a person (a rider pushing it), or anywhere on the floor half."""
    h, w = bg.image.shape[:2]
    ow, oh = size
    if bg.holes and rng.random() < 0.6:
        hole = bg.holes[int(rng.integers(len(bg.holes)))]
        x = int((hole.x1 + hole.x2) / 2 * w - ow / 2)
        y = int(hole.y2 * h - oh)
    elif bg.persons and rng.random() < 0.7:
        p = bg.persons[int(rng.integers(len(bg.persons)))]
        side = -1 if rng.random() < 0.5 else 1
        cx = (p.x1 + p.x2) / 2 * w + side * rng.uniform(0.2, 0.9) * p.width * w
        bottom = p.y2 * h + rng.uniform(-0.1, 0.05) * p.height * h
        x, y = int(cx - ow / 2), int(bottom - oh)
    else:
        x = int(rng.uniform(0, max(1, w - ow)))
        y = int(rng.uniform(0.35 * h, max(0.35 * h + 1, h - oh)))
    return int(np.clip(x, -ow // 4, w - 3 * ow // 4)), int(np.clip(y, 0, max(0, h - oh)))


def composite(bg: Background, cut: Cutout, rng: np.random.Generator) -> tuple[Image, Box] | None:
    """The background with the cut-out pasted in, and where it went (normalised)."""
    h, w = bg.image.shape[:2]
    pix, msk = _warp(cut.pixels, cut.mask, rng)
    th = _target_height(cut, bg, h, rng)
    tw = max(2, int(pix.shape[1] * th / max(1, pix.shape[0])))
    if tw >= w or th >= h:
        return None
    pix = np.asarray(cv2.resize(pix, (tw, th), interpolation=cv2.INTER_AREA), dtype=np.uint8)
    msk = np.asarray(cv2.resize(msk, (tw, th), interpolation=cv2.INTER_LINEAR), np.float32)
    if rng.random() < 0.35:
        # Partly hidden (a leg, a bag, the door): a band of the object left out.
        band = int(tw * rng.uniform(0.15, 0.35))
        start = int(rng.uniform(0, tw - band))
        msk[:, start : start + band] = 0.0
    x, y = _place(bg, (tw, th), rng)
    x1, y1, x2, y2 = max(0, x), max(0, y), min(w, x + tw), min(h, y + th)
    if x2 - x1 < tw // 2 or y2 - y1 < th // 2:
        return None
    ox1, oy1 = x1 - x, y1 - y
    obj = pix[oy1 : oy1 + (y2 - y1), ox1 : ox1 + (x2 - x1)]
    alpha = msk[oy1 : oy1 + (y2 - y1), ox1 : ox1 + (x2 - x1)][..., None]
    region = bg.image[y1:y2, x1:x2]
    obj = _match_light(obj, alpha[..., 0], region)
    out = bg.image.copy()
    blended = alpha * obj.astype(np.float32) + (1 - alpha) * region.astype(np.float32)
    out[y1:y2, x1:x2] = blended.clip(0, 255).astype(np.uint8)
    ys, xs = np.nonzero(alpha[..., 0] > 0.5)
    if len(xs) < 20:
        return None
    box = Box(
        (x1 + xs.min()) / w, (y1 + ys.min()) / h, (x1 + xs.max() + 1) / w, (y1 + ys.max() + 1) / h
    )
    return out, box


@dataclass(frozen=True, slots=True)
class SynthPlan:
    """How many views per background: one per pasted label, plus the background itself."""

    per_label: tuple[tuple[str, int], ...] = (
        ("bicycle", 2),
        ("child_bicycle", 2),
        ("wheelchair", 2),
        ("ebike", 3),
    )
    plain: bool = True
    jpeg_quality: tuple[int, int] = (55, 85)
    seed: int = 0


def cutouts(items: Sequence[Item], *, limit_per_source: int = 60) -> list[Cutout]:
    """Objects to paste from the labelled photos: one copy of each augmented photo group (the
    first), at most `limit_per_source` objects from any one source."""
    out: list[Cutout] = []
    per_source: dict[str, int] = {}
    seen_groups: set[str] = set()
    for item in items:
        if item.kind not in (ItemKind.FRAME, ItemKind.EXTRA) or item.region is not None:
            continue
        group = item.path.name.split("_jpg.rf.")[0]
        if group in seen_groups:
            continue
        wanted = [lb for lb in item.boxes if lb.label in PASTED]
        if not wanted or per_source.get(item.source, 0) >= limit_per_source:
            continue
        seen_groups.add(group)
        image = read_image(item.path)
        for lb in wanted:
            cut = cut_out(image, lb.box, lb.label, item.source, item.id)
            if cut is not None:
                out.append(cut)
                per_source[item.source] = per_source.get(item.source, 0) + 1
    return out


def make_views(
    backgrounds: Sequence[Background],
    cuts: Sequence[Cutout],
    out_dir: Path,
    plan: SynthPlan = SynthPlan(),
    progress: Callable[[str], None] | None = None,
) -> list[Item]:
    """Write the synthetic views under `out_dir/images/` and return them as items (paths in
    `out_dir`); `out_dir/labels.csv` lists them."""
    rng = np.random.default_rng(plan.seed)
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    by_label: dict[str, list[Cutout]] = {}
    for c in cuts:
        by_label.setdefault(c.label, []).append(c)
    items: list[Item] = []
    for n, bg in enumerate(backgrounds):
        people = tuple(LabelBox("person", p) for p in bg.persons)
        stem = f"s{n:03d}"
        jobs: list[tuple[str, Cutout | None]] = [("plain", None)] if plan.plain else []
        for label, count in plan.per_label:
            pool = by_label.get(label, [])
            # No object from the background's own lift: that would pair a lift with itself.
            pool = [c for c in pool if not set(c.source.split("+")) & bg.item.sources]
            # A source first, then one of its objects: 100 kick scooters from one fleet must
            # not make "e-bike" mean "kick scooter".
            sources = sorted({c.source for c in pool})
            for _ in range(count if pool else 0):
                chosen = sources[int(rng.integers(len(sources)))]
                mine = [c for c in pool if c.source == chosen]
                jobs.append((label, mine[int(rng.integers(len(mine)))]))
        for k, (label, cut) in enumerate(jobs):
            boxes: tuple[LabelBox, ...] = people
            source = bg.item.source
            picture = bg.image
            if cut is not None:
                made = composite(bg, cut, rng)
                if made is None:
                    continue
                picture, box = made
                boxes = (LabelBox(label, box), *people)
                source = f"{bg.item.source}+{cut.source}"
            quality = int(rng.integers(plan.jpeg_quality[0], plan.jpeg_quality[1] + 1))
            path = images / f"{stem}_{k}_{label}.jpg"
            cv2.imwrite(str(path), picture, [cv2.IMWRITE_JPEG_QUALITY, quality])
            items.append(
                Item(
                    id=f"synthetic/{path.name}",
                    path=path,
                    source=source,
                    kind=ItemKind.SYNTHETIC,
                    alarm=label == "ebike",
                    boxes=boxes,
                    scene="lift",
                )
            )
        if progress is not None:
            progress(f"synthetic: background {n + 1}/{len(backgrounds)}, {len(items)} views")
    header = (
        "Synthetic lift views made by `edge models synth-lift` (edge/verify/synth.py): real lift\n"
        "backgrounds with e-bikes painted out, objects cut out of labelled photos pasted in.\n"
        "Training and a separate check only; never a real lift."
    )
    write_labels(items, out_dir / "labels.csv", out_dir, header)
    return items


def lift_backgrounds(items: Sequence[Item]) -> list[Background]:
    """Every whole real lift frame, with its e-bikes painted out."""
    out = []
    for item in items:
        if item.kind is ItemKind.FRAME and item.scene == "lift":
            out.append(background(item, read_image(item.path)))
    return out
