"""Issue 13: an evidence picture says what, where and when, in the operator's words."""

from __future__ import annotations

import logging
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from PIL import ImageFont

from edge.alerts.evidence import Caption, SnapshotStore, annotate
from edge.alerts.stamp import CJK_FONTS, StampContext, Stamper, find_cjk_font, stamp_lines
from edge.config.loader import ConfigError, load_config
from edge.messages import AlertKind, AlertObject, Box, Category, Severity

SHANGHAI = ZoneInfo("Asia/Shanghai")
EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z, 08:00 in Shanghai
VAN = AlertObject(Category.VEHICLE, "car", 0.82, Box(0.42, 0.55, 0.58, 0.82), 3)
BIKE = AlertObject(Category.TWO_WHEELER, "motorcycle", 0.65, Box(0.1, 0.2, 0.4, 0.9), 5)
FORECOURT = StampContext("演示社区", "forecourt", grid="A-02", location="办公楼前 消防通道",
                         zone_name="中央消防通道")  # fmt: skip
FONT = find_cjk_font(None)
needs_font = pytest.mark.skipif(
    FONT is None, reason="no CJK font (apt-get install fonts-wqy-microhei)"
)


def test_the_lines_name_rule_objects_place_and_local_time() -> None:
    lines = stamp_lines(AlertKind.FIRE_LANE_BLOCKED, Severity.MAJOR, [VAN], FORECOURT,
                        when_wall=EPOCH + 3723, tz=SHANGHAI, language="zh-CN")  # fmt: skip
    assert lines == [
        "占用消防通道 · 重要：汽车",
        "演示社区 · 网格 A-02 · 办公楼前 消防通道 · 区域 中央消防通道",
        "2026-01-01 09:02:03 UTC+08:00",
    ]
    english = stamp_lines(AlertKind.FIRE_LANE_BLOCKED, Severity.MAJOR, [VAN], FORECOURT,
                          when_wall=EPOCH, tz=ZoneInfo("UTC"), language="en")  # fmt: skip
    assert english[0] == "Fire lane blocked · major: car"
    assert english[2] == "2026-01-01 00:00:00 UTC+00:00"


def test_a_two_wheeler_in_a_lift_alarm_is_named_an_ebike_not_a_coco_class() -> None:
    lift = StampContext("演示社区", "lift-2", location="3号楼 电梯2")
    (first, place, _when) = stamp_lines(AlertKind.EBIKE_IN_LIFT, Severity.CRITICAL, [BIKE], lift,
                                        when_wall=EPOCH, tz=SHANGHAI, language="zh-CN")  # fmt: skip
    assert first == "电动车进电梯 · 紧急：电动车"
    assert "motorcycle" not in first and place == "演示社区 · 3号楼 电梯2"
    # Without a location the camera is named by its id, never left blank.
    bare = StampContext("", "cam-7")
    assert stamp_lines(AlertKind.ILLEGAL_PARKING, Severity.WARNING, [], bare, when_wall=EPOCH,
                       tz=SHANGHAI, language="zh-CN")[1] == "摄像机 cam-7"  # fmt: skip


@needs_font
def test_the_font_found_draws_chinese_not_empty_boxes() -> None:
    assert FONT is not None and FONT in CJK_FONTS
    font = ImageFont.truetype(FONT, 32)
    # Two different characters drawn as the same box would mean the font has no CJK glyphs.
    one, two = (np.asarray(font.getmask(c)) for c in ("违", "规"))
    assert one.any() and two.any()
    assert one.shape != two.shape or not np.array_equal(one, two)


@needs_font
def test_the_picture_carries_the_band_and_the_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    image = rng.integers(150, 255, size=(480, 640, 3), dtype=np.uint8)
    stamper = Stamper("zh-CN", SHANGHAI, FONT)
    caption = Caption(AlertKind.FIRE_LANE_BLOCKED, Severity.MAJOR, FORECOURT, EPOCH)
    out = annotate(image, [(0.4, 0.3), (0.6, 0.3), (0.6, 1.0)], [VAN], stamper=stamper,
                   caption=caption)  # fmt: skip
    assert out.shape == image.shape and out.dtype == np.uint8
    # A dark band across the top holds the three lines, with white text on it.
    band = out[:40]
    assert band.mean() < image[:40].mean() * 0.6
    assert (band.min(axis=2) > 230).sum() > 50
    # The van's label sits just above its box (y 0.55 -> 264 px), on the box's red.
    label = out[240:262, 270:300].reshape(-1, 3).astype(int)
    assert ((label[:, 2] > 150) & (label[:, 1] < 80)).sum() > 100
    store = SnapshotStore(tmp_path, stamper=stamper)
    ev = store.save("A1", 1, image, None, [VAN], caption=caption)
    assert ev.path.read_bytes()[:2] == b"\xff\xd8"


def test_without_a_cjk_font_the_stamp_is_english_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        stamper = Stamper("zh-CN", SHANGHAI, None)
    assert stamper.language == "en"
    assert "fonts-wqy-microhei" in caplog.text and "alerts.stamp_font" in caplog.text
    image = np.full((240, 320, 3), 200, np.uint8)
    caption = Caption(AlertKind.ILLEGAL_PARKING, Severity.WARNING, FORECOURT, EPOCH)
    out = annotate(image, None, [VAN], stamper=stamper, caption=caption)
    assert out[:20].mean() < 150  # the band is drawn with Pillow's own font


def test_an_unknown_time_zone_is_refused_naming_the_field(tmp_path: Path) -> None:
    text = "site: {id: s}\nnode: {id: n}\nalerts: {timezone: Asia/Beijing}\n"
    (tmp_path / "site.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "site.yaml", check_files=False)
    assert "alerts.timezone" in str(err.value) and "Asia/Shanghai" in str(err.value)
