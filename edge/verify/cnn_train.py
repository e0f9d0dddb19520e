"""Train the tiny crop CNN (`edge/verify/crop_cnn.py`) on CPU and export it to ONNX.

Needs torch (the optional `train` extra: `pip install -e .[train]`); nothing at run time does.
No pretrained weights: the network starts from a fixed seed and sees only our crops.

Augmentation, on the fly, per crop: a random window of the stored crop resized to the input
(shift and a little scale), mirror, brightness and contrast, grey in a third of the crops (many lift
cameras switch to monochrome), and in a quarter a down- and up-scale (a far object in a
ceiling camera is a few dozen pixels).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

try:
    import torch
    from torch import nn
except ModuleNotFoundError as exc:  # say what to install, not just "No module named 'torch'"
    raise ModuleNotFoundError(
        "training the tiny crop CNN needs torch, the `train` extra: pip install -e '.[train]' "
        "(a CPU build: pip install torch==2.13.0 where it lies on disk)"
    ) from exc

from edge.verify.crop_cnn import INPUT, Crops, centre
from edge.verify.dataset import CLASSES

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class CnnParams:
    epochs: int = 12
    batch: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    width: int = 20
    side: int = INPUT
    seed: int = 0
    threads: int = 1


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class TinyCnn(nn.Module):
    """Four stride-2 3 x 3 convolutions (48 -> 3 px, 64 -> 4), global average pooling, a
    linear head. Plain convolutions: on this CPU, depthwise ones trained two times slower."""

    def __init__(self, width: int = 20, side: int = INPUT) -> None:
        super().__init__()
        self.side = side  # the input it is trained on; global pooling takes any
        w = width
        self.features = nn.Sequential(
            _block(3, w), _block(w, 2 * w), _block(2 * w, 4 * w), _block(4 * w, 6 * w)
        )
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(6 * w, len(CLASSES)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.features(x).mean(dim=(2, 3))
        out: torch.Tensor = self.head(pooled)
        return out


def n_params(model: nn.Module) -> int:
    return sum(int(p.numel()) for p in model.parameters())


def augment(batch: Crops, rng: np.random.Generator, size: int = INPUT) -> torch.Tensor:
    """Stored crops (N x S x S x 3 uint8) -> augmented network input (N x 3 x size x size)."""
    n, side = batch.shape[0], batch.shape[1]
    out = np.empty((n, size, size, 3), dtype=np.float32)
    for i in range(n):
        s = int(rng.integers(size - size // 12, side + 1))  # window side: a little zoom in or out
        ox, oy = (int(v) for v in rng.integers(0, side - s + 1, size=2))
        patch: npt.NDArray[np.integer[Any] | np.floating[Any]] = batch[i, oy : oy + s, ox : ox + s]
        if rng.random() < 0.25:  # a far, blurry object
            small = int(rng.integers(12, 32))
            patch = cv2.resize(patch, (small, small), interpolation=cv2.INTER_AREA)
        win: npt.NDArray[np.float32] = cv2.resize(
            patch, (size, size), interpolation=cv2.INTER_LINEAR
        ).astype(np.float32)
        if rng.random() < 0.5:
            win = win[:, ::-1]
        if rng.random() < 0.33:  # monochrome camera
            win = np.repeat(win.mean(axis=2, keepdims=True), 3, axis=2)
        out[i] = win
    out /= 255.0
    gain = rng.uniform(0.6, 1.4, (n, 1, 1, 1)).astype(np.float32)
    shift = rng.uniform(-0.15, 0.15, (n, 1, 1, 1)).astype(np.float32)
    mean = out.mean(axis=(1, 2, 3), keepdims=True)
    out = np.clip((out - mean) * gain + mean + shift, 0.0, 1.0)
    return torch.from_numpy(np.ascontiguousarray(out.transpose(0, 3, 1, 2)))


def class_weights(y: npt.NDArray[np.int64]) -> torch.Tensor:
    """Balanced: each class weighs as much as any other in the loss (absent classes 0)."""
    counts = np.bincount(y, minlength=len(CLASSES)).astype(np.float64)
    w = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / (counts > 0).sum(), 0.0)
    return torch.from_numpy(w.astype(np.float32))


@dataclass(frozen=True, slots=True)
class Trained:
    model: TinyCnn
    seconds: float
    rows: int


def train(
    crops: Crops,
    labels: npt.NDArray[np.int64],
    params: CnnParams = CnnParams(),
    progress: Progress | None = None,
) -> Trained:
    """Fit a TinyCnn on stored crops and their classes (indices into CLASSES)."""
    torch.manual_seed(params.seed)
    torch.set_num_threads(params.threads)
    rng = np.random.default_rng(params.seed)
    model = TinyCnn(params.width, params.side)
    opt = torch.optim.AdamW(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    steps = params.epochs * max(1, -(-len(labels) // params.batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=params.lr, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss(weight=class_weights(labels), label_smoothing=0.05)
    y_all = torch.from_numpy(labels)
    start = time.monotonic()
    model.train()
    for epoch in range(params.epochs):
        order = rng.permutation(len(labels))
        total = 0.0
        for b in range(0, len(order), params.batch):
            idx = order[b : b + params.batch]
            x = augment(crops[idx], rng, params.side)
            loss = loss_fn(model(x), y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        if progress is not None:
            progress(f"cnn epoch {epoch + 1}/{params.epochs}: loss {total / len(order):.3f}")
    model.eval()
    return Trained(model, time.monotonic() - start, len(labels))


def predict(model: TinyCnn, crops: Crops) -> npt.NDArray[np.float32]:
    """Probabilities of stored crops with torch (the ONNX file must give the same)."""
    inputs = np.ascontiguousarray(centre(crops, model.side))
    x = torch.from_numpy(inputs).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        return torch.softmax(model(x), dim=1).numpy().astype(np.float32)


def export(model: TinyCnn, path: Path) -> None:
    """ONNX with a dynamic batch: `crops` N x 3 x side x side -> `logits` N x 4."""
    model.eval()
    dummy = torch.zeros((1, 3, model.side, model.side))
    # The TorchScript exporter: the newer one needs onnxscript, which nothing else here uses;
    # its deprecation warning says only that.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            input_names=["crops"],
            output_names=["logits"],
            dynamic_axes={"crops": {0: "n"}, "logits": {0: "n"}},
            opset_version=17,
            dynamo=False,
        )
