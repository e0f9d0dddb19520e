"""The feedback loop: crops behind lift alerts, and operators' verdicts on them as training data.

- `CropStore` keeps the crop (the verifier's best box, unannotated) of each raised or updated
  lift alert under its `crop_id` (the alert's `detail["crop_id"]`), bounded in count.
- `save_feedback(crop, label, directory)` files a crop as a labelled example: when the platform
  `release`s a lift alarm (false alarm), save its crop as `other` (or `bicycle` /
  `stroller_or_wheelchair` when the operator says so); when an alarm is confirmed, as `ebike`.

The labelled directory is in the class-folder layout `train-verifier` reads
(`<directory>/<label>/<name>.png`), so a site's own verifier learns from its mistakes, with a
before / after report on the site's crops and a refusal if it would be worse than the general
verifier on the general evaluation (edge/verify/site.py, docs/verifier.md "Per-site learning"):

    edge models train-verifier --data ../shared/datasets/ebike_lift \
        --labels datasets/ebike_lift/labels.csv --site-crops var/verifier/feedback \
        --general models/verifier/ebike_lift_v1.npz --out var/verifier/site_v1.npz --cache
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from pathlib import Path

import cv2
import numpy as np

from edge.messages import Image
from edge.verify.dataset import CLASSES

log = logging.getLogger(__name__)

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def _write_png(path: Path, image: Image) -> None:
    """Atomically: a reader never sees half a file, and a crash leaves no broken one."""
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"cannot encode a {image.shape} image as PNG")
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data.tobytes())
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def save_feedback(crop: Image, label: str, directory: Path) -> Path:
    """File `crop` (BGR) as a training example of class `label`; returns where it went.

    Named by content, so the same crop confirmed twice is one example, not two.
    """
    if label not in CLASSES:
        raise ValueError(f"label must be one of {CLASSES}, got {label!r}")
    image = np.ascontiguousarray(crop)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or image.size == 0:
        raise ValueError(f"expected a BGR uint8 H x W x 3 crop, got {image.dtype} {image.shape}")
    folder = Path(directory) / label
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(image.tobytes()).hexdigest()[:20]}.png"
    if not path.exists():
        _write_png(path, image)
        log.info("feedback: saved a %s example %s", label, path)
    return path


class CropStore:
    """Crops of recent lift alerts by crop id, at most `max_files` (oldest go first).

    Shared by every detection lane's verifier, so writing and pruning take a lock: two lanes
    pruning at once would stat files the other has just deleted.
    """

    def __init__(self, directory: Path, max_files: int = 500) -> None:
        if max_files < 1:
            raise ValueError("max_files must be at least 1")
        self.directory = Path(directory)
        self._max = max_files
        self._lock = threading.Lock()

    def _path(self, crop_id: str) -> Path:
        if not _SAFE.match(crop_id):
            raise ValueError(f"not a crop id: {crop_id!r}")
        return self.directory / f"{crop_id}.png"

    def put(self, crop_id: str, crop: Image) -> Path:
        path = self._path(crop_id)
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            _write_png(path, np.ascontiguousarray(crop))
            self._prune()
        return path

    def load(self, crop_id: str) -> Image | None:
        """The crop, or None when it was never kept or has been pruned."""
        path = self._path(crop_id)
        if not path.is_file():
            return None
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        return None if image is None else np.asarray(image, dtype=np.uint8)

    def _prune(self) -> None:
        files = sorted(self.directory.glob("*.png"), key=lambda p: (p.stat().st_mtime, p.name))
        for old in files[: max(0, len(files) - self._max)]:
            old.unlink(missing_ok=True)
