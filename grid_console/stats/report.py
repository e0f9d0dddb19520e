"""A report: the period, the rows and their total, as JSON, CSV (UTF-8 with BOM, so Excel
reads the Chinese) and XLSX (openpyxl), with Chinese headers in the files."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from openpyxl import Workbook
from openpyxl.styles import Font

from grid_console.cases.labels import kind_name
from grid_console.clock import format_timestamp
from grid_console.stats.figures import COUNTS, Figures
from grid_console.stats.period import Period

NO_GRID = "（未分网格）"
TOTAL = "合计"
HEADERS = ("网格", "事件类型", "上报数", "立案数", "结案数", "误报数", "按期处置数", "超期处置数",
           "超期未处置数", "返工数", "接单用时中位数（分钟）", "接单用时90分位（分钟）",
           "结案用时中位数（分钟）", "结案用时90分位（分钟）")  # fmt: skip
DEFINITIONS = (
    ("统计区间", "[开始, 结束)，按所选时区的日界（默认 Asia/Shanghai 北京时间）"),
    ("上报数", "区间内发生（opened_at）的案件数"),
    ("立案数", "区间内有“立案”记录的案件数（含自动立案）"),
    ("结案数", "区间内有“结案”记录的案件数"),
    ("误报数", "区间内有“误报”记录的案件数"),
    ("按期处置数", "本轮（上报或重新打开以来）首次“处置反馈”在区间内、"
                   "且不晚于当时处置时限的案件数"),
    ("超期处置数", "本轮（上报或重新打开以来）首次“处置反馈”在区间内、"
                   "且晚于当时处置时限的案件数"),
    ("超期未处置数", "截至统计时点（区间结束或当前时刻，取较早者）仍未接单超过响应时限、"
                     "或仍未处置超过处置时限（按当时有效的时限）的案件数，不论何时上报；挂账案件不计"),
    ("返工数", "区间内处置后被退回、或结案后被重新打开的案件数"),
    ("接单用时", "从案件发生到首次接单，首次接单在区间内的案件；中位数与90分位按线性插值"),
    ("结案用时", "从案件发生到首次结案，首次结案在区间内的案件；中位数与90分位按线性插值"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Report:
    period: Period
    as_of: datetime
    grid: str | None
    rows: Sequence[Figures]
    # The grids the reader may see (a grid head's own and their micro-grids); None: every grid.
    scope: frozenset[str] | None = None

    def total(self) -> Figures:
        total = Figures(grid=None, kind=None)
        for row in self.rows:
            total.add(row)
        return total

    def as_json(self) -> dict[str, object]:
        return {
            "from": format_timestamp(self.period.start),
            "to": format_timestamp(self.period.end),
            "as_of": format_timestamp(self.as_of),
            "timezone": str(self.period.zone),
            "grid": self.grid,
            "grids": None if self.scope is None else sorted(self.scope),
            "rows": [_row_json(r) for r in self.rows],
            "total": _row_json(self.total()),
        }

    def table(self) -> list[list[object]]:
        body = [_row_cells(r) for r in self.rows]
        return [list(HEADERS), *body, _row_cells(self.total())]

    def csv(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerows([[_inert_csv(cell) for cell in row] for row in self.table()])
        return ("\ufeff" + out.getvalue()).encode("utf-8")

    def xlsx(self) -> bytes:
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "周报"
        for row in self.table():
            sheet.append(row)
            for cell in sheet[sheet.max_row]:
                if isinstance(cell.value, str) and cell.data_type == "f":
                    cell.data_type = "s"  # a grid named "=..." by a node is text, not a formula
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
        notes = book.create_sheet("说明")
        notes.append(
            ["统计区间", f"{self._local(self.period.start)} 至 {self._local(self.period.end)}"]
        )
        notes.append(["统计时点", self._local(self.as_of)])
        notes.append(["网格", self.grid or self._scope_text()])
        for name, text in DEFINITIONS:
            notes.append([name, text])
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()

    def filename(self, extension: str) -> str:
        start = self.period.start.astimezone(self.period.zone).strftime("%Y%m%d")
        end = self.period.end.astimezone(self.period.zone).strftime("%Y%m%d")
        return f"grid-figures-{start}-{end}.{extension}"

    def _scope_text(self) -> str:
        if self.scope is None:
            return "全部"
        return "本人负责的网格：" + ("、".join(sorted(self.scope)) or "（无）")

    def _local(self, at: datetime) -> str:
        return f"{at.astimezone(self.period.zone):%Y-%m-%d %H:%M} ({self.period.zone})"


# Spreadsheets run a cell that starts with one of these as a formula (CSV injection); the
# grid's name comes from a node's configuration, so it is quoted as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert_csv(cell: object) -> object:
    if isinstance(cell, str) and cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell


def _row_json(row: Figures) -> dict[str, object]:
    names = kind_name(row.kind) if row.kind else (None, None)
    counts: dict[str, object] = {name: getattr(row, name) for name in COUNTS}
    return {"grid": row.grid, "kind": row.kind, "kind_name": names[0], **counts,
            **row.summary()}  # fmt: skip


def _row_cells(row: Figures) -> list[object]:
    if row.kind is None:
        label: list[object] = [TOTAL, ""]
    else:
        label = [row.grid or NO_GRID, kind_name(row.kind)[0]]
    minutes = [None if s is None else round(s / 60, 1) for s in row.summary().values()]
    return [*label, *(getattr(row, name) for name in COUNTS), *minutes]
