"""What a notification says: Chinese first, English second; what, where, since when, two links.

Rendered when it is sent (not when it is owed), from the case as it is then: a reminder sent
after a retry shows the current state, and the console's public URL can change without
rewriting queued rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from html import escape
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from grid_console.cases.labels import kind_name, severity_name, state_name
from grid_console.cases.models import Case
from grid_console.snapshots.models import AlertSnapshot, Snapshot
from grid_console.snapshots.service import is_picture

SHANGHAI = ZoneInfo("Asia/Shanghai")

# Reasons as the dispatch and deadline code give them ("dispatch:auto", "overdue:handle#12",
# "supervise:response#12:1", "undefer#3"): the part before "#" names it, then the part before
# ":"; anything else is shown as it is.
REASON_NAMES: dict[str, tuple[str, str]] = {
    "new": ("新事件", "new case"),
    "dispatch": ("派遣任务", "dispatched to you"),
    "dispatched": ("派遣任务", "dispatched to you"),
    "critical": ("紧急事件", "critical case"),
    "overdue": ("已超时", "overdue"),
    "overdue:response": ("超时未接单", "not accepted in time"),
    "overdue:handle": ("超时未处置", "not handled in time"),
    "supervise": ("督办", "escalated"),
    "escalated": ("督办", "escalated"),
    "undefer": ("挂账到期", "deferral due"),
    "reminder": ("提醒", "reminder"),
    "returned": ("已退回", "returned"),
    "reopened": ("重新打开", "reopened"),
}


@dataclass(frozen=True, slots=True)
class Message:
    case_id: int
    reason: str
    title_zh: str
    title_en: str
    # (Chinese label, English label, value): the body, line by line.
    fields: tuple[tuple[str, str, str], ...]
    case_url: str
    snapshot_url: str | None

    @property
    def title(self) -> str:
        return f"{self.title_zh} | {self.title_en}"

    def text(self) -> str:
        """Plain text, for channels without formatting."""
        lines = [self.title]
        lines += [f"{zh} {en}: {value}" for zh, en, value in self.fields]
        if self.snapshot_url:
            lines.append(f"现场截图 Snapshot: {self.snapshot_url}")
        lines.append(f"打开案件 Open the case: {self.case_url}")
        return "\n".join(lines)

    def markdown(self, *, images: bool, heading: bool = True) -> str:
        """Markdown for robots; `images` only where the vendor renders a picture from a URL."""
        lines = [f"### {self.title_zh}", f"{self.title_en}", ""] if heading else []
        lines += [f"**{zh}** {en}: {_inert(value)}  " for zh, en, value in self.fields]
        if self.snapshot_url:
            if images:
                lines.append(f"![现场截图 snapshot]({self.snapshot_url})")
            lines.append(f"[查看现场截图 View the snapshot]({self.snapshot_url})  ")
        lines.append(f"[打开案件 Open the case]({self.case_url})")
        return "\n".join(lines)

    def html(self) -> str:
        rows = "".join(
            f"<tr><th align='left'>{escape(zh)} {escape(en)}</th><td>{escape(value)}</td></tr>"
            for zh, en, value in self.fields
        )
        picture = (
            f"<p><a href='{escape(self.snapshot_url)}'><img src='{escape(self.snapshot_url)}' "
            "alt='现场截图 snapshot' style='max-width:480px'></a></p>"
            if self.snapshot_url
            else ""
        )
        return (
            f"<h3>{escape(self.title_zh)}<br><small>{escape(self.title_en)}</small></h3>"
            f"<table>{rows}</table>{picture}"
            f"<p><a href='{escape(self.case_url)}'>打开案件 Open the case</a></p>"
        )

    def as_json(self) -> dict[str, object]:
        return {
            "title": self.title_zh,
            "title_en": self.title_en,
            "text": self.text(),
            "case_url": self.case_url,
            "snapshot_url": self.snapshot_url,
        }


# Characters that make markdown out of a value (a link, a picture, HTML, code) become their
# full-width forms: a camera or a place named by a node cannot put a link into a robot's card.
# (Underscores stay: ids such as smoke_1 are common, and emphasis in a value is harmless.)
_INERT = str.maketrans({"[": "［", "]": "］", "<": "＜", ">": "＞", "`": "｀"})


def _inert(value: str) -> str:
    return " ".join(value.translate(_INERT).split())  # newlines would start new markdown blocks


def reason_name(reason: str) -> tuple[str, str]:
    base = reason.split("#", 1)[0]
    found = REASON_NAMES.get(base) or REASON_NAMES.get(base.split(":", 1)[0])
    return found or (reason, reason)


def local_time(at: datetime, zone: tzinfo) -> str:
    label = "北京时间" if zone is SHANGHAI or str(zone) == "Asia/Shanghai" else str(zone)
    return f"{at.astimezone(zone):%Y-%m-%d %H:%M:%S} ({label})"


def latest_snapshot(session: Session, alert_id: str) -> str | None:
    stmt = (
        select(AlertSnapshot.sha256)
        .join(Snapshot, Snapshot.sha256 == AlertSnapshot.sha256)
        .where(AlertSnapshot.alert_id == alert_id, is_picture())  # never the clip
        .order_by(AlertSnapshot.received_at.desc(), AlertSnapshot.id.desc())
        .limit(1)
    )
    return session.execute(stmt).scalar_one_or_none()


def render(
    case: Case, reason: str, *, public_url: str, snapshot: str | None, zone: tzinfo = SHANGHAI
) -> Message:
    kind_zh, kind_en = kind_name(case.kind)
    sev_zh, sev_en = severity_name(case.severity)
    state_zh, state_en = state_name(case.state)
    why_zh, why_en = reason_name(reason)
    where = [part for part in (
        f"网格 {case.grid}" if case.grid else None,
        f"{case.building}号楼" if case.building and case.building.isdigit() else case.building,
        f"{case.floor}层" if case.floor and case.floor.lstrip("-").isdigit() else case.floor,
    ) if part]  # fmt: skip
    device = (
        f"摄像头 camera {case.camera}" + (f" / 区域 zone {case.zone}" if case.zone else "")
        if case.camera
        else (f"传感器 sensor {case.sensor}" if case.sensor else "")
    )
    fields: list[tuple[str, str, str]] = [
        ("事件", "What", f"{kind_zh} {kind_en} · {sev_zh} {sev_en}"),
        ("位置", "Where", " · ".join(where) or "未知 unknown"),
    ]
    if case.location:
        fields.append(("地点", "Place", case.location))
    if device:
        fields.append(("设备", "Device", f"{device} ({case.site}/{case.node})"))
    fields += [
        ("发生时间", "Since", local_time(case.opened_at, zone)),
        ("案件状态", "State", f"{state_zh} {state_en} · 案件 #{case.id}"),
    ]
    base = public_url.rstrip("/")
    return Message(
        case_id=case.id,
        reason=reason,
        title_zh=f"【{why_zh}】{kind_zh}（{sev_zh}）",
        title_en=f"[{why_en}] {kind_en} ({sev_en})",
        fields=tuple(fields),
        case_url=f"{base}/cases/{case.id}",
        snapshot_url=f"{base}/api/snapshots/{snapshot}" if snapshot else None,
    )
