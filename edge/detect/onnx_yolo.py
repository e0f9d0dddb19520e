"""An Ultralytics YOLO detection export (YOLOv8/YOLO11, fp32 or int8) run with onnxruntime on CPU.

Everything model-specific is read from the file: class names from the `names` metadata, the
input size from the input shape (or `imgsz` metadata for dynamic exports), the output layout
from the output shape. Class names, never COCO ids, decide what we keep.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from edge.detect.postprocess import batched_nms, decode, to_normalised
from edge.detect.preprocess import LetterboxResult, letterbox
from edge.messages import Box, Category, Detection, Image

DEFAULT_INPUT_SIZE = 640
_FLOAT_INPUT = "tensor(float)"


class ModelError(Exception):
    """The model file is missing, unreadable, or not the kind of model we can run."""


class OnnxYoloDetector:
    """Detects the objects named in `class_map` and maps them to our categories.

    Not safe to call `detect` from several threads at once: it reuses one input buffer.
    Use one detector per worker.
    """

    def __init__(
        self,
        model_path: Path,
        class_map: Mapping[str, Category],
        *,
        threads: int = 1,
        conf_threshold: float = 0.25,
        iou_threshold: float = 0.45,
        names: Sequence[str] | None = None,
        feature_outputs: Sequence[str] = (),
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        if not 0.0 <= conf_threshold < 1.0:
            raise ValueError(f"conf_threshold must be in [0, 1), got {conf_threshold}")
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        if not class_map:
            raise ValueError("class_map is empty: the detector would never report anything")
        self._model_path = Path(model_path)
        self._conf = conf_threshold
        self._iou = iou_threshold
        self._session = _open_session(self._model_path, threads, feature_outputs)
        # Extra graph tensors (e.g. neck feature maps for the lift verifier) fetched with the
        # boxes from the same run; after each `detect` they are in `last_outputs`.
        self._feature_outputs = tuple(feature_outputs)
        self.last_outputs: dict[str, npt.NDArray[np.float32]] = {}
        self.last_letterbox: LetterboxResult | None = None
        metadata = _metadata(self._session)
        self._names = (
            tuple(names) if names is not None else _names_from_metadata(self._model_path, metadata)
        )
        if not self._names:
            raise ModelError(f"{self._model_path}: the class name list is empty")
        model_input = _single_input(self._model_path, self._session)
        self._input_name: str = model_input.name
        self._input_size = _input_size(model_input.shape, metadata)
        self._output_name: str = self._session.get_outputs()[0].name
        _check_output_shape(self._model_path, self._session, len(self._names))
        self._keep_ids, self._categories = _resolve_classes(
            self._model_path, self._names, class_map
        )
        self._buffer = np.empty((1, 3, *self._input_size), dtype=np.float32)
        order = list(Category)
        self._category_index = np.array(
            [
                order.index(self._categories[i]) if i in self._categories else -1
                for i in range(len(self._names))
            ],
            dtype=np.intp,
        )

    @property
    def model_path(self) -> Path:
        return self._model_path

    @property
    def names(self) -> tuple[str, ...]:
        """All class names of the model, by class id."""
        return self._names

    @property
    def input_size(self) -> tuple[int, int]:
        """The model input as (height, width) in pixels."""
        return self._input_size

    @property
    def session(self) -> ort.InferenceSession:
        """The onnxruntime session `detect` runs (benchmarks time `session.run` alone)."""
        return self._session

    @property
    def input_name(self) -> str:
        return self._input_name

    @property
    def feature_outputs(self) -> tuple[str, ...]:
        """Extra tensors fetched with each `detect` (into `last_outputs`)."""
        return self._feature_outputs

    def detect(self, image: Image) -> list[Detection]:
        """Detections in `image` (BGR), best first, boxes normalised to the image."""
        lb = letterbox(image, self._input_size, out=self._buffer)
        fetch = [self._output_name, *self._feature_outputs]
        raw, *extra = self._session.run(fetch, {self._input_name: lb.tensor})
        if self._feature_outputs:
            self.last_outputs = dict(zip(fetch, [raw, *extra], strict=True))
            self.last_letterbox = lb
        try:
            boxes, scores, class_ids = decode(
                np.asarray(raw), self._conf, self._keep_ids, num_classes=len(self._names)
            )
        except ValueError as exc:
            raise ModelError(f"{self._model_path}: unexpected output: {exc}") from exc
        # NMS per category, not per class: one vehicle scored both car and truck is one object,
        # and a duplicate would give the parking rule two occupants for one car.
        category_ids = self._category_index[class_ids]
        kept = batched_nms(boxes, scores, category_ids, self._iou)
        norm = to_normalised(boxes[kept], lb)
        detections: list[Detection] = []
        for (x1, y1, x2, y2), score, cid in zip(
            norm.tolist(), scores[kept].tolist(), class_ids[kept].tolist(), strict=True
        ):
            # A box lying wholly in the padding clips to nothing; it is not an object.
            if x2 <= x1 or y2 <= y1:
                continue
            name = self._names[cid]
            detections.append(
                Detection(Box(x1, y1, x2, y2), name, self._categories[cid], float(score))
            )
        return detections


def _open_session(
    path: Path, threads: int, feature_outputs: Sequence[str] = ()
) -> ort.InferenceSession:
    if not path.exists():
        raise ModelError(f"model file not found: {path}")
    if not path.is_file():
        raise ModelError(f"model path is not a file: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # One stage per frame, one frame at a time: parallel branches would only fight the
    # intra-op threads for the same few cores.
    options.inter_op_num_threads = 1
    # Idle intra-op threads would otherwise spin between frames and starve capture and rules.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        model: str | bytes = str(path)
        if feature_outputs:
            from edge.verify.graph import with_outputs  # noqa: PLC0415 (needs `onnx`)

            model = with_outputs(path, feature_outputs)
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own unrelated exception types
        raise ModelError(f"{path}: not a loadable ONNX model: {exc}") from exc


def _metadata(session: ort.InferenceSession) -> dict[str, str]:
    custom: Mapping[str, str] | None = session.get_modelmeta().custom_metadata_map
    return dict(custom or {})


def _literal(text: str) -> object:
    """Parse a Python literal from metadata; never evaluates code."""
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _names_from_metadata(path: Path, metadata: Mapping[str, str]) -> tuple[str, ...]:
    raw = metadata.get("names")
    if raw is None:
        raise ModelError(
            f"{path}: no 'names' in the ONNX metadata (not an Ultralytics export?); "
            "pass the class names explicitly"
        )
    parsed = _literal(raw)
    if isinstance(parsed, list | tuple) and all(isinstance(n, str) for n in parsed):
        return tuple(parsed)
    if (
        isinstance(parsed, dict)
        and all(isinstance(k, int) and isinstance(v, str) for k, v in parsed.items())
        and sorted(parsed) == list(range(len(parsed)))
    ):
        return tuple(parsed[i] for i in range(len(parsed)))
    raise ModelError(
        f"{path}: metadata 'names' is not a {{id: name}} mapping with ids 0..C-1: {raw[:200]!r}"
    )


def _single_input(path: Path, session: ort.InferenceSession) -> Any:
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelError(f"{path}: expected one image input, found {len(inputs)}")
    model_input = inputs[0]
    shape = list(model_input.shape)
    if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
        raise ModelError(f"{path}: expected a N x 3 x H x W input, got {shape}")
    if model_input.type != _FLOAT_INPUT:
        raise ModelError(
            f"{path}: input is {model_input.type}; only float32 inputs are supported "
            "(fp32 and int8-quantised exports; not half=True exports)"
        )
    return model_input


def _input_size(shape: Sequence[object], metadata: Mapping[str, str]) -> tuple[int, int]:
    h, w = shape[2], shape[3]
    if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0:
        return h, w
    # Dynamic exports leave H and W symbolic; the size it was trained and exported at is the
    # one it was validated at, so prefer that over any guess.
    imgsz = _literal(metadata.get("imgsz", ""))
    if isinstance(imgsz, int) and imgsz > 0:
        return imgsz, imgsz
    if isinstance(imgsz, list | tuple) and all(isinstance(v, int) and v > 0 for v in imgsz):
        if len(imgsz) == 1:
            return imgsz[0], imgsz[0]
        if len(imgsz) == 2:
            return imgsz[0], imgsz[1]
    return DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE


def _check_output_shape(path: Path, session: ort.InferenceSession, num_classes: int) -> None:
    outputs = session.get_outputs()
    shape = list(outputs[0].shape)
    channels = 4 + num_classes
    # A symbolic axis could be either one; decode checks the real shape on the first frame.
    if len(shape) == 3 and any(d == channels or not isinstance(d, int) for d in shape[1:]):
        return
    hint = ""
    if len(shape) == 3 and shape[2] == 6:
        hint = " (looks like an end-to-end export with NMS inside; export with nms=False)"
    raise ModelError(
        f"{path}: expected a detection output 1 x (4+{num_classes}) x N = 1 x {channels} x N, "
        f"got {shape} from output {outputs[0].name!r}{hint}"
    )


def _resolve_classes(
    path: Path, names: Sequence[str], class_map: Mapping[str, Category]
) -> tuple[npt.NDArray[np.intp], dict[int, Category]]:
    missing = sorted(set(class_map) - set(names))
    if missing:
        raise ModelError(
            f"{path}: class_map names {missing} are not classes of this model; it has {list(names)}"
        )
    categories = {i: class_map[n] for i, n in enumerate(names) if n in class_map}
    return np.array(sorted(categories), dtype=np.intp), categories


def inspect_model(model_path: Path) -> tuple[tuple[str, ...], tuple[int, int]]:
    """Class names and (height, width) input size of a model, without choosing any classes."""
    session = _open_session(Path(model_path), 1)
    metadata = _metadata(session)
    names = _names_from_metadata(Path(model_path), metadata)
    return names, _input_size(_single_input(Path(model_path), session).shape, metadata)
