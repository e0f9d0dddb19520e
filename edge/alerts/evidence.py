"""Snapshots that show the offence: the frame with the zone outline and the objects boxed,
and, through a Stamper (edge/alerts/stamp.py), what, where and when written on it."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.alerts.stamp import StampContext, Stamper, object_name, stamp_lines
from edge.budget import ByteBudget
from edge.messages import AlertKind, AlertObject, Image, Severity

log = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")
_ZONE_COLOUR = (0, 215, 255)  # amber, BGR
_OBJECT_COLOUR = (0, 0, 255)  # red


@dataclass(frozen=True, slots=True)
class Caption:
    """What a snapshot's stamp says: the alert's rule and severity, its place, its time."""

    kind: AlertKind
    severity: Severity
    where: StampContext
    when_wall: float


@dataclass(frozen=True, slots=True)
class Evidence:
    snapshot_id: str
    path: Path
    width: int
    height: int
    bytes: int
    sha256: str


def annotate(
    image: Image,
    zone: Sequence[tuple[float, float]] | None,
    objects: Sequence[AlertObject],
    *,
    stamper: Stamper | None = None,
    caption: Caption | None = None,
) -> Image:
    """A copy of the frame with the zone outlined and each object boxed and labelled; with a
    stamper and a caption, labels in the operator's words and the what/where/when band."""
    out = image.copy()
    h, w = out.shape[:2]
    thick = max(2, round(min(w, h) / 240))
    font = max(0.5, min(w, h) / 900)
    if zone:
        pts = np.array([[round(x * w), round(y * h)] for x, y in zone], dtype=np.int32)
        cv2.polylines(out, [pts], isClosed=True, color=_ZONE_COLOUR, thickness=thick)
    if stamper is not None and caption is not None:
        labels = []
        for obj in objects:
            b = obj.box
            p1, p2 = (round(b.x1 * w), round(b.y1 * h)), (round(b.x2 * w), round(b.y2 * h))
            cv2.rectangle(out, p1, p2, _OBJECT_COLOUR, thick)
            name = object_name(obj, caption.kind, stamper.language)
            labels.append((p1, f"{name} {obj.confidence:.0%}"))
        lines = stamp_lines(
            caption.kind, caption.severity, objects, caption.where,
            when_wall=caption.when_wall, tz=stamper.tz, language=stamper.language,
        )  # fmt: skip
        return stamper.draw(out, lines, labels, _OBJECT_COLOUR)
    for obj in objects:
        b = obj.box
        p1, p2 = (round(b.x1 * w), round(b.y1 * h)), (round(b.x2 * w), round(b.y2 * h))
        cv2.rectangle(out, p1, p2, _OBJECT_COLOUR, thick)
        label = f"{obj.class_name} {obj.confidence:.2f}"
        org = (p1[0], max(12, p1[1] - 4))
        cv2.putText(
            out,
            label,
            org,
            cv2.FONT_HERSHEY_SIMPLEX,
            font,
            _OBJECT_COLOUR,
            thick // 2 + 1,
            cv2.LINE_AA,
        )
    return out


class SnapshotStore:
    """JPEG files under one directory, named by alert id and sequence; nothing outside it.

    With `max_bytes`, the oldest snapshots are deleted once the directory holds more: a node
    runs for years on a small disk, and a full disk would stop the outbox too, which would lose
    alerts, far worse than losing an old picture.
    """

    def __init__(
        self,
        directory: Path,
        *,
        quality: int = 85,
        max_bytes: int | None = None,
        stamper: Stamper | None = None,
    ) -> None:
        self.directory = directory
        self.stamper = stamper
        self._quality = quality
        self._budget = (
            ByteBudget(directory, ".jpg", max_bytes, "snapshot") if max_bytes is not None else None
        )

    def save(
        self,
        alert_id: str,
        seq: int,
        image: Image,
        zone: Sequence[tuple[float, float]] | None,
        objects: Sequence[AlertObject],
        *,
        caption: Caption | None = None,
    ) -> Evidence:
        snapshot_id = f"{alert_id}-{seq}"
        path = self.path_of(snapshot_id)
        picture = annotate(image, zone, objects, stamper=self.stamper, caption=caption)
        ok, buf = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        if not ok:
            raise OSError(f"could not encode the snapshot {snapshot_id} as JPEG")
        data = buf.tobytes()
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # a reader never sees half a JPEG
        if self._budget is not None:
            self._budget.add(path, len(data))
        h, w = image.shape[:2]
        return Evidence(snapshot_id, path, w, h, len(data), hashlib.sha256(data).hexdigest())

    @property
    def pruned(self) -> int:
        """Snapshots deleted to keep within the budget, since start."""
        return self._budget.pruned if self._budget is not None else 0

    def path_of(self, snapshot_id: str) -> Path:
        """Where a snapshot lives; refuses ids that could name a file elsewhere."""
        if not _SAFE_ID.match(snapshot_id) or ".." in snapshot_id:
            raise ValueError(f"not a snapshot id: {snapshot_id!r}")
        return self.directory / f"{snapshot_id}.jpg"
