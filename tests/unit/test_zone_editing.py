"""The installer page's zone edits in the config file (comments and order kept) and the list of
zone settings it builds its form from (every field of the model, each with a label)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.api.zonefields import OWN_CONTROLS, zone_fields
from edge.api.zonesedit import measure_indent, replace_zones, zones_of
from edge.config.model import Zone

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "config/examples").glob("*.yaml"))

COMMENTED = """\
# 西镇社区 gate-1: 安装于 2026-11
site: {id: xizhen, name: 西镇社区}
node: {id: gate-1}
cameras:
  - id: forecourt   # 5号楼前
    source: rtsp://cam/1
    zones:
      # 东侧消防通道，物业要求 60 秒
      - id: driveway
        kind: fire_lane   # 消防通道
        grace_s: 60       # 物业规定
        polygon: [[0.42, 0.3], [0.62, 0.3], [0.72, 1.0], [0.45, 1.0]]
        clear_after_s: 30
      - id: bay
        kind: no_parking
        polygon: [[0.1, 0.5], [0.3, 0.5], [0.3, 0.9]]
sensors: []   # 还没有传感器
"""


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_saving_unchanged_zones_leaves_every_example_byte_for_byte(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for camera in yaml.safe_load(text).get("cameras") or []:
        assert replace_zones(text, camera["id"], zones_of(text, camera["id"])) == text


def test_an_edited_zone_keeps_its_comments_and_key_order() -> None:
    zones = zones_of(COMMENTED, "forecourt")
    zones[0]["stationary_window_s"] = 4  # a new key: written last
    zones[0]["grace_s"] = 45
    del zones[0]["clear_after_s"]
    zones[1]["min_hits"] = 5
    out = replace_zones(COMMENTED, "forecourt", zones)
    assert zones_of(out, "forecourt") == zones
    for comment in ("# 西镇社区 gate-1: 安装于 2026-11", "# 5号楼前", "# 消防通道", "# 物业规定",
                    "# 东侧消防通道，物业要求 60 秒", "# 还没有传感器"):  # fmt: skip
        assert out.count(comment) == 1, (comment, out)
    driveway = out[out.index("- id: driveway") : out.index("- id: bay")]
    keys = re.findall(r"^\s*(?:- )?(\w+):", driveway, re.MULTILINE)
    assert keys == ["id", "kind", "grace_s", "polygon", "stationary_window_s"]
    assert "grace_s: 45       # 物业规定" in out
    assert "polygon: [[0.42, 0.3], [0.62, 0.3], [0.72, 1.0], [0.45, 1.0]]" in out


def test_a_removed_and_an_added_zone() -> None:
    new: dict[str, Any] = {"id": "gate", "kind": "lift", "polygon": [[0, 0], [1, 0], [1, 1]],
                           "actions": {"door_hold": "door-1"}}  # fmt: skip
    out = replace_zones(COMMENTED, "forecourt", [zones_of(COMMENTED, "forecourt")[0], new])
    assert [z["id"] for z in zones_of(out, "forecourt")] == ["driveway", "gate"]
    assert "polygon: [[0, 0], [1, 0], [1, 1]]" in out and "door_hold: door-1" in out
    assert "# 物业规定" in out and "# 还没有传感器" in out
    emptied = replace_zones(COMMENTED, "forecourt", [])
    assert zones_of(emptied, "forecourt") == [] and "# 5号楼前" in emptied


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("a:\n  b: 1\nc:\n  - x\n", (2, 2)),
        ("a:\n    b: 1\nc:\n- x\n", (4, 0)),
        ("cameras:\n    -   id: a\n        zones:\n        - id: z\n", (2, 4)),
        ("site: {id: x}\n", (2, 2)),
    ],
)
def test_the_files_indentation_is_measured(text: str, want: tuple[int, int]) -> None:
    assert measure_indent(text) == want


def test_a_file_indented_its_own_way_stays_so() -> None:
    text = "cameras:\n- id: a   # cam\n  source: a.mp4\n  zones:\n  - id: z\n    kind: lift\n" \
           "    polygon: [[0, 0], [1, 0], [1, 1]]\n"  # fmt: skip
    zones = zones_of(text, "a")
    zones[0]["min_hits"] = 4
    out = replace_zones(text, "a", zones)
    assert out == text + "    min_hits: 4\n"


# --- the zone settings the installer page edits ------------------------------------------------


def test_every_zone_setting_of_the_model_is_listed() -> None:
    names = {f["name"] for f in zone_fields()}
    for name in Zone.model_fields:
        if name in OWN_CONTROLS:
            continue
        if name == "actions":
            assert {"actions.door_hold", "actions.voice_prompt", "actions.voice_text"} <= names
        else:
            assert name in names, name
    by_name = {f["name"]: f for f in zone_fields()}
    assert (
        by_name["stationary_window_s"]["gt"] == 0
        and by_name["stationary_window_s"]["default"] == 10
    )
    assert by_name["min_hits"]["type"] == "integer" and by_name["min_hits"]["kinds"] == ["lift"]
    assert by_name["severity"]["options"] == ["info", "warning", "major", "critical"]
    assert by_name["grace_s"]["by_kind"] == {"no_parking": 300, "fire_lane": 60, "lift": 0}


def test_every_zone_setting_has_a_chinese_and_an_english_label() -> None:
    js = (ROOT / "edge/api/static/common.js").read_text(encoding="utf-8")
    zh, en = js.split("\n  en: {", 1)
    for f in zone_fields():
        for table, lang in ((zh, "zh"), (en, "en")):
            for key in (f"zf.{f['name']}", f"zf.{f['name']}.help"):
                assert f'"{key}":' in table, (lang, key)


def test_a_zone_built_on_an_anchor_keeps_it_and_overrides_one_key() -> None:
    text = (
        "site: {id: x}\nnode: {id: n}\ncameras:\n  - id: a   # cam\n    source: a.mp4\n"
        "    zones:\n"
        "      - &lane {id: z0, kind: fire_lane, grace_s: 60, polygon: [[0, 0], [1, 0], [1, 1]]}\n"
        "      - <<: *lane\n        id: z1   # keep\n"
    )  # fmt: skip
    zones = zones_of(text, "a")
    assert replace_zones(text, "a", zones) == text
    zones[1]["grace_s"] = 30
    out = replace_zones(text, "a", zones)
    assert zones_of(out, "a") == zones
    assert "<<: *lane" in out and "id: z1   # keep" in out and out.endswith("grace_s: 30\n")


WRAPPED = """\
site: {id: x}
node: {id: n}
cameras:
  - id: a
    source: a.mp4
    zones:
      - {id: driveway, kind: fire_lane, grace_s: 2, stationary_window_s: 1, clear_after_s: 3,
         polygon: [[0.42, 0.3], [0.62, 0.3], [0.72, 1.0], [0.45, 1.0]]}
      - {id: bay, kind: no_parking, polygon: [[0, 0], [1, 0], [1, 1]]}   # untouched
  - id: b
    source: b.mp4
    zones:  # b's zones
      - id: front
        kind: no_parking
        polygon: [[0.0, 0.6], [1.0, 0.6], [1.0, 1.0], [0.0, 1.0]]
"""


def test_what_the_installer_did_not_touch_stays_byte_for_byte() -> None:
    """ruamel would re-wrap camera a's long flow zone; only the edited span is taken from it."""
    out = replace_zones(
        WRAPPED, "b", [{"id": "front", "kind": "lift", "polygon": [[0, 0], [1, 0], [1, 1]]}]
    )
    before = "kind: no_parking\n        polygon: [[0.0, 0.6], [1.0, 0.6], [1.0, 1.0], [0.0, 1.0]]"
    after = "kind: lift\n        polygon: [[0, 0], [1, 0], [1, 1]]"
    assert out == WRAPPED.replace(before, after)
    zones = zones_of(WRAPPED, "a")
    zones[0]["grace_s"] = 5
    out = replace_zones(WRAPPED, "a", zones)
    assert zones_of(out, "a") == zones
    assert not [line for line in out.splitlines() if line != line.rstrip()], out
    assert (
        "      - {id: bay, kind: no_parking, polygon: [[0, 0], [1, 0], [1, 1]]}   # untouched\n"
        in out
    )
    assert out.endswith(WRAPPED[WRAPPED.index("  - id: b") :])


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_an_edit_to_an_example_changes_only_its_lines(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for camera in yaml.safe_load(text).get("cameras") or []:
        zones = zones_of(text, camera["id"])
        if not zones:
            continue
        zones[0]["stationary_window_s"] = 4  # set or changed
        zones[-1]["update_every_s"] = 30  # set or changed, last in its zone
        out = replace_zones(text, camera["id"], zones)
        assert zones_of(out, camera["id"]) == zones
        gone = [ln for ln in text.splitlines() if ln not in out.splitlines()]
        assert len(gone) <= 2, gone
        assert sorted(out.splitlines()) != sorted(text.splitlines())
        # Every comment line of the file is there once, as often as before.
        for line in {ln for ln in text.splitlines() if ln.strip().startswith("#")}:
            assert out.count(line + "\n") == text.count(line + "\n"), line
