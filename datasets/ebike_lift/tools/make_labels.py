"""Build datasets/ebike_lift/labels.csv and the leave-one-source-out split from the labels we have.

    .venv/bin/python datasets/ebike_lift/tools/make_labels.py --shared ../shared/datasets/ebike_lift

Inputs: the original label files in the shared set (EtoilesHa YOLO boxes, lexra wheelchair YOLO
boxes, class-by-file-name crops, ShaminAsfaq bicycle YOLO-OBB boxes, jerryshen kick-scooter YOLO
boxes), the collection's `image_labels.csv` (which bicycle photos are children's bicycles or
e-bikes), our own boxes in `hand_boxes.csv` (drawn by looking), and generated *people-only /
empty-car* negatives: regions of the labelled lift frames that hold no e-bike, bicycle or unsure
object. Deterministic: the same inputs give the same files. New sources are appended after the
old ones, so the old items keep their order (and their zoomed training views).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from edge.messages import Box  # noqa: E402
from edge.verify.dataset import Item, ItemKind, LabelBox, write_labels  # noqa: E402

HERE = Path(__file__).resolve().parents[1]
ET = "etoilesha_ebike-detect-via-YOLO"
WC = "negatives_non_elevator/lexra_wheelchair_date-20230821"
LIFT_SOURCES = {
    "qwaiz_Electric-vehicle-detect": "qwaiz",
    "ruoclio_awesome-DeepLearning": "ruoclio",
    "lily-le_ebikedetection": "lilyle",
    ET: "etoilesha",
}
VEHICLES = {"ebike", "bicycle", "stroller_or_wheelchair", "wheelchair", "ignore"}
BIKES = "shaminasfaq_pythonproject-yolo"
SCOOTERS = "jerryshen0523_campus-scooter-detection"
EMPTY_CAR = "cemreefe_elevator-tracking/images/elevator1.png"


def yolo_boxes(txt: Path, names: dict[str, str]) -> list[LabelBox]:
    out = []
    for line in txt.read_text().splitlines():
        if not line.strip():
            continue
        c, cx, cy, w, h = line.split()
        x, y, bw, bh = float(cx), float(cy), float(w), float(h)
        box = Box(
            max(0.0, x - bw / 2), max(0.0, y - bh / 2), min(1.0, x + bw / 2), min(1.0, y + bh / 2)
        )
        out.append(LabelBox(names[c], box))
    return out


def hand_boxes() -> dict[str, list[LabelBox]]:
    lines = [
        ln for ln in (HERE / "hand_boxes.csv").read_text().splitlines() if not ln.startswith("#")
    ]
    out: dict[str, list[LabelBox]] = defaultdict(list)
    for row in csv.DictReader(lines):
        b = Box(*(float(row[k]) for k in ("x1", "y1", "x2", "y2")))
        out[row["image"]].append(LabelBox(row["label"], b))
    return out


def frame(root: Path, rel: str, source: str, kind: ItemKind, boxes: list[LabelBox]) -> Item:
    alarm = any(b.label == "ebike" for b in boxes)
    return Item(rel, root / rel, source, kind, alarm, None, tuple(boxes))


def etoilesha(root: Path, hand: dict[str, list[LabelBox]]) -> list[Item]:
    names = {"0": "ebike", "1": "person"}
    items = []
    for img in sorted((root / ET / "images").glob("*.png")):
        rel = img.relative_to(root).as_posix()
        boxes = yolo_boxes(root / ET / "labels" / f"{img.stem}.txt", names) + hand.get(rel, [])
        items.append(frame(root, rel, "etoilesha", ItemKind.FRAME, boxes))
    for img in sorted((root / ET / "augmented" / "images").glob("*.jpg")):
        rel = img.relative_to(root).as_posix()
        if any(img.stem.startswith(Path(h).stem) for h in hand):
            continue  # our boxes on the original cannot follow its rotations and shifts
        boxes = yolo_boxes(root / ET / "augmented" / "labels" / f"{img.stem}.txt", names)
        items.append(frame(root, rel, "etoilesha", ItemKind.AUGMENTED, boxes))
    return items


def wheelchairs(root: Path) -> list[Item]:
    names = {"0": "person", "1": "wheelchair"}
    items = []
    for n, img in enumerate(sorted((root / WC / "images").glob("*.jpg"))):
        rel = img.relative_to(root).as_posix()
        boxes = yolo_boxes(root / WC / "labels" / f"{img.stem}.txt", names)
        source = "wheelchair_a" if n % 2 == 0 else "wheelchair_b"
        items.append(replace(frame(root, rel, source, ItemKind.FRAME, boxes), scene="other"))
    return items


def image_labels(path: Path) -> dict[str, dict[str, str]]:
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]
    return {row["image"]: row for row in csv.DictReader(lines)}


def obb_boxes(txt: Path, bike: str) -> list[LabelBox]:
    """YOLO-OBB lines (class, 4 corners) as axis-aligned boxes. Class 0 (`Bike`) is the bicycle,
    3 (`Person-Bike`) the person (SOURCES.md, source 10); the other classes (a few cars,
    motorbikes, vans) are unsure: `ignore`."""
    out = []
    for line in txt.read_text().splitlines():
        v = line.split()
        if len(v) != 9:
            continue
        xs, ys = [float(x) for x in v[1::2]], [float(y) for y in v[2::2]]
        x1, y1 = max(0.0, min(xs)), max(0.0, min(ys))
        x2, y2 = min(1.0, max(xs)), min(1.0, max(ys))
        if x2 - x1 < 1e-3 or y2 - y1 < 1e-3:
            continue
        label = {"0": bike, "3": "person"}.get(v[0], "ignore")
        out.append(LabelBox(label, Box(x1, y1, x2, y2)))
    return out


def bicycles(root: Path) -> list[Item]:
    """The 50 bicycle photos (3 augmented copies each, kept in one fold by photo): children's
    bicycles (`yes` and `unsure` in image_labels.csv) as `child_bicycle`, the 2 e-bikes the
    source labels `Bike` as `ebike`. Web photos: scene `other`."""
    rows = image_labels(root / BIKES / "image_labels.csv")
    stems = sorted({Path(r).name.split("_jpg.rf.")[0] for r in rows})
    group = {stem: "bicycles_a" if n % 2 == 0 else "bicycles_b" for n, stem in enumerate(stems)}
    items = []
    for image, row in sorted(rows.items()):
        stem = Path(image).name.split("_jpg.rf.")[0]
        if row["ebike"] == "yes":
            bike = "ebike"
        elif row["child_bicycle"] in ("yes", "unsure"):
            bike = "child_bicycle"
        else:
            bike = "bicycle"
        txt = root / BIKES / "labels" / Path(image).relative_to("images").with_suffix(".txt")
        boxes = obb_boxes(txt, bike)
        rel = f"{BIKES}/{image}"
        item = frame(root, rel, group[stem], ItemKind.FRAME, boxes)
        items.append(replace(item, scene="other"))
    return items


def scooters(root: Path) -> list[Item]:
    """Stand-up electric kick scooters: e-bikes for the rule (same battery, same ban)."""
    items = []
    for n, img in enumerate(sorted((root / SCOOTERS / "images").glob("*.jpg"))):
        rel = img.relative_to(root).as_posix()
        boxes = yolo_boxes(root / SCOOTERS / "labels" / f"{img.stem}.txt", {"0": "ebike"})
        source = "scooters_a" if n % 2 == 0 else "scooters_b"
        items.append(replace(frame(root, rel, source, ItemKind.FRAME, boxes), scene="other"))
    return items


def empty_car(root: Path) -> list[Item]:
    """The one real empty lift car (cemreefe): a whole-frame negative."""
    return [frame(root, EMPTY_CAR, "cemreefe", ItemKind.FRAME, [])]


def crops(root: Path) -> list[Item]:
    whole = Box(0.0, 0.0, 1.0, 1.0)
    items = []
    for folder in ("shaojun_tao-toolkit-triton-apps", "shaojun_open_docs"):
        for img in sorted((root / folder / "images").iterdir()):
            label = "bicycle" if "bicycle" in img.stem and "electric" not in img.stem else "ebike"
            rel = img.relative_to(root).as_posix()
            items.append(frame(root, rel, "shaojun", ItemKind.CROP, [LabelBox(label, whole)]))
    rel = "ruoclio_awesome-DeepLearning/crops/pplcnet_test.jpg"
    items.append(frame(root, rel, "ruoclio", ItemKind.CROP, [LabelBox("ebike", whole)]))
    return items


def hand_frames(root: Path, hand: dict[str, list[LabelBox]]) -> list[Item]:
    items = []
    for rel, boxes in hand.items():
        top = rel.split("/")[0]
        if top in LIFT_SOURCES and top != ET:
            items.append(frame(root, rel, LIFT_SOURCES[top], ItemKind.FRAME, boxes))
        elif top.startswith("extra_"):
            items.append(frame(root, rel, "gumplyz", ItemKind.EXTRA, boxes))
    return items


def _clean(region: Box, boxes: list[LabelBox]) -> bool:
    """No vehicle (or unsure object) has more than 3 % of its area inside the region."""
    for lb in boxes:
        if lb.label in VEHICLES:
            b = lb.box
            iw = min(b.x2, region.x2) - max(b.x1, region.x1)
            ih = min(b.y2, region.y2) - max(b.y1, region.y1)
            if iw > 0 and ih > 0 and iw * ih > 0.03 * b.area:
                return False
    return True


def _proposals(boxes: list[LabelBox]) -> list[Box]:
    """Margins beside the vehicles, then people (widened): the places a negative can come from."""
    veh = [b.box for b in boxes if b.label in VEHICLES]
    gap = 0.02
    left = min((b.x1 for b in veh), default=1.0) - gap
    right = max((b.x2 for b in veh), default=0.0) + gap
    top = min((b.y1 for b in veh), default=1.0) - gap
    bottom = max((b.y2 for b in veh), default=0.0) + gap
    out = [Box(0.0, 0.0, left, 1.0), Box(right, 0.0, 1.0, 1.0)]
    out += [Box(0.0, 0.0, 1.0, top), Box(0.0, bottom, 1.0, 1.0)]
    for lb in boxes:
        if lb.label == "person":
            p = lb.box
            dx = 0.25 * p.width
            out.append(Box(max(0.0, p.x1 - dx), p.y1, min(1.0, p.x2 + dx), p.y2))
    return out


def subframes(item: Item, size: tuple[int, int]) -> list[Item]:
    w, h = size
    kept: list[Box] = []
    for r in _proposals(list(item.boxes)):
        if r.x2 - r.x1 <= 0 or r.y2 - r.y1 <= 0:
            continue
        pw, ph = r.width * w, r.height * h
        big = r.area >= 0.12 and min(pw, ph) >= 160 and max(pw, ph) / min(pw, ph) <= 3.0
        if big and _clean(r, list(item.boxes)) and all(r.iou(k) < 0.5 for k in kept):
            kept.append(r)
    return [
        Item(f"{item.id}#{n}", item.path, item.source, ItemKind.SUBFRAME, False, r, item.boxes)
        for n, r in enumerate(kept[:3], 1)
    ]


HEADER = """Grid Sentinel labels for the shared ebike_lift set (paths relative to it).
Built by datasets/ebike_lift/tools/make_labels.py from the source label files, our hand_boxes.csv,
the collection's image_labels.csv and generated people-only / empty-car subframes.
See datasets/ebike_lift/README.md."""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shared", required=True, type=Path, help="the shared ebike_lift directory")
    args = p.parse_args()
    root = args.shared.resolve()
    hand = hand_boxes()
    items = etoilesha(root, hand) + hand_frames(root, hand) + crops(root) + wheelchairs(root)
    extra = []
    for it in items:
        if it.kind is ItemKind.FRAME and it.source in LIFT_SOURCES.values():
            img = cv2.imread(str(it.path))
            assert img is not None, it.path
            extra += subframes(it, (img.shape[1], img.shape[0]))
    items += extra
    items += empty_car(root) + bicycles(root) + scooters(root)
    write_labels(items, HERE / "labels.csv", root, HEADER)
    split = HERE / "splits" / "loso"
    split.mkdir(parents=True, exist_ok=True)
    for old in split.glob("*.txt"):
        old.unlink()
    by_source: dict[str, list[str]] = defaultdict(list)
    for it in items:
        if it.kind.evaluated:
            by_source[it.source].append(it.id)
    for source, ids in sorted(by_source.items()):
        (split / f"{source}.txt").write_text("\n".join(ids) + "\n")
    counts: dict[tuple[str, str, str, int], int] = defaultdict(int)
    for it in items:
        counts[(it.source, it.scene, it.kind.value, int(it.alarm))] += 1
    for key, n in sorted(counts.items()):
        print(*key, n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
