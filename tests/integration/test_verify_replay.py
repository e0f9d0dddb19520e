"""The lift rule with the committed verifier on real lift footage, through `edge replay`.

There is no lift video among the shared videos; the Lily-Le frames are 12 consecutive frames
(13:37:39-44) of one real ceiling-camera lift event, so they are made into a 5 fps video here
(every frame a keyframe, as a lift camera's substream would be sampled), and the one empty car
is replayed as a still. The verifier is the newest committed file, as the held-out check uses
it (docs/verifier.md): these pictures were in its training data, so this tests the wiring (a
track of verdicts over real frames, the config fields), not how well it generalises.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from edge.config.loader import load_config
from edge.replay import replay
from edge.verify.model_file import newest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
LIFT = "lily-le_ebikedetection/images"
EMPTY_CAR = "cemreefe_elevator-tracking/images/elevator1.png"


def lift_video(shared_dir: Path, path: Path) -> Path:
    frames = sorted((shared_dir / "datasets" / "ebike_lift" / LIFT).glob("2020_50*.jpg"))
    assert len(frames) == 12
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=5)
        images = [np.asarray(cv2.imread(str(f)), dtype=np.uint8) for f in frames]
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.gop_size = 1
        for bgr in images:
            image = np.ascontiguousarray(bgr[:, :, ::-1])
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def config(tmp_path: Path, models_dir: Path, zone_extra: str = "") -> Path:
    verifier = newest(REPO / "models" / "verifier")
    cfg = tmp_path / "lift.yaml"
    cfg.write_text(
        f"site: {{id: s}}\nnode: {{id: n}}\nstorage: {{dir: {tmp_path / 'var'}}}\n"
        f"models: {{dir: {models_dir}, detector: yolov8n_int8.onnx, verifier: {verifier}}}\n"
        "cameras:\n  - id: lift\n    source: '0'\n    detect_fps: 5\n    zones:\n"
        "      - {id: car, kind: lift, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]"
        f"{zone_extra}}}\n",
        encoding="utf-8",
    )
    return cfg


def alerts(cfg: Path, source: Path, still_seconds: float = 3.0) -> list[dict[str, Any]]:
    out = io.StringIO()
    replay(load_config(cfg), "lift", source, out, still_seconds=still_seconds)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_real_lift_event_raises_once_from_a_track_of_verdicts(
    shared_dir: Path, models_dir: Path, tmp_path: Path
) -> None:
    video = lift_video(shared_dir, tmp_path / "lilyle.mp4")
    found = alerts(config(tmp_path, models_dir), video)
    raised = [a for a in found if a["event"] == "raised"]
    assert len(raised) == 1, found
    alert = raised[0]
    assert alert["kind"] == "ebike_in_lift" and alert["objects"][0]["class"] == "ebike"
    detail = alert["detail"]
    assert isinstance(detail, dict) and float(detail["verifier_score"]) >= 0.5


def test_a_track_longer_than_the_event_never_holds(
    shared_dir: Path, models_dir: Path, tmp_path: Path
) -> None:
    video = lift_video(shared_dir, tmp_path / "lilyle.mp4")
    # 12 frames: a track of 13 verified frames cannot build, so nothing is raised.
    cfg = config(tmp_path, models_dir, ", verifier_frames: 13, min_hits: 3")
    assert [a for a in alerts(cfg, video) if a["event"] == "raised"] == []


def test_the_empty_car_never_alarms(shared_dir: Path, models_dir: Path, tmp_path: Path) -> None:
    still = shared_dir / "datasets" / "ebike_lift" / EMPTY_CAR
    assert alerts(config(tmp_path, models_dir), still) == []
