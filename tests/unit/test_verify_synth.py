"""Synthetic lift views (edge/verify/synth.py) and the site verifier's refusal rule
(edge/verify/site.py), on small made-up pictures."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.messages import Box
from edge.verify import synth
from edge.verify.dataset import Item, ItemKind, LabelBox, read_labels
from edge.verify.evaluate import Rate
from edge.verify.site import worse_figures


def _lift(tmp_path: Path) -> Item:
    image = np.full((240, 320, 3), 150, np.uint8)
    cv2.rectangle(image, (40, 60), (120, 230), (60, 60, 60), -1)  # an e-bike to paint out
    path = tmp_path / "lift.png"
    cv2.imwrite(str(path), image)
    boxes = (
        LabelBox("ebike", Box(0.125, 0.25, 0.375, 0.96)),
        LabelBox("person", Box(0.5, 0.1, 0.7, 0.95)),
    )
    return Item("lift.png", path, "lift1", ItemKind.FRAME, True, None, boxes)


def _bike_photo(tmp_path: Path) -> Item:
    image = np.full((200, 200, 3), 255, np.uint8)
    cv2.circle(image, (60, 130), 35, (0, 0, 200), 6)
    cv2.circle(image, (140, 130), 35, (0, 0, 200), 6)
    cv2.line(image, (60, 130), (100, 70), (0, 0, 200), 6)
    cv2.line(image, (100, 70), (140, 130), (0, 0, 200), 6)
    path = tmp_path / "bike.png"
    cv2.imwrite(str(path), image)
    box = (LabelBox("child_bicycle", Box(0.1, 0.25, 0.9, 0.9)),)
    return Item("bike.png", path, "bikes_a", ItemKind.FRAME, False, None, box, "other")


def test_synthetic_views_paint_out_e_bikes_and_name_both_sources(tmp_path: Path) -> None:
    lift, photo = _lift(tmp_path), _bike_photo(tmp_path)
    (bg,) = synth.lift_backgrounds([lift, photo])
    # The dark e-bike block is gone (painted from the grey around it); the person box stays.
    assert abs(float(bg.image[100:200, 60:100].mean()) - 150) < 20
    assert bg.persons == (Box(0.5, 0.1, 0.7, 0.95),) and len(bg.holes) == 1
    cuts = synth.cutouts([lift, photo])
    assert {c.label for c in cuts} == {"ebike", "child_bicycle"}
    plan = synth.SynthPlan(per_label=(("child_bicycle", 3), ("ebike", 2)), seed=1)
    made = synth.make_views([bg], cuts, tmp_path / "out", plan)
    # The e-bike cut out of this very lift is never pasted back into it.
    assert all(it.alarm is False for it in made)
    assert [it.kind for it in made] == [ItemKind.SYNTHETIC] * len(made)
    assert made[0].source == "lift1" and made[0].boxes[0].label != "child_bicycle"
    pasted = [it for it in made if it.source == "lift1+bikes_a"]
    assert len(pasted) >= 2
    for it in pasted:
        (obj,) = [b for b in it.boxes if b.label == "child_bicycle"]
        assert 0.0 <= obj.box.x1 < obj.box.x2 <= 1.0 and 0.0 <= obj.box.y1 < obj.box.y2 <= 1.0
        # A child's bicycle is smaller than the person beside it.
        assert obj.box.height < 0.85 * 0.6
    again = read_labels(tmp_path / "out" / "labels.csv", tmp_path / "out")
    assert [(i.id, i.source, i.kind, i.scene) for i in again] == [
        (i.id, i.source, i.kind, i.scene) for i in made
    ]
    # Deterministic for a seed.
    twice = synth.make_views([bg], cuts, tmp_path / "out2", plan)
    first = (tmp_path / "out" / "images" / pasted[0].path.name).read_bytes()
    assert (tmp_path / "out2" / "images" / pasted[0].path.name).read_bytes() == first
    assert [i.boxes for i in twice] == [i.boxes for i in made]


def test_a_site_verifier_worse_on_any_figure_is_refused() -> None:
    def figures(recall: int, bicycle: int) -> dict[str, dict[str, Rate]]:
        base = {
            f"false_alarms_{t}": Rate(0, 5)
            for t in ("child_bicycle", "stroller", "wheelchair", "people_only", "empty")
        }
        return {
            g: {"recall": Rate(recall, 10), "false_alarms_bicycle": Rate(bicycle, 5), **base}
            for g in ("lift", "other")
        }

    assert worse_figures(figures(8, 1), figures(9, 1)) == []
    worse = worse_figures(figures(8, 1), figures(8, 2))
    assert worse == [
        "lift false alarms on bicycle 40.0% (2/5) [12-77] > 20.0% (1/5) [4-62]",
        "other false alarms on bicycle 40.0% (2/5) [12-77] > 20.0% (1/5) [4-62]",
    ]
    assert worse_figures(figures(8, 1), figures(7, 0))[0].startswith("lift recall 70.0% (7/10)")
