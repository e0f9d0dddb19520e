"""What the lift verifier adds to each lift frame, measured on the real lift pictures.

    .venv/bin/python -m bench.verifier_latency --verifier models/verifier/ebike_lift_v1.npz \
        --models-dir ../shared/models --data ../shared/datasets/ebike_lift

For every whole lift frame in datasets/ebike_lift/labels.csv, the frame goes through
`CameraPipeline` (a camera with one whole-car lift zone) twice: with the stock detector, and
with the detector exposing its feature maps plus the verifier. Reported: the median and 95th
percentile per frame of the detector's own run (`detect`, with and without the extra outputs) and
of the verifier (`judge`: candidates, embeddings, both classifiers, crop). Same thread settings
as the node (one intra-op thread by default).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edge.config.model import Camera
from edge.detect.onnx_yolo import OnnxYoloDetector
from edge.messages import Category, Frame, Image
from edge.pipeline import CameraPipeline
from edge.verify.dataset import ItemKind, read_labels
from edge.verify.model_file import VerifierModel
from edge.verify.runtime import LiftVerifier

REPO = Path(__file__).resolve().parents[1]
CLASSES = {"motorcycle": Category.TWO_WHEELER, "bicycle": Category.TWO_WHEELER}


def _camera() -> Camera:
    whole = [[0, 0], [1, 0], [1, 1], [0, 1]]
    return Camera.model_validate(
        {"id": "lift", "source": "x", "zones": [{"id": "car", "kind": "lift", "polygon": whole}]}
    )


def _timed(fn: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def _stats(name: str, times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return f"| {name} | {statistics.median(ms):.1f} | {p95:.1f} | {len(ms)} |"


def _frames(data: Path) -> list[Image]:
    items = read_labels(REPO / "datasets" / "ebike_lift" / "labels.csv", data)
    # The whole real lift frames (not the web photos of wheelchairs and bicycles).
    paths = [it.path for it in items if it.kind is ItemKind.FRAME and it.scene == "lift"]
    images = [cv2.imread(str(p)) for p in paths]
    return [np.asarray(im, dtype=np.uint8) for im in images if im is not None]


def run(args: argparse.Namespace) -> list[str]:
    model = VerifierModel.load(Path(args.verifier))
    detector_path = Path(args.models_dir) / model.detector_name
    images = _frames(Path(args.data))
    stock = OnnxYoloDetector(detector_path, CLASSES, threads=args.threads, conf_threshold=0.1)
    feats = OnnxYoloDetector(
        detector_path,
        CLASSES,
        threads=args.threads,
        conf_threshold=0.1,
        feature_outputs=model.spec.map_names,
    )
    verifier = LiftVerifier(model, feats)
    plain = CameraPipeline(_camera(), stock)
    verified = CameraPipeline(_camera(), feats, verifier=verifier)
    times: dict[str, list[float]] = {k: [] for k in ("stock", "feats", "judge", "plain", "full")}
    for _ in range(args.rounds):
        for n, image in enumerate(images):
            frame = Frame("lift", n, n * 0.2, 1000.0 + n * 0.2, image)
            times["stock"].append(_timed(stock.detect, image))
            times["feats"].append(_timed(feats.detect, image))
            times["judge"].append(_timed(verifier.judge, frame, verified.rules))
            times["plain"].append(_timed(plain.process, frame))
            times["full"].append(_timed(verified.process, frame))
    warm = len(images)  # the first round warms caches and the session up
    return [
        f"{len(images)} lift frames x {args.rounds - 1} timed rounds, "
        f"{args.threads} onnxruntime thread(s), detector {model.detector_name}",
        "",
        "| per lift frame | median ms | p95 ms | n |",
        "|---|---|---|---|",
        _stats("detect, stock", times["stock"][warm:]),
        _stats("detect, with feature outputs", times["feats"][warm:]),
        _stats("verifier `judge` (added per lift zone)", times["judge"][warm:]),
        _stats("`CameraPipeline.process`, stock", times["plain"][warm:]),
        _stats("`CameraPipeline.process`, with verifier", times["full"][warm:]),
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--verifier", required=True)
    p.add_argument("--models-dir", required=True)
    p.add_argument("--data", required=True, help="the shared ebike_lift directory")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    print("\n".join(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
