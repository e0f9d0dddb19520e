"""Multinomial logistic regression in numpy: the verifier's classifiers, and their training.

Inputs are standardised with the training mean and spread; classes are weighted so each class
counts as much as any other (there are far more `other` regions than e-bikes); L2-regularised
and fitted by full-batch Adam, which is fast enough here (a few thousand rows, ~1000 columns).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Softmax:
    """`predict(x)` = softmax(((x - mean) / scale) @ weights + bias), one row per sample."""

    mean: Array
    scale: Array
    weights: Array
    bias: Array

    @property
    def n_inputs(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.weights.shape[1])

    def predict(self, x: npt.ArrayLike) -> Array:
        z = (np.asarray(x, dtype=np.float32).reshape(-1, self.n_inputs) - self.mean) / self.scale
        logits = z @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        out: Array = (p / p.sum(axis=1, keepdims=True)).astype(np.float32)
        return out


@dataclass(frozen=True, slots=True)
class FitParams:
    l2: float = 1e-2
    iterations: int = 150
    learning_rate: float = 0.05


def class_weights(y: Labels, n_classes: int) -> Array:
    """Per-row weights, summing to one, that give every present class the same total."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    per_class = np.zeros(n_classes)
    per_class[present] = 1.0 / (counts[present] * present.sum())
    w: Array = per_class[y].astype(np.float32)
    return w


def fit(
    x: npt.ArrayLike,
    y: Labels,
    n_classes: int,
    params: FitParams = FitParams(),
    progress: Callable[[int, float], None] | None = None,
) -> Softmax:
    """Fit rows `x` to labels `y` (0..n_classes-1); `progress(iteration, loss)` now and then."""
    data = np.asarray(x, dtype=np.float32)
    if data.ndim != 2 or data.shape[0] != y.shape[0] or data.shape[0] == 0:
        raise ValueError(f"need N x D rows and N labels, got {data.shape} and {y.shape}")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"labels must be in 0..{n_classes - 1}")
    mean = data.mean(axis=0)
    scale = (data.std(axis=0) + 1e-6).astype(np.float32)
    z = (data - mean) / scale
    w = class_weights(y, n_classes)
    onehot = np.eye(n_classes, dtype=np.float32)[y]
    weights = np.zeros((data.shape[1], n_classes), dtype=np.float32)
    bias = np.zeros(n_classes, dtype=np.float32)
    adam = _Adam([weights, bias], params.learning_rate)
    for it in range(1, params.iterations + 1):
        logits = z @ weights + bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) * w[:, None]
        adam.step([z.T @ g + params.l2 * weights, g.sum(axis=0)])
        if progress is not None and (it % 25 == 0 or it == params.iterations):
            loss = -float((w * np.log(p[np.arange(len(y)), y] + 1e-9)).sum())
            progress(it, loss)
    return Softmax(mean.astype(np.float32), scale, weights, bias)


class _Adam:
    def __init__(self, params: list[Array], lr: float) -> None:
        self._params = params
        self._lr = lr
        self._m = [np.zeros_like(p) for p in params]
        self._v = [np.zeros_like(p) for p in params]
        self._t = 0

    def step(self, grads: list[Array]) -> None:
        self._t += 1
        c1, c2 = 1 - 0.9**self._t, 1 - 0.999**self._t
        for i, g in enumerate(grads):
            self._m[i] = 0.9 * self._m[i] + 0.1 * g
            self._v[i] = 0.999 * self._v[i] + 0.001 * g * g
            # In place: the caller's arrays are the parameters.
            self._params[i] -= self._lr * (self._m[i] / c1) / (np.sqrt(self._v[i] / c2) + 1e-8)
