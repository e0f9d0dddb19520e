"""A second, pixel-level opinion on the verifier's candidates: a tiny CNN crop classifier.

The verifier's own classifiers read the detector's neck maps, which at a candidate's size may
not carry what tells an e-bike from a bicycle (a battery pack, a thick down tube). This module
judges the same candidate boxes from their pixels with a small CNN trained here
(`edge/verify/cnn_train.py`, torch; an experiment, see docs/verifier.md, section 3b) and
exported to ONNX, so a node runs it with onnxruntime only.

Input contract of the ONNX file: `crops`, float32 N x 3 x S x S (S = `INPUT` by default; the
file says which), BGR (as OpenCV reads) scaled to 0..1; output `logits`, N x 4 in the order of
`CLASSES`. A candidate is cropped with `PAD` of its size around it to `stored_side(S)` square
and the network sees the centre S x S (training sees random windows of it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from edge.messages import Box, Image
from edge.verify.dataset import CLASSES

INPUT = 48
"""Default side the network sees."""
PAD = 0.15
Crops = npt.NDArray[np.uint8]


class CropModelError(Exception):
    """An ONNX file that is not a crop classifier of the expected shape, naming the file."""


def stored_side(side: int) -> int:
    """Side of a stored crop for a network input of `side` (an eighth more: room to shift)."""
    return side * 9 // 8


STORED = stored_side(INPUT)


def crop_boxes(image: Image, boxes: Sequence[Box], size: int = STORED, pad: float = PAD) -> Crops:
    """Each box (normalised) with a margin, clipped to the image, resized to size x size
    (the aspect is not kept: the shape of the box is part of what is judged)."""
    h, w = image.shape[:2]
    out = np.empty((len(boxes), size, size, 3), dtype=np.uint8)
    for n, b in enumerate(boxes):
        dx, dy = b.width * pad, b.height * pad
        x1, x2 = int(max(0.0, b.x1 - dx) * w), int(np.ceil(min(1.0, b.x2 + dx) * w))
        y1, y2 = int(max(0.0, b.y1 - dy) * h), int(np.ceil(min(1.0, b.y2 + dy) * h))
        patch = image[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)]
        out[n] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return out


def centre(crops: Crops, side: int = INPUT) -> Crops:
    """The central side x side part of stored crops (what inference sees)."""
    off = (crops.shape[1] - side) // 2
    return crops[:, off : off + side, off : off + side]


def to_input(crops: Crops) -> npt.NDArray[np.float32]:
    """N x H x W x 3 uint8 -> N x 3 x H x W float32 in 0..1."""
    return np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: npt.NDArray[np.float32] = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    return out


class CropClassifier:
    """The exported CNN in onnxruntime: class probabilities of candidate boxes."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise CropModelError(f"{path}: not a readable ONNX model: {exc}") from exc
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        shape = list(inputs[0].shape) if len(inputs) == 1 else []
        if (
            len(shape) != 4
            or shape[1] != 3
            or not isinstance(shape[2], int)
            or shape[2] != shape[3]
        ):
            raise CropModelError(f"{path}: input must be N x 3 x S x S, got {shape}")
        if len(outputs) != 1 or outputs[0].shape[-1] != len(CLASSES):
            raise CropModelError(f"{path}: output must be N x {len(CLASSES)} ({CLASSES})")
        self._input = inputs[0].name
        self.side: int = shape[2]

    def predict(self, crops: Crops) -> npt.NDArray[np.float32]:
        """Probabilities (N x 4) of stored-size or input-size crops."""
        if len(crops) == 0:
            return np.zeros((0, len(CLASSES)), dtype=np.float32)
        if crops.shape[1] != self.side:
            crops = centre(crops, self.side)
        (logits,) = self._session.run(None, {self._input: to_input(crops)})
        return softmax(np.asarray(logits, dtype=np.float32))

    def judge(self, image: Image, boxes: Sequence[Box]) -> npt.NDArray[np.float32]:
        """Probabilities of the candidate boxes (normalised) of one picture."""
        return self.predict(crop_boxes(image, boxes, stored_side(self.side)))
