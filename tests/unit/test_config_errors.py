"""Config mistakes are reported with file, line and key path; good configs load."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config.loader import ConfigError, load_config, parse_settings

GOOD = """\
site: {id: xizhen, name: 西镇社区}
node: {id: gate-1}
mqtt: {url: "mqtt://127.0.0.1:1883", topic_prefix: "grid/xizhen/gate-1"}
models: {dir: "models", detector: "yolov8n_int8.onnx"}
cameras:
  - id: lift-3
    source: "rtsp://user:pass@10.0.0.3/stream1"
    detect_fps: 5
    grid: "A-03"
    location: "3号楼 电梯2"
    zones:
      - id: car
        kind: lift
        polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]
  - id: gate
    source: "0"
    zones:
      - id: lane
        kind: fire_lane
        polygon: [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]
"""


def errors_for(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(text, "site.yaml")
    return [str(i) for i in info.value.issues]


def test_good_config_gets_per_kind_defaults() -> None:
    settings, _ = parse_settings(GOOD, "site.yaml")
    lift, lane = settings.cameras[0].zones[0], settings.cameras[1].zones[0]
    assert (lift.min_hits, lift.confirm_s, lift.clear_after) == (3, 1.0, 10.0)
    assert (lane.grace, lane.clear_after, lane.alert_severity.value) == (60.0, 30.0, "major")
    assert settings.topic_prefix == "grid/xizhen/gate-1"
    assert not settings.cameras[0].gated and settings.cameras[1].gated
    assert settings.cameras[1].detect_fps == 2.0  # parking default


def test_a_lift_camera_defaults_to_five_detections_per_second() -> None:
    settings, _ = parse_settings(GOOD.replace("    detect_fps: 5\n", ""), "site.yaml")
    assert settings.cameras[0].detect_fps == 5.0


CASES = {
    # name: (text edit as (old, new), expected error line)
    "polygon with two points": (
        ("polygon: [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]", "polygon: [[0, 0], [1, 0]]"),
        "site.yaml:20 cameras[1].zones[0].polygon: needs at least 3 points, got 2",
    ),
    "point outside the picture": (
        ("[0.9, 1.0], [0.1, 1.0]]", "[0.9, 1.4], [0.1, 1.0]]"),
        "site.yaml:20 cameras[1].zones[0].polygon: point 2 (0.9, 1.4) is outside the picture: "
        "coordinates are 0..1",
    ),
    "bow-tie polygon": (
        ("[0.9, 1.0], [0.1, 1.0]]", "[0.1, 1.0], [0.9, 1.0]]"),
        "site.yaml:20 cameras[1].zones[0].polygon: crosses itself: list the corners in order "
        "around the zone",
    ),
    "misspelt key": (
        ("        kind: fire_lane\n", "        kind: fire_lane\n        grace: 30\n"),
        "site.yaml:20 cameras[1].zones[0].grace: unknown key; did you mean 'grace_s'?",
    ),
    "unknown kind": (
        ("kind: fire_lane", "kind: fire-lane"),
        "site.yaml:19 cameras[1].zones[0].kind: Input should be",
    ),
    "negative fps": (
        ("detect_fps: 5", "detect_fps: -1"),
        "site.yaml:8 cameras[0].detect_fps: Input should be greater than or equal to 0",
    ),
    "lift watched too slowly to confirm within a second": (
        ("detect_fps: 5", "detect_fps: 2"),
        "site.yaml:6 cameras[0]: detect_fps 2 is too low for lift zone 'car': 3 hits within 1 s "
        "need at least 3",
    ),
    "duplicate camera id": (
        ("- id: gate\n", "- id: lift-3\n"),
        "site.yaml:15 cameras[1].id: duplicate camera id 'lift-3' (first at cameras[0])",
    ),
    "bad broker url": (
        ('url: "mqtt://', 'url: "http://'),
        "site.yaml:3 mqtt.url: must start with mqtt://, mqtts:// or tcp://",
    ),
    "missing site": (("site: {id: xizhen, name: 西镇社区}\n", ""), "site.yaml:1 site: is required"),
    "bad id characters": (("id: car", "id: car park"), "site.yaml:12 cameras[0].zones[0].id:"),
    "max_gap shorter than the stationary window": (
        ("        kind: fire_lane\n", "        kind: fire_lane\n        max_gap_s: 5\n"),
        "site.yaml:18 cameras[1].zones[0]: max_gap_s (5, default clear_after_s) must be longer",
    ),
    "not YAML": (
        ("zones:\n      - id: car", "zones:\n     - id: car\n    - x"),
        "site.yaml:13 not valid YAML",
    ),
}


@pytest.mark.parametrize(("edit", "expected"), CASES.values(), ids=CASES.keys())
def test_error_names_file_line_and_path(edit: tuple[str, str], expected: str) -> None:
    old, new = edit
    assert old in GOOD
    errors = errors_for(GOOD.replace(old, new, 1))
    assert any(e.startswith(expected) for e in errors), errors


def test_every_error_is_reported_at_once() -> None:
    text = GOOD.replace("detect_fps: 5", "detect_fps: 99").replace("kind: lift", "kind: lifts")
    assert len(errors_for(text)) == 2


def test_missing_files_are_named(tmp_path: Path) -> None:
    cfg = tmp_path / "site.yaml"
    cfg.write_text(GOOD.replace('"0"', '"clips/gate.mp4"'), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    messages = [str(i) for i in info.value.issues]
    assert (
        f"site.yaml:4 models.detector: file not found: {tmp_path / 'models' / 'yolov8n_int8.onnx'}"
        in messages
    )
    assert (
        f"site.yaml:16 cameras[1].source: file not found: {tmp_path / 'clips' / 'gate.mp4'}"
        in messages
    )


def test_a_missing_substream_file_is_named(tmp_path: Path) -> None:
    """A lift's substream is what the node decodes at 5 fps: a typo there must not wait for
    the first capture attempt to show."""
    cfg = tmp_path / "site.yaml"
    text = GOOD.replace(
        '    source: "rtsp://user:pass@10.0.0.3/stream1"\n',
        '    source: "rtsp://user:pass@10.0.0.3/stream1"\n    substream: "clips/lift-sub.mp4"\n',
    )
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    messages = [str(i) for i in info.value.issues]
    assert (
        f"site.yaml:8 cameras[0].substream: file not found: {tmp_path / 'clips' / 'lift-sub.mp4'}"
        in messages
    ), messages


def test_fps_defaults_by_camera_kind() -> None:
    settings, _ = parse_settings(GOOD.replace("    detect_fps: 5\n", ""), "site.yaml")
    assert settings.cameras[0].detect_fps == 5.0  # a lift: several looks within a second
    assert settings.cameras[1].detect_fps == 2.0  # parking and fire lanes need no more
