"""What an evidence picture says on its face: what, where and when, in the operator's language.

A snapshot travels without its JSON: forwarded into a WeChat group, printed into a case file,
opened from a phone's gallery. So the picture itself names the rule and the objects (汽车, not
`car 0.82`), the place (community, grid, camera location, zone name) and the local time.

Chinese needs a CJK font, which OpenCV's text cannot draw: Pillow draws the text, with the font
from `alerts.stamp_font` or the first of the usual system CJK fonts found. Without one the stamp
falls back to English (Pillow's built-in font) and says so once in the log: an unreadable
row of boxes would be worse than English.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from PIL import Image as PilImage
from PIL import ImageDraw, ImageFont

from edge.messages import AlertKind, AlertObject, Category, Image, Severity

log = logging.getLogger(__name__)

# Searched in this order when `alerts.stamp_font` is not set (Debian/Ubuntu package names in
# brackets): WenQuanYi Micro Hei (fonts-wqy-microhei), Noto Sans CJK (fonts-noto-cjk),
# WenQuanYi Zen Hei (fonts-wqy-zenhei), Droid Sans Fallback (fonts-droid-fallback).
CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)

KIND_NAMES: dict[str, dict[AlertKind, str]] = {
    "zh-CN": {
        AlertKind.ILLEGAL_PARKING: "违规停车",
        AlertKind.FIRE_LANE_BLOCKED: "占用消防通道",
        AlertKind.EBIKE_IN_LIFT: "电动车进电梯",
        AlertKind.CAMERA_OFFLINE: "摄像机离线",
    },
    "en": {
        AlertKind.ILLEGAL_PARKING: "Illegal parking",
        AlertKind.FIRE_LANE_BLOCKED: "Fire lane blocked",
        AlertKind.EBIKE_IN_LIFT: "E-bike in lift",
        AlertKind.CAMERA_OFFLINE: "Camera offline",
    },
}
SEVERITY_NAMES: dict[str, dict[Severity, str]] = {
    "zh-CN": {Severity.INFO: "提示", Severity.WARNING: "一般", Severity.MAJOR: "重要",
              Severity.CRITICAL: "紧急"},
    "en": {Severity.INFO: "info", Severity.WARNING: "warning", Severity.MAJOR: "major",
           Severity.CRITICAL: "critical"},
}  # fmt: skip
# The detector's COCO classes that rules use, and the words an operator uses for them.
CLASS_NAMES: dict[str, dict[str, str]] = {
    "zh-CN": {"car": "汽车", "truck": "货车", "bus": "客车", "motorcycle": "摩托车",
              "bicycle": "自行车", "person": "行人", "ebike": "电动车"},
    "en": {"car": "car", "truck": "truck", "bus": "bus", "motorcycle": "motorcycle",
           "bicycle": "bicycle", "person": "person", "ebike": "e-bike"},
}  # fmt: skip
CATEGORY_NAMES: dict[str, dict[Category, str]] = {
    "zh-CN": {Category.VEHICLE: "车辆", Category.TWO_WHEELER: "两轮车", Category.PERSON: "行人"},
    "en": {Category.VEHICLE: "vehicle", Category.TWO_WHEELER: "two-wheeler",
           Category.PERSON: "person"},
}  # fmt: skip
LABELS = {
    "zh-CN": {"grid": "网格", "camera": "摄像机", "zone": "区域"},
    "en": {"grid": "grid", "camera": "camera", "zone": "zone"},
}


@dataclass(frozen=True, slots=True)
class StampContext:
    """Where an alert's camera is, in words: copied from the config."""

    site_name: str
    camera_id: str
    grid: str | None = None
    location: str | None = None
    zone_name: str | None = None


def object_name(obj: AlertObject, kind: AlertKind, language: str) -> str:
    """The operator's word for an object: a two-wheeler in a lift alarm is the e-bike the
    verifier confirmed, whatever COCO class the detector gave it."""
    if kind is AlertKind.EBIKE_IN_LIFT and obj.category is Category.TWO_WHEELER:
        return CLASS_NAMES[language]["ebike"]
    names = CLASS_NAMES[language]
    return names.get(obj.class_name) or CATEGORY_NAMES[language][obj.category]


def stamp_lines(
    kind: AlertKind,
    severity: Severity,
    objects: Sequence[AlertObject],
    where: StampContext,
    *,
    when_wall: float,
    tz: ZoneInfo,
    language: str,
) -> list[str]:
    """Three lines: what (rule, severity, objects), where, when."""
    label = LABELS[language]
    what = [KIND_NAMES[language].get(kind, kind.value), SEVERITY_NAMES[language][severity]]
    names = sorted({object_name(o, kind, language) for o in objects})
    sep = "：" if language == "zh-CN" else ": "
    first = " · ".join(what) + (sep + "、".join(names) if names and language == "zh-CN" else "")
    if names and language != "zh-CN":
        first += sep + ", ".join(names)
    place = [where.site_name] if where.site_name else []
    if where.grid:
        place.append(f"{label['grid']} {where.grid}")
    place.append(where.location or f"{label['camera']} {where.camera_id}")
    if where.zone_name:
        place.append(f"{label['zone']} {where.zone_name}")
    local = datetime.fromtimestamp(when_wall, tz)
    return [first, " · ".join(place), local.strftime("%Y-%m-%d %H:%M:%S ") + _tz_name(local)]


def _tz_name(local: datetime) -> str:
    offset = local.strftime("%z")  # +0800
    return f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"


@cache
def _font(path: str | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(path, size)


def find_cjk_font(configured: str | None) -> str | None:
    """The font file to stamp with: the configured one (checked at config load), or the first
    system CJK font found, or None."""
    if configured is not None:
        return configured
    return next((p for p in CJK_FONTS if Path(p).is_file()), None)


class Stamper:
    """Draws object labels and the what/where/when banner onto evidence pictures."""

    def __init__(self, language: str, tz: ZoneInfo, font_path: str | None) -> None:
        self.tz = tz
        self.font_path = font_path
        # Chinese text needs a CJK font; without one, English rather than boxes.
        self.language = language if font_path is not None else "en"
        if font_path is None and language != "en":
            log.warning(
                "no CJK font found (tried %s): evidence pictures are stamped in English; "
                "install fonts-wqy-microhei or set alerts.stamp_font",
                ", ".join(CJK_FONTS),
            )

    def draw(
        self,
        image: Image,
        lines: Sequence[str],
        labels: Sequence[tuple[tuple[int, int], str]],
        colour: tuple[int, int, int],
    ) -> Image:
        """`image` (BGR) with `labels` ((x, y) of a box's top-left, text) above their boxes
        and `lines` in a dark band across the top."""
        h, w = image.shape[:2]
        size = max(12, round(min(w, h) / 32))
        font = _font(self.font_path, size)
        pil = PilImage.fromarray(image[:, :, ::-1])
        draw = ImageDraw.Draw(pil, "RGBA")
        fill = (colour[2], colour[1], colour[0], 220)  # the box's colour, white text on it
        for (x, y), text in labels:
            left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
            ty = max(0, y - (bottom - top) - 6)
            draw.rectangle((x, ty, x + right - left + 6, ty + bottom - top + 6), fill)
            draw.text((x + 3 - left, ty + 3 - top), text, font=font, fill=(255, 255, 255, 255))
        pad = max(4, size // 3)
        heights = [draw.textbbox((0, 0), t, font=font) for t in lines]
        band = sum(b[3] - b[1] for b in heights) + pad * (len(lines) + 1)
        draw.rectangle((0, 0, w, band), (0, 0, 0, 160))
        y = pad
        for text, (left, top, _r, bottom) in zip(lines, heights, strict=True):
            draw.text((pad - left, y - top), text, font=font, fill=(255, 255, 255, 255))
            y += bottom - top + pad
        return np.ascontiguousarray(np.asarray(pil)[:, :, ::-1])
