"""The trained verifier on disk: a versioned `.npz` (numpy arrays plus one JSON header).

    meta            JSON: format, version, classes, detector (file name, sha256), features,
                    candidate parameters, decision mode and threshold, training summary
    box_mean, box_scale, box_weights, box_bias          box classifier (4 classes)
    frame_mean, frame_scale, frame_weights, frame_bias  whole-car classifier (e-bike / none)

Loaded with `allow_pickle=False`: a verifier file can hold numbers and text, never code. The
features are those of one detector file, so the verifier records its sha256 and refuses
another detector with a clear message.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.verify.candidates import CandidateParams
from edge.verify.classifier import Softmax
from edge.verify.context import BOX_CONTEXT, FRAME_CONTEXT, box_context, frame_context, positions
from edge.verify.dataset import CLASSES
from edge.verify.features import Array, FeatureSpec

FORMAT = "grid-sentinel.lift-verifier"
VERSION = 3
"""2: the whole-car classifier reads the maxima-only embedding (features.frame_columns); a
version 1 file's whole-car classifier reads all columns and cannot be used.
3: optionally context features (edge/verify/context.py) after the embeddings (`context` in
the header); a version 2 file is read as a version 3 file without them."""
READABLE = (2, 3)
MODES = ("combined", "box", "frame")
_PARTS = ("mean", "scale", "weights", "bias")


class VerifierFileError(Exception):
    """A verifier file that cannot be used here, and why."""


@dataclass(frozen=True, slots=True)
class VerifierModel:
    box: Softmax
    frame: Softmax
    spec: FeatureSpec
    detector_name: str
    detector_sha256: str
    mode: str = "combined"
    threshold: float = 0.5
    candidates: CandidateParams = field(default_factory=CandidateParams)
    info: Mapping[str, str | int | float] = field(default_factory=dict)
    context: bool = False
    """Whether both classifiers also read the context features (edge/verify/context.py)."""

    @property
    def box_size(self) -> int:
        return self.spec.size + (len(BOX_CONTEXT) if self.context else 0)

    @property
    def frame_size(self) -> int:
        return self.spec.frame_size + (len(FRAME_CONTEXT) if self.context else 0)

    def box_inputs(
        self, x: Array, boxes: npt.ArrayLike, persons: npt.ArrayLike, two_wheelers: npt.ArrayLike
    ) -> Array:
        """The box classifier's rows: the embeddings, then (with context) the context."""
        if not self.context:
            return x
        ctx = box_context(boxes, persons, two_wheelers, *positions(self.spec.two_wheeler_names))
        return np.concatenate([x, ctx], axis=1).astype(np.float32)

    def frame_inputs(
        self, frame_x: Array, persons: npt.ArrayLike, two_wheelers: npt.ArrayLike
    ) -> Array:
        if not self.context:
            return frame_x
        ctx = frame_context(persons, two_wheelers, *positions(self.spec.two_wheeler_names))
        return np.concatenate([frame_x, ctx]).astype(np.float32)

    def decide(self, box_score: float, frame_score: float) -> float:
        """The alarm score of one frame from its best box and its whole-car score."""
        if self.mode == "box":
            return box_score
        if self.mode == "frame":
            return frame_score
        return float(np.sqrt(max(box_score, 0.0) * max(frame_score, 0.0)))

    def with_decision(self, mode: str, threshold: float) -> VerifierModel:
        if mode not in MODES or not 0.0 < threshold < 1.0:
            raise ValueError(f"mode must be one of {MODES} and threshold in (0, 1)")
        return VerifierModel(
            self.box,
            self.frame,
            self.spec,
            self.detector_name,
            self.detector_sha256,
            mode,
            threshold,
            self.candidates,
            self.info,
            self.context,
        )

    def save(self, path: Path) -> None:
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "classes": list(CLASSES),
            "detector": {"name": self.detector_name, "sha256": self.detector_sha256},
            "features": asdict(self.spec),
            "candidates": asdict(self.candidates),
            "decision": {"mode": self.mode, "threshold": self.threshold},
            "info": dict(self.info),
            "context": {"box": list(BOX_CONTEXT), "frame": list(FRAME_CONTEXT)}
            if self.context
            else None,
        }
        arrays: dict[str, Any] = {"meta": np.array(json.dumps(meta, sort_keys=True))}
        for prefix, clf in (("box", self.box), ("frame", self.frame)):
            for part in _PARTS:
                arrays[f"{prefix}_{part}"] = getattr(clf, part)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path: Path) -> VerifierModel:
        arrays = _read(path)
        meta = _meta(path, arrays)
        try:
            spec = FeatureSpec(**{k: tuple(v) for k, v in meta["features"].items()})
            model = cls(
                box=_softmax(arrays, "box"),
                frame=_softmax(arrays, "frame"),
                spec=spec,
                detector_name=str(meta["detector"]["name"]),
                detector_sha256=str(meta["detector"]["sha256"]),
                mode=str(meta["decision"]["mode"]),
                threshold=float(meta["decision"]["threshold"]),
                candidates=CandidateParams(**meta["candidates"]),
                info=dict(meta.get("info", {})),
                context=_context(path, meta.get("context")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise VerifierFileError(f"{path}: damaged verifier file: {exc!r}") from exc
        _check_shapes(path, model)
        return model


def _read(path: Path) -> dict[str, np.ndarray[Any, Any]]:
    if not path.is_file():
        raise VerifierFileError(f"verifier file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise VerifierFileError(f"{path}: not a verifier file (.npz): {exc}") from exc


def _meta(path: Path, arrays: Mapping[str, np.ndarray[Any, Any]]) -> dict[str, Any]:
    try:
        meta = json.loads(str(arrays["meta"]))
    except (KeyError, ValueError) as exc:
        raise VerifierFileError(f"{path}: not a verifier file (no readable 'meta')") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise VerifierFileError(f"{path}: not a verifier file (format is not {FORMAT!r})")
    version = meta.get("version")
    if version not in READABLE:
        raise VerifierFileError(
            f"{path}: verifier file format version {version}, but this node reads versions "
            f"{READABLE[0]}-{READABLE[-1]}; retrain it with `edge models train-verifier`"
        )
    if meta.get("classes") != list(CLASSES):
        raise VerifierFileError(f"{path}: classes {meta.get('classes')} are not {list(CLASSES)}")
    if meta.get("decision", {}).get("mode") not in MODES:
        raise VerifierFileError(f"{path}: decision mode must be one of {MODES}")
    return meta


def _context(path: Path, described: Any) -> bool:
    if described is None:
        return False
    if described != {"box": list(BOX_CONTEXT), "frame": list(FRAME_CONTEXT)}:
        raise VerifierFileError(
            f"{path}: its context features {described} are not the ones this node computes; "
            "retrain it with `edge models train-verifier`"
        )
    return True


def _softmax(arrays: Mapping[str, np.ndarray[Any, Any]], prefix: str) -> Softmax:
    parts = [np.asarray(arrays[f"{prefix}_{p}"], dtype=np.float32) for p in _PARTS]
    return Softmax(*parts)


def _check_shapes(path: Path, model: VerifierModel) -> None:
    for name, clf, classes, size in (
        ("box", model.box, len(CLASSES), model.box_size),
        ("frame", model.frame, 2, model.frame_size),
    ):
        ok = (
            clf.weights.shape == (size, classes)
            and clf.mean.shape == (size,)
            and clf.scale.shape == (size,)
            and clf.bias.shape == (classes,)
        )
        if not ok:
            raise VerifierFileError(
                f"{path}: {name} classifier is {clf.weights.shape}, expected ({size}, {classes})"
            )


def check_detector(model: VerifierModel, detector_path: Path, detector_sha256: str) -> None:
    """The verifier's features only mean something for the detector it was trained with."""
    if detector_sha256 != model.detector_sha256:
        raise VerifierFileError(
            f"the verifier was trained on the features of {model.detector_name} "
            f"(sha256 {model.detector_sha256[:12]}...), but the detector is {detector_path.name} "
            f"(sha256 {detector_sha256[:12]}...); retrain it with `edge models train-verifier "
            f"--detector {detector_path}`"
        )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def newest(directory: Path, stem: str = "ebike_lift") -> Path:
    """The verifier file with the highest version in its name (`<stem>_v<N>.npz`): the one the
    held-out check and the example configs use. `_v10` is newer than `_v9`."""
    found = []
    for path in Path(directory).glob(f"{stem}_v*.npz"):
        number = path.stem[len(stem) + 2 :]
        if number.isdigit():
            found.append((int(number), path))
    if not found:
        raise VerifierFileError(f"no {stem}_v<N>.npz in {directory}")
    return max(found)[1]
