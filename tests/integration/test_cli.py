"""The commands an installer types, run as real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.schemas import validate

REPO = Path(__file__).resolve().parents[2]


def edge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def site_yaml(tmp_path: Path, models_dir: Path, source: Path, zone: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(
        f"""\
site: {{id: xizhen, name: 西镇社区}}
node: {{id: gate-1}}
models: {{dir: "{models_dir}", detector: yolo11n_int8.onnx}}
storage: {{dir: "{tmp_path / "var"}"}}
cameras:
  - id: cam
    source: "{source}"
    detect_fps: 2
    zones:
{zone}
""",
        encoding="utf-8",
    )
    return path


def test_check_config_reports_file_line_and_path(tmp_path: Path) -> None:
    bad = tmp_path / "site.yaml"
    bad.write_text(
        "site: {id: x}\nnode: {id: n}\ncameras:\n  - id: c\n    source: '0'\n    zones:\n"
        "      - {id: z, kind: lift, polygon: [[0, 0], [1, 0]]}\n",
        encoding="utf-8",
    )
    result = edge("check-config", str(bad), "--skip-model")
    assert result.returncode == 2
    assert (
        "site.yaml:7 cameras[0].zones[0].polygon: needs at least 3 points, got 2" in result.stderr
    )


@pytest.mark.integration
def test_check_config_accepts_the_examples(models_dir: Path) -> None:
    examples = sorted((REPO / "config" / "examples").glob("*.yaml"))
    assert {e.name for e in examples} >= {
        "site.yaml",
        "parking_lot.yaml",
        "fire_lane.yaml",
        "lift.yaml",
    }
    for example in examples:
        result = edge("check-config", str(example), "--models-dir", str(models_dir))
        assert result.returncode == 0, result.stderr
        assert "OK" in result.stdout


@pytest.mark.integration
def test_check_config_refuses_class_names_the_model_lacks(
    tmp_path: Path, models_dir: Path, data_dir: Path
) -> None:
    cfg = site_yaml(tmp_path, models_dir, data_dir / "images/street/bus_ultralytics.jpg", "")
    text = cfg.read_text(encoding="utf-8").replace(
        "detector: yolo11n_int8.onnx}",
        "detector: yolo11n_int8.onnx, classes: {two_wheeler: [ebike]}}",
    )
    cfg.write_text(text.replace("    zones:\n", "    zones: []\n"), encoding="utf-8")
    result = edge("check-config", str(cfg))
    assert result.returncode == 2
    assert "ebike" in result.stderr and "yolo11n_int8.onnx" in result.stderr


@pytest.mark.integration
def test_replay_prints_alerts_as_json_lines(
    tmp_path: Path, models_dir: Path, data_dir: Path
) -> None:
    image = data_dir / "images/street/bus_ultralytics.jpg"
    zone = (
        "      - {id: stop, kind: fire_lane, grace_s: 2, stationary_window_s: 1,\n"
        "         polygon: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]}"
    )
    cfg = site_yaml(tmp_path, models_dir, image, zone)
    result = edge("replay", "--config", str(cfg), "--camera", "cam", "--source", str(image))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines, result.stderr
    alerts = [json.loads(line) for line in lines]  # stdout holds nothing but alert JSON
    for a in alerts:
        validate("alert", a)
    assert [(a["kind"], a["event"]) for a in alerts] == [("fire_lane_blocked", "raised")]
    assert alerts[0]["objects"][0]["class"] == "bus"
    assert "replayed" in result.stderr


def test_replay_names_a_missing_source(tmp_path: Path) -> None:
    cfg = tmp_path / "site.yaml"
    cfg.write_text(
        "site: {id: x}\nnode: {id: n}\nmodels: {dir: /nonexistent}\ncameras:\n"
        "  - {id: c, source: '0'}\n",
        encoding="utf-8",
    )
    result = edge("replay", "--config", str(cfg), "--camera", "nope", "--source", "x.mp4")
    assert result.returncode == 2
    # The config is checked first: the missing model is named with its line.
    assert "site.yaml:3 models.detector: file not found" in result.stderr
