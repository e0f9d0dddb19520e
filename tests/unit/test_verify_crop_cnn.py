"""The tiny crop CNN's run-time side (onnxruntime only) and, when torch is there, its export.

The run-time tests build their own small ONNX classifier with the `onnx` package (a core
dependency): the channel means of the crop times a fixed matrix, so a red crop is `ebike` and
a blue one `other` (OpenCV's BGR order). No torch is needed for them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge.messages import Box
from edge.verify.crop_cnn import (
    INPUT,
    STORED,
    CropClassifier,
    CropModelError,
    centre,
    crop_boxes,
)
from edge.verify.dataset import CLASSES, EBIKE

OTHER = CLASSES.index("other")


def _colour_model(
    path: Path, side: int | str = INPUT, classes: int = len(CLASSES), channels: int = 3
) -> Path:
    # logits = mean(B, G, R) @ W: R drives `ebike`, B drives `other`.
    w = np.zeros((channels, classes), dtype=np.float32)
    w[min(2, channels - 1), EBIKE] = 20.0
    w[0, min(OTHER, classes - 1)] = 20.0
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["crops"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        ],
        "colour",
        [helper.make_tensor_value_info("crops", TensorProto.FLOAT, ["n", channels, side, side])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", classes])],
        initializer=[numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _picture() -> np.ndarray:
    image = np.zeros((200, 300, 3), dtype=np.uint8)
    image[20:100, 30:130] = (0, 0, 255)  # red (BGR)
    image[120:190, 180:290] = (255, 0, 0)  # blue
    return image


RED = Box(30 / 300, 20 / 200, 130 / 300, 100 / 200)
BLUE = Box(180 / 300, 120 / 200, 290 / 300, 190 / 200)


def test_crops_are_the_boxes_with_a_margin_resized_square() -> None:
    crops = crop_boxes(_picture(), [RED, BLUE, Box(0.0, 0.0, 1.0, 1.0)])
    assert crops.shape == (3, STORED, STORED, 3)
    assert crops.dtype == np.uint8
    middle = centre(crops)
    assert middle.shape == (3, INPUT, INPUT, 3)
    # The centre of a box's crop is the box's colour; the margin shows what is around it.
    assert (middle[0, INPUT // 2, INPUT // 2] == (0, 0, 255)).all()
    assert (middle[1, INPUT // 2, INPUT // 2] == (255, 0, 0)).all()
    assert (crops[0, 0, 0] == 0).all()


def test_a_box_at_the_edge_or_thinner_than_a_pixel_still_gives_a_crop() -> None:
    tiny = Box(0.999, 0.5, 1.0, 0.5001)
    crops = crop_boxes(_picture(), [tiny, Box(0.9, 0.9, 1.0, 1.0)])
    assert crops.shape == (2, STORED, STORED, 3)


def test_the_classifier_judges_boxes_by_their_pixels(tmp_path: Path) -> None:
    cnn = CropClassifier(_colour_model(tmp_path / "colour.onnx"))
    probs = cnn.judge(_picture(), [RED, BLUE])
    assert probs.shape == (2, len(CLASSES))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert probs[0, EBIKE] > 0.9
    assert probs[1, OTHER] > 0.9
    assert cnn.judge(_picture(), []).shape == (0, len(CLASSES))


def test_stored_and_input_size_crops_give_the_same(tmp_path: Path) -> None:
    cnn = CropClassifier(_colour_model(tmp_path / "colour.onnx"))
    stored = crop_boxes(_picture(), [RED, BLUE])
    np.testing.assert_allclose(cnn.predict(stored), cnn.predict(centre(stored)))


def test_a_file_that_is_not_onnx_is_refused_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "cnn.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(CropModelError, match=r"cnn\.onnx"):
        CropClassifier(bad)


def test_the_input_side_is_the_model_s_own(tmp_path: Path) -> None:
    cnn = CropClassifier(_colour_model(tmp_path / "wide.onnx", side=64))
    assert cnn.side == 64
    probs = cnn.judge(_picture(), [RED, BLUE])
    assert probs[0, EBIKE] > 0.9
    assert probs[1, OTHER] > 0.9


@pytest.mark.parametrize(
    ("side", "classes", "channels", "what"),
    [
        ("s", len(CLASSES), 3, "input"),
        (INPUT, len(CLASSES), 1, "input"),
        (INPUT, 3, 3, "output"),
    ],
)
def test_a_model_of_another_shape_is_refused(
    tmp_path: Path, side: int | str, classes: int, channels: int, what: str
) -> None:
    path = _colour_model(tmp_path / "other.onnx", side=side, classes=classes, channels=channels)
    with pytest.raises(CropModelError, match=re.escape(f"other.onnx: {what}")):
        CropClassifier(path)


def test_training_and_export_give_the_same_scores_in_onnxruntime(tmp_path: Path) -> None:
    # Skipped cleanly where torch (the `train` extra) is not installed.
    cnn_train = pytest.importorskip("edge.verify.cnn_train")
    rng = np.random.default_rng(0)
    crops = np.zeros((64, STORED, STORED, 3), dtype=np.uint8)
    labels = np.array([EBIKE, OTHER] * 32, dtype=np.int64)
    crops[labels == EBIKE, :, :, 2] = 200  # red
    crops[labels == OTHER, :, :, 0] = 200  # blue
    crops = np.clip(crops + rng.integers(0, 40, crops.shape), 0, 255).astype(np.uint8)
    trained = cnn_train.train(crops, labels, cnn_train.CnnParams(epochs=3, batch=16, width=8))
    path = tmp_path / "cnn.onnx"
    cnn_train.export(trained.model, path)
    onnx_probs = CropClassifier(path).predict(crops)
    np.testing.assert_allclose(onnx_probs, cnn_train.predict(trained.model, crops), atol=1e-5)
    # It learnt the colours (monochrome augmentation hides them in a third of the rows).
    assert (np.argmax(onnx_probs, axis=1) == labels).mean() >= 0.9
