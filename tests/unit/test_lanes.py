"""Dealing cameras to detection lanes."""

from __future__ import annotations

from edge.cameras import deal
from edge.config.model import Camera


def _camera(cid: str, fps: float) -> Camera:
    return Camera.model_validate({"id": cid, "source": "0", "detect_fps": fps})


def test_one_lane_takes_every_camera() -> None:
    assert deal([_camera("a", 2), _camera("b", 5)], 1) == [0, 0]


def test_busiest_cameras_first_each_to_the_least_loaded_lane() -> None:
    cams = [_camera("p1", 2), _camera("lift1", 5), _camera("p2", 2), _camera("lift2", 5)]
    cams += [_camera("p3", 2), _camera("p4", 2)]
    lanes = deal(cams, 2)
    # The two lifts go to different lanes, then the parking cameras even the load out.
    assert lanes[1] != lanes[3]
    load = [
        sum(c.detect_fps for c, k in zip(cams, lanes, strict=True) if k == lane) for lane in (0, 1)
    ]
    assert load == [9.0, 9.0]


def test_more_lanes_than_cameras_leaves_lanes_idle() -> None:
    assert deal([_camera("a", 2)], 3) == [0]
    assert deal([], 2) == []
