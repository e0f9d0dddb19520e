"""Labelled pictures for training and evaluating the lift verifier, and the fixed splits.

A data directory is either

- a labels file (`labels.csv`, format below) whose image paths are relative to the directory, or
- class folders of crops, `<dir>/<class>/*.jpg|png` (what `save_feedback` writes).

`labels.csv` columns (lines starting with `#` are comments):

    id, image, source, kind, alarm, region, boxes[, scene]

`id` is unique; `source` groups pictures that share a camera or an origin (the unit of the
leave-one-source-out split); a synthetic view names every source it is made of joined by `+`
(the lift its background came from, the photo group its pasted object came from), so holding
out any of them keeps it out of training. `kind` is `frame` (a whole camera picture),
`subframe` (the part `region` of a frame), `crop` (an object crop: the picture is the object),
`synthetic` (a made-up lift view: trained on, reported apart, never counted as a real lift),
or `augmented` / `extra` (training only, never evaluated); `alarm` is 1 when an e-bike is
present (the rule must raise); `region` and each box are `x1 y1 x2 y2` normalised to the whole
image; `boxes` is `label x1 y1 x2 y2` joined by `;`, labels `ebike` (kick scooters and
self-balancing scooters too: same battery, same ban), `bicycle`, `child_bicycle`, `stroller`,
`wheelchair`, `stroller_or_wheelchair`, `person` or `ignore` (unsure: neither positive nor
negative). The fine labels only matter for the figures; the classifier learns the four
`CLASSES` (`COARSE`). `scene` (optional column; default `lift`) is `lift` for a view inside a
lift car or `other` for a photo taken elsewhere (web photos of wheelchairs and bicycles): the
figures keep the two apart.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from edge.messages import Box

CLASSES = ("ebike", "bicycle", "stroller_or_wheelchair", "other")
"""What the verifier tells apart, in the order of its outputs."""
EBIKE = 0
FINE_LABELS = ("child_bicycle", "stroller", "wheelchair")
BOX_LABELS = (*CLASSES[:3], *FINE_LABELS, "person", "ignore")
COARSE = {
    "child_bicycle": "bicycle",
    "stroller": "stroller_or_wheelchair",
    "wheelchair": "stroller_or_wheelchair",
}
"""The classifier class of each fine label (other labels are their own class)."""
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
COLUMNS = ("id", "image", "source", "kind", "alarm", "region", "boxes")
SCENE_COLUMNS = (*COLUMNS, "scene")
SCENES = ("lift", "other")


def coarse(label: str) -> str:
    """The label as the classifier sees it (`child_bicycle` -> `bicycle`, ...)."""
    return COARSE.get(label, label)


class DatasetError(Exception):
    """A labels file, split or data directory that cannot be used, with where and why."""


class ItemKind(StrEnum):
    FRAME = "frame"
    SUBFRAME = "subframe"
    CROP = "crop"
    SYNTHETIC = "synthetic"
    AUGMENTED = "augmented"
    EXTRA = "extra"

    @property
    def evaluated(self) -> bool:
        """Real pictures, judged one by one in the figures."""
        return self in (ItemKind.FRAME, ItemKind.SUBFRAME, ItemKind.CROP)


@dataclass(frozen=True, slots=True)
class LabelBox:
    label: str
    box: Box


@dataclass(frozen=True, slots=True)
class Item:
    """One labelled picture: an image file, or a region of one."""

    id: str
    path: Path
    source: str
    kind: ItemKind
    alarm: bool
    region: Box | None = None
    boxes: tuple[LabelBox, ...] = ()
    scene: str = "lift"

    @property
    def sources(self) -> frozenset[str]:
        """Every source the picture is made of (one, except for synthetic views)."""
        return frozenset(self.source.split("+"))

    def boxes_in_view(self) -> list[LabelBox]:
        """Boxes in the coordinates of the picture as seen (the region for a subframe)."""
        if self.region is None:
            return list(self.boxes)
        r = self.region
        w, h = r.width, r.height
        out = []
        for lb in self.boxes:
            b = lb.box
            x1, x2 = max(b.x1, r.x1), min(b.x2, r.x2)
            y1, y2 = max(b.y1, r.y1), min(b.y2, r.y2)
            if x2 > x1 and y2 > y1:
                view = Box((x1 - r.x1) / w, (y1 - r.y1) / h, (x2 - r.x1) / w, (y2 - r.y1) / h)
                out.append(LabelBox(lb.label, view))
        return out


def format_box(box: Box) -> str:
    return f"{box.x1:.3f} {box.y1:.3f} {box.x2:.3f} {box.y2:.3f}"


def parse_box(text: str, where: str) -> Box:
    try:
        x1, y1, x2, y2 = (float(v) for v in text.split())
    except ValueError as exc:
        raise DatasetError(f"{where}: expected 'x1 y1 x2 y2', got {text!r}") from exc
    if not (0.0 <= x1 < x2 <= 1.0 and 0.0 <= y1 < y2 <= 1.0):
        raise DatasetError(f"{where}: box {text!r} is not inside 0..1 with x1 < x2, y1 < y2")
    return Box(x1, y1, x2, y2)


def _parse_boxes(text: str, where: str) -> tuple[LabelBox, ...]:
    out = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        label, _, coords = part.partition(" ")
        if label not in BOX_LABELS:
            raise DatasetError(f"{where}: box label {label!r} is not one of {BOX_LABELS}")
        out.append(LabelBox(label, parse_box(coords, where)))
    return tuple(out)


def _item(row: dict[str, str], root: Path, where: str) -> Item:
    try:
        kind = ItemKind(row["kind"])
    except ValueError as exc:
        raise DatasetError(f"{where}: kind {row['kind']!r} is not one of {list(ItemKind)}") from exc
    if row["alarm"] not in ("0", "1"):
        raise DatasetError(f"{where}: alarm must be 0 or 1, got {row['alarm']!r}")
    region = parse_box(row["region"], where) if row["region"].strip() else None
    if (region is None) == (kind is ItemKind.SUBFRAME):
        raise DatasetError(f"{where}: a region is required for subframes and only for them")
    scene = (row.get("scene") or "lift").strip()
    if scene not in SCENES:
        raise DatasetError(f"{where}: scene must be one of {SCENES}, got {scene!r}")
    if not all(row["source"].split("+")):
        raise DatasetError(f"{where}: source {row['source']!r} has an empty part")
    return Item(
        id=row["id"],
        path=root / row["image"],
        source=row["source"],
        kind=kind,
        alarm=row["alarm"] == "1",
        region=region,
        boxes=_parse_boxes(row["boxes"], where),
        scene=scene,
    )


def read_labels(labels: Path, root: Path) -> list[Item]:
    """Items of a labels file; image paths are relative to `root`."""
    try:
        lines = labels.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"{labels}: cannot read: {exc}") from exc
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line and not line.startswith("#")]
    reader = csv.DictReader(line for _, line in numbered)
    if tuple(reader.fieldnames or ()) not in (COLUMNS, SCENE_COLUMNS):
        raise DatasetError(f"{labels}: header must be {','.join(SCENE_COLUMNS)} (scene optional)")
    items: list[Item] = []
    seen: set[str] = set()
    for (n, _), row in zip(numbered[1:], reader, strict=True):
        item = _item(row, root, f"{labels}:{n}")
        if item.id in seen:
            raise DatasetError(f"{labels}:{n}: duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    return items


def write_labels(items: Iterable[Item], labels: Path, root: Path, header: str) -> None:
    with labels.open("w", encoding="utf-8", newline="") as f:
        f.write("".join(f"# {line}\n" for line in header.splitlines()))
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(SCENE_COLUMNS)
        for it in items:
            boxes = ";".join(f"{b.label} {format_box(b.box)}" for b in it.boxes)
            region = format_box(it.region) if it.region else ""
            image = it.path.relative_to(root).as_posix()
            row = [it.id, image, it.source, it.kind, int(it.alarm), region, boxes, it.scene]
            writer.writerow(row)


def read_crop_folders(root: Path, source: str = "feedback") -> list[Item]:
    """`<root>/<class>/*.jpg|png` as crops of that class (the feedback loop's layout)."""
    items = []
    for label in CLASSES:
        folder = root / label
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                items.append(
                    Item(
                        id=f"{source}/{label}/{path.name}",
                        path=path,
                        source=source,
                        kind=ItemKind.CROP,
                        alarm=label == CLASSES[EBIKE],
                        boxes=(LabelBox(label, Box(0.0, 0.0, 1.0, 1.0)),),
                    )
                )
    return items


def load_data(data: Path, labels: Path | None = None) -> list[Item]:
    """The items of one data directory (see the module docstring)."""
    if not data.is_dir():
        raise DatasetError(f"{data}: not a directory")
    if labels is not None:
        return read_labels(labels, data)
    if (data / "labels.csv").is_file():
        return read_labels(data / "labels.csv", data)
    items = read_crop_folders(data, source=data.name)
    if not items:
        raise DatasetError(
            f"{data}: no labels.csv and no class folders ({', '.join(CLASSES)}) with images; "
            "for the shared ebike_lift set pass --labels datasets/ebike_lift/labels.csv"
        )
    return items


@dataclass(frozen=True, slots=True)
class Fold:
    name: str
    test_ids: frozenset[str]


def read_split(split_dir: Path) -> list[Fold]:
    """`<split_dir>/<fold>.txt`: the ids held out in that fold, one a line."""
    files = sorted(split_dir.glob("*.txt")) if split_dir.is_dir() else []
    if not files:
        raise DatasetError(f"{split_dir}: no <fold>.txt files")
    folds = []
    for f in files:
        ids = [ln.strip() for ln in f.read_text(encoding="utf-8").splitlines()]
        folds.append(Fold(f.stem, frozenset(i for i in ids if i and not i.startswith("#"))))
    return folds


def source_folds(items: Sequence[Item]) -> list[Fold]:
    """One fold per source: leave-one-source-out when no split files are given."""
    sources = sorted({it.source for it in items if it.kind.evaluated})
    return [
        Fold(s, frozenset(it.id for it in items if it.source == s and it.kind.evaluated))
        for s in sources
    ]


def check_folds(items: Sequence[Item], folds: Sequence[Fold]) -> None:
    """Every id in a fold exists, and no id is held out twice."""
    known = {it.id for it in items}
    seen: dict[str, str] = {}
    for fold in folds:
        unknown = sorted(fold.test_ids - known)
        if unknown:
            raise DatasetError(f"fold {fold.name}: ids not in the labels: {unknown[:5]}")
        for i in fold.test_ids:
            if i in seen:
                raise DatasetError(f"{i!r} is held out in both {seen[i]} and {fold.name}")
            seen[i] = fold.name


def train_items(items: Sequence[Item], fold: Fold) -> list[Item]:
    """Everything that shares no source with the fold's held-out items (a synthetic view made
    of a held-out lift or a held-out photo group is left out too)."""
    held: set[str] = set()
    for it in items:
        if it.id in fold.test_ids:
            held |= it.sources
    return [it for it in items if not it.sources & held]


def iter_images(items: Iterable[Item]) -> Iterator[Path]:
    seen: set[Path] = set()
    for it in items:
        if it.path not in seen:
            seen.add(it.path)
            yield it.path
