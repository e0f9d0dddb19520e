"""On-disk cache of per-view features, so repeated training and evaluation skip the detector.

Running the detector over every view is nearly all the time `train-verifier` and `eval-lift`
take (0.1-0.2 s a view here); the classifiers fit in seconds. One `.npz` per view, named by a
hash of everything that decides its features:

- the detector file's sha256 (the features are its maps) and `EXTRACT_VERSION` (the code that
  pools and labels them: bump it when that code changes);
- the image file (resolved path, size, modification time: an edited picture is a new one);
- the view: region of the picture, the part kept at camera scale, mirror, the labelled boxes as
  seen, by classifier class (they label candidates; `child_bicycle` and `bicycle` label them
  alike);
- the candidate parameters.

The item and view ids are not in the key (a renamed label row reuses its features) and are set
on the way out. A cache file that cannot be read is a miss, and is rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.messages import Box
from edge.verify.augment import View
from edge.verify.candidates import CandidateParams
from edge.verify.dataset import coarse
from edge.verify.extract import EXTRACT_VERSION, ItemFeatures

DEFAULT_DIR = Path("~/.cache/grid-sentinel/verifier-features")
_UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


def default_dir() -> Path:
    """`$XDG_CACHE_HOME/grid-sentinel/verifier-features`, else under `~/.cache`."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) / "grid-sentinel" / "verifier-features" if xdg else DEFAULT_DIR
    return base.expanduser()


def _box(b: Box | None) -> list[float] | None:
    return None if b is None else [b.x1, b.y1, b.x2, b.y2]


@dataclass
class FeatureCache:
    """Features of one detector's views under `directory`; counts its hits and misses."""

    directory: Path
    detector_sha256: str
    params: CandidateParams
    hits: int = 0
    misses: int = 0

    def key(self, view: View) -> str:
        stat = view.item.path.stat()
        described = {
            "extract_version": EXTRACT_VERSION,
            "detector_sha256": self.detector_sha256,
            "image": str(view.item.path.resolve()),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "region": _box(view.item.region),
            "keep": _box(view.keep),
            "flip": view.flip,
            "objects": [[coarse(o.label), _box(o.box)] for o in view.objects()],
            "candidates": asdict(self.params),
        }
        text = json.dumps(described, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def _path(self, key: str) -> Path:
        # Per detector, so a stale detector's cache can be deleted as one directory.
        return self.directory / self.detector_sha256[:16] / key[:2] / f"{key}.npz"

    def get(self, view: View) -> ItemFeatures | None:
        path = self._path(self.key(view))
        try:
            with np.load(path, allow_pickle=False) as data:
                found = _from_arrays(view, {k: data[k] for k in data.files})
        except _UNREADABLE:
            found = None
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, view: View, features: ItemFeatures) -> None:
        path = self._path(self.key(view))
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside and renamed: a run that is killed leaves no half-written entry.
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **_to_arrays(features))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _to_arrays(f: ItemFeatures) -> dict[str, Any]:
    boxes = np.array([_box(b) for b in f.cand_boxes], dtype=np.float64).reshape(-1, 4)
    return {
        "cand_x": f.cand_x,
        "cand_y": f.cand_y,
        "cand_origin": np.array(f.cand_origin, dtype=np.str_).reshape(-1),
        "cand_boxes": boxes,
        "obj_x": f.obj_x,
        "obj_y": f.obj_y,
        "frame_x": f.frame_x,
        "stock_score": np.array(f.stock_score, dtype=np.float64),
        "obj_boxes": f.obj_boxes,
        "persons": f.persons,
        "two_wheelers": f.two_wheelers,
    }


def _from_arrays(view: View, a: dict[str, Any]) -> ItemFeatures:
    return ItemFeatures(
        item_id=view.item.id,
        view_id=view.id,
        cand_x=np.asarray(a["cand_x"], dtype=np.float32),
        cand_y=np.asarray(a["cand_y"], dtype=np.int64),
        cand_origin=tuple(str(s) for s in a["cand_origin"]),
        cand_boxes=tuple(Box(*(float(v) for v in row)) for row in a["cand_boxes"]),
        obj_x=np.asarray(a["obj_x"], dtype=np.float32),
        obj_y=np.asarray(a["obj_y"], dtype=np.int64),
        frame_x=np.asarray(a["frame_x"], dtype=np.float32),
        stock_score=float(a["stock_score"]),
        obj_boxes=np.asarray(a["obj_boxes"], dtype=np.float32).reshape(-1, 4),
        persons=np.asarray(a["persons"], dtype=np.float32).reshape(-1, 5),
        two_wheelers=np.asarray(a["two_wheelers"], dtype=np.float32).reshape(-1, 6),
    )
