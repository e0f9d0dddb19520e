"""Import and export of grids, people and rosters as CSV or XLSX.

A file is checked whole before anything is written: every problem is reported with its row
number (as a spreadsheet shows it: the header is row 1) and its column, and a file with any
problem changes nothing. A good file is applied in one transaction. Rows update what exists
(by grid id, by user name) and add what is new; nothing is deleted, except that a roster file
replaces the shifts of each person and grid it names (a roster is a whole week).

Headers are the English column names below, or their Chinese names.

Every problem is said in Chinese first and English second, as the console's other messages:
`第 3 行「角色」列：未知角色 'boss'…… / row 3, column role: unknown role 'boss'; ...`. The
API gives each problem's row, column (the English name) and message (`中文 / English`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as dtime
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from grid_console.auth.roles import Role, parse_role
from grid_console.people.models import Grid, Person, PersonChannel, PersonGrid, Shift, Site
from grid_console.people.roster import format_clock, parse_clock
from grid_console.people.service import CHANNEL_KINDS, ChannelSpec, set_channels, set_grids

MAX_ROWS = 20_000
MAX_FILE_BYTES = 20 * 1024 * 1024


class Table(StrEnum):
    GRIDS = "grids"
    PEOPLE = "people"
    ROSTERS = "rosters"


COLUMNS: dict[Table, tuple[str, ...]] = {
    Table.GRIDS: ("id", "name", "site", "site_name", "parent"),
    Table.PEOPLE: (
        "username",
        "name",
        "role",
        "grids",
        "phone",
        "active",
        "wecom",
        "dingtalk",
        "dingtalk_secret",
        "feishu",
        "feishu_secret",
        "email",
        "webhook",
        "webhook_secret",
    ),
    Table.ROSTERS: ("username", "grid", "weekday", "start", "end"),
}
REQUIRED: dict[Table, frozenset[str]] = {
    Table.GRIDS: frozenset({"id"}),
    Table.PEOPLE: frozenset({"username", "role"}),
    Table.ROSTERS: frozenset({"username", "grid", "weekday", "start", "end"}),
}
CHINESE: dict[str, str] = {
    "网格编号": "id",
    "编号": "id",
    "名称": "name",
    "网格名称": "name",
    "小区": "site",
    "小区名称": "site_name",
    "上级网格": "parent",
    "用户名": "username",
    "姓名": "name",
    "角色": "role",
    "网格": "grids",
    "电话": "phone",
    "启用": "active",
    "企业微信": "wecom",
    "钉钉": "dingtalk",
    "钉钉密钥": "dingtalk_secret",
    "飞书": "feishu",
    "飞书密钥": "feishu_secret",
    "邮箱": "email",
    "Webhook": "webhook",
    "Webhook密钥": "webhook_secret",
    "星期": "weekday",
    "开始": "start",
    "结束": "end",
}
_CHANNEL_COLUMNS = (
    ("wecom", None),
    ("dingtalk", "dingtalk_secret"),
    ("feishu", "feishu_secret"),
    ("email", None),
    ("webhook", "webhook_secret"),
)
_WEEKDAYS = {
    "1": 0,
    "2": 1,
    "3": 2,
    "4": 3,
    "5": 4,
    "6": 5,
    "7": 6,
    "mon": 0,
    "tue": 1,
    "wed": 2,
    "thu": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
    "周一": 0,
    "周二": 1,
    "周三": 2,
    "周四": 3,
    "周五": 4,
    "周六": 5,
    "周日": 6,
    "周天": 6,
    "星期一": 0,
    "星期二": 1,
    "星期三": 2,
    "星期四": 3,
    "星期五": 4,
    "星期六": 5,
    "星期日": 6,
}
_WEEKDAY_SETS = {
    "daily": range(7),
    "每天": range(7),
    "weekdays": range(5),
    "工作日": range(5),
    "weekend": range(5, 7),
    "周末": range(5, 7),
}
_TRUE = {"1", "true", "yes", "y", "是", "启用"}
_FALSE = {"0", "false", "no", "n", "否", "停用"}


# The Chinese name of each column in messages (the headers may be either; see CHINESE).
COLUMN_ZH: dict[str, str] = {
    "id": "网格编号", "name": "名称", "site": "小区", "site_name": "小区名称",
    "parent": "上级网格", "username": "用户名", "role": "角色", "grids": "网格", "grid": "网格",
    "phone": "电话", "active": "启用", "wecom": "企业微信", "dingtalk": "钉钉",
    "dingtalk_secret": "钉钉密钥", "feishu": "飞书", "feishu_secret": "飞书密钥",
    "email": "邮箱", "webhook": "Webhook", "webhook_secret": "Webhook密钥", "weekday": "星期",
    "start": "开始", "end": "结束", "kind": "类型", "from": "开始", "to": "结束",
    "substitute": "顶班人员", "note": "说明",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem of a file: its row as a spreadsheet shows it (1 is the header; 0 is the
    file as a whole), its column's English name ("-" for none), and the words, zh and en."""

    row: int
    column: str
    zh: str
    en: str

    @property
    def message(self) -> str:
        return f"{self.zh} / {self.en}"

    def __str__(self) -> str:
        if self.row == 0:
            return f"文件：{self.zh} / file: {self.en}"
        if self.column == "-":
            return f"第 {self.row} 行：{self.zh} / row {self.row}: {self.en}"
        column_zh = COLUMN_ZH.get(self.column, self.column)
        return (
            f"第 {self.row} 行「{column_zh}」列：{self.zh} / "
            f"row {self.row}, column {self.column}: {self.en}"
        )


class FileImportError(ValueError):
    def __init__(self, problems: list[Problem], source: str) -> None:
        lines = "\n".join(str(p) for p in problems[:50])
        rest = len(problems) - 50
        more = f"\n……另有 {rest} 处 / ... and {rest} more" if rest > 0 else ""
        n = len(problems)
        head = f"{source}：{n} 处错误，未导入任何数据 / {source}: {n} problem(s), nothing imported"
        super().__init__(f"{head}\n{lines}{more}")
        self.problems = problems


@dataclass(slots=True)
class Rows:
    """The file's data rows as dicts of stripped strings, each with its spreadsheet row number."""

    source: str
    items: list[tuple[int, dict[str, str]]] = field(default_factory=list)


def read_rows(table: Table, content: bytes, filename: str) -> Rows:
    """Parse CSV or XLSX (by the file name's suffix) and check the header."""
    return read_sheet(
        content, filename, COLUMNS[table], REQUIRED[table], lambda h: _column(table, h)
    )


def read_sheet(
    content: bytes,
    filename: str,
    columns: tuple[str, ...],
    required: frozenset[str],
    column_of: Callable[[str], str],
) -> Rows:
    """Parse CSV or XLSX and check the header against `columns` (each heading named by
    `column_of`: its English name); another file's sheets read the same way."""
    if len(content) > MAX_FILE_BYTES:
        raise FileImportError(
            [
                Problem(0, "-", f"文件超过 {MAX_FILE_BYTES} 字节",
                        f"file larger than {MAX_FILE_BYTES} bytes")
            ],
            filename,
        )  # fmt: skip
    suffix = Path(filename).suffix.lower()
    if suffix == ".csv":
        raw = list(_csv_rows(content, filename))
    elif suffix in (".xlsx", ".xlsm"):
        raw = list(_xlsx_rows(content, filename))
    else:
        raise FileImportError(
            [Problem(0, "-", "请使用 .csv 或 .xlsx 文件", "use a .csv or .xlsx file")], filename
        )
    if not raw:
        raise FileImportError(
            [Problem(1, "-", "文件是空的：没有表头行", "the file is empty: no header row")],
            filename,
        )
    header = [column_of(h) for h in raw[0]]
    names = ", ".join(columns)
    problems = [
        Problem(1, h or f"#{i + 1}", f"未知的列；可用的列：{names}",
                f"unknown column; columns are: {names}")
        for i, h in enumerate(header)
        if h and h not in columns
    ]  # fmt: skip
    problems += [
        Problem(1, c, "缺少必需的列", "required column is missing")
        for c in sorted(required - set(header))
    ]
    if len(raw) - 1 > MAX_ROWS:
        problems.append(
            Problem(MAX_ROWS + 2, "-", f"超过 {MAX_ROWS} 行", f"more than {MAX_ROWS} rows")
        )
    if problems:
        raise FileImportError(problems, filename)
    rows = Rows(filename)
    for number, values in enumerate(raw[1:], start=2):
        if not any(v.strip() for v in values):
            continue  # blank lines in a spreadsheet are not rows
        record = {
            h: _unguard(values[i].strip() if i < len(values) else "")
            for i, h in enumerate(header)
            if h
        }
        rows.items.append((number, record))
    return rows


def _column(table: Table, heading: str) -> str:
    name = CHINESE.get(heading.strip(), heading.strip().lower())
    # 网格 is a person's grids (a list) but a shift's one grid.
    return "grid" if table is Table.ROSTERS and name == "grids" else name


def _csv_rows(content: bytes, filename: str) -> Iterator[list[str]]:
    try:
        text = content.decode("utf-8-sig")  # Excel writes a BOM
    except UnicodeDecodeError as exc:
        raise FileImportError(
            [
                Problem(0, "-", f"不是 UTF-8 文本（{exc.reason}）；请另存为“CSV UTF-8”",
                        f"not UTF-8 text ({exc.reason}); save as CSV UTF-8")
            ],
            filename,
        ) from None  # fmt: skip
    yield from csv.reader(io.StringIO(text))


def _xlsx_rows(content: bytes, filename: str) -> Iterator[list[str]]:
    from openpyxl import load_workbook  # noqa: PLC0415 (only for spreadsheets)

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise FileImportError(
            [Problem(0, "-", f"无法读取的 XLSX 文件：{exc}", f"not a readable XLSX file: {exc}")],
            filename,
        ) from None
    try:
        sheet = book.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield [_cell(v) for v in values]
    finally:
        book.close()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return (
            value.strftime("%H:%M")
            if value.date() == datetime(1899, 12, 30).date()
            else value.isoformat()
        )
    if isinstance(value, dtime):
        return value.strftime("%H:%M")
    return str(value)


# --- applying -------------------------------------------------------------------------------


def apply_rows(session: Session, table: Table, rows: Rows, now: datetime) -> int:
    """Check every row, then write them all; raise FileImportError (nothing written) if bad."""
    appliers: dict[Table, Callable[[Session, Rows, datetime], int]] = {
        Table.GRIDS: _grids,
        Table.PEOPLE: _people,
        Table.ROSTERS: _rosters,
    }
    return appliers[table](session, rows, now)


def _grids(session: Session, rows: Rows, now: datetime) -> int:
    problems: list[Problem] = []
    existing = set(session.execute(select(Grid.id)).scalars())
    in_file: dict[str, int] = {}
    for number, r in rows.items:
        gid = r.get("id", "")
        _check_len(problems, number, "id", gid, 128, required=True)
        _check_len(problems, number, "name", r.get("name", ""), 256)
        _check_len(problems, number, "site", r.get("site", ""), 128)
        _check_len(problems, number, "site_name", r.get("site_name", ""), 256)
        if gid in in_file:
            first = in_file[gid]
            problems.append(Problem(number, "id", f"网格 {gid!r} 已在第 {first} 行",
                                    f"grid {gid!r} already on row {first}"))  # fmt: skip
        in_file[gid] = number
    known = existing | set(in_file)
    parents = {r["id"]: r.get("parent", "") for _, r in rows.items}
    for number, r in rows.items:
        parent = r.get("parent", "")
        if parent and parent not in known:
            problems.append(Problem(number, "parent", f"系统和文件中都没有网格 {parent!r}",
                                    f"no grid {parent!r} here or in the file"))  # fmt: skip
        elif parent and _cycle(r["id"], parents, session):
            problems.append(Problem(number, "parent", f"{parent!r} 会使网格形成环",
                                    f"{parent!r} would make a loop of grids"))  # fmt: skip
    if problems:
        raise FileImportError(problems, rows.source)
    for _, r in rows.items:
        site = r.get("site") or None
        if site and session.get(Site, site) is None:
            session.add(Site(id=site, name=r.get("site_name") or site))
        elif site and r.get("site_name"):
            found = session.get(Site, site)
            assert found is not None
            found.name = r["site_name"]
        grid = session.get(Grid, r["id"]) or Grid(id=r["id"], name=r["id"])
        grid.name = r.get("name") or grid.name
        grid.site_id = site
        grid.parent_id = None
        session.add(grid)
    session.flush()
    for _, r in rows.items:  # parents after every grid of the file exists
        stored = session.get(Grid, r["id"])
        assert stored is not None
        stored.parent_id = r.get("parent") or None
    session.flush()
    return len(rows.items)


def creates_loop(session: Session, grid_id: str, parent: str) -> bool:
    """Whether making `parent` the grid's parent would make a loop of grids."""
    return _cycle(grid_id, {grid_id: parent}, session)


def _cycle(start: str, parents: dict[str, str], session: Session) -> bool:
    stored = dict(session.execute(select(Grid.id, Grid.parent_id)).tuples().all())
    seen = {start}
    current = parents.get(start) or None
    while current:
        if current in seen:
            return True
        seen.add(current)
        current = parents.get(current) if current in parents else stored.get(current)
    return False


def _people(session: Session, rows: Rows, now: datetime) -> int:
    problems: list[Problem] = []
    grids = set(session.execute(select(Grid.id)).scalars())
    seen: dict[str, int] = {}
    parsed: list[tuple[dict[str, str], Role, list[str], bool, list[ChannelSpec]]] = []
    for number, r in rows.items:
        name = r.get("username", "")
        _check_len(problems, number, "username", name, 64, required=True)
        if name and not all(c.isalnum() or c in "._-@" for c in name):
            problems.append(Problem(number, "username", "只能包含字母、数字和 . _ - @",
                                    "only letters, digits and . _ - @"))  # fmt: skip
        if name in seen:
            problems.append(Problem(number, "username", f"{name!r} 已在第 {seen[name]} 行",
                                    f"{name!r} already on row {seen[name]}"))  # fmt: skip
        seen[name] = number
        _check_len(problems, number, "name", r.get("name", ""), 128)
        _check_len(problems, number, "phone", r.get("phone", ""), 32)
        role = Role.PATROL
        try:
            role = parse_role(r.get("role", ""))
        except ValueError:
            got, roles = r.get("role", ""), ", ".join(x.value for x in Role)
            problems.append(Problem(number, "role", f"未知角色 {got!r}；角色有：{roles}",
                                    f"unknown role {got!r}; roles are: {roles}"))  # fmt: skip
        listed = r.get("grids", "").replace("；", ";").replace(",", ";")
        wanted = [g.strip() for g in listed.split(";") if g.strip()]
        for g in wanted:
            if g not in grids:
                problems.append(Problem(number, "grids", f"没有网格 {g!r}，请先导入网格",
                                        f"no grid {g!r}; import grids first"))  # fmt: skip
        active = _bool(problems, number, r.get("active", ""))
        channels = []
        for column, secret_column in _CHANNEL_COLUMNS:
            target = r.get(column, "")
            if not target:
                continue
            message = channel_problem(column, target)
            if message:
                problems.append(Problem(number, column, *message))
            secret = r.get(secret_column, "") if secret_column else ""
            _check_len(problems, number, secret_column or column, secret, 256)
            channels.append(ChannelSpec(column, target, secret or None))
        parsed.append((r, role, wanted, active, channels))
    if problems:
        raise FileImportError(problems, rows.source)
    for r, role, wanted, active, channels in parsed:
        person = session.execute(
            select(Person).where(Person.username == r["username"])
        ).scalar_one_or_none()
        if person is None:
            person = Person(
                username=r["username"],
                display_name=r["username"],
                role=role.value,
                active=True,
                created_at=now,
            )
            session.add(person)
        person.display_name = r.get("name") or person.display_name
        person.role = role.value
        person.phone = r.get("phone") or None
        person.active = active
        session.flush()
        set_grids(session, person, wanted)
        set_channels(session, person, channels)
    return len(parsed)


def _rosters(session: Session, rows: Rows, now: datetime) -> int:
    problems: list[Problem] = []
    people = dict(session.execute(select(Person.username, Person.id)).tuples().all())
    grids = set(session.execute(select(Grid.id)).scalars())
    shifts: list[Shift] = []
    first_row: dict[tuple[int, str, int, int], int] = {}  # a shift's key: the row it is on
    for number, r in rows.items:
        name, grid, day = r.get("username", ""), r.get("grid", ""), r.get("weekday", "")
        person_id = people.get(name)
        if person_id is None:
            problems.append(Problem(number, "username", f"没有人员 {name!r}，请先导入人员",
                                    f"no person {name!r}; import people first"))  # fmt: skip
        if grid not in grids:
            problems.append(Problem(number, "grid", f"没有网格 {grid!r}，请先导入网格",
                                    f"no grid {grid!r}; import grids first"))  # fmt: skip
        days = _weekdays(day)
        if days is None:
            problems.append(Problem(
                number, "weekday",
                f"应为 1-7（周一=1）、周一..周日、每天 或 工作日，实际为 {day!r}",
                f"1-7 (Monday=1), mon..sun, daily or weekdays; got {day!r}"))  # fmt: skip
        minutes = []
        for column in ("start", "end"):
            text = r.get(column, "")
            try:
                minutes.append(parse_clock(text))
            except ValueError:
                zh = f"应为 00:00 到 24:00 之间的 HH:MM，实际为 {text!r}"
                en = f"expected HH:MM from 00:00 to 24:00, got {text!r}"
                problems.append(Problem(number, column, zh, en))
        if person_id is None or days is None or len(minutes) != 2:
            continue
        if minutes[0] >= 24 * 60:
            problems.append(Problem(number, "start", "班次须在 24:00 之前开始",
                                    "a shift starts before 24:00"))  # fmt: skip
            continue
        for d in days:
            key = (person_id, grid, d, minutes[0])
            if key in first_row:
                problems.append(Problem(
                    number, "weekday",
                    f"与第 {first_row[key]} 行重复：同一人员、网格、星期和开始时间",
                    f"the same person, grid, day and start as row {first_row[key]}"))  # fmt: skip
                break
            first_row[key] = number
        shifts += [
            Shift(
                person_id=person_id,
                grid_id=r["grid"],
                weekday=d,
                start_minute=minutes[0],
                end_minute=minutes[1],
            )
            for d in days
        ]
    if problems:
        raise FileImportError(problems, rows.source)
    for person_id, grid_id in {(s.person_id, s.grid_id) for s in shifts}:
        session.execute(delete(Shift).where(Shift.person_id == person_id, Shift.grid_id == grid_id))
    session.add_all(shifts)
    session.flush()
    return len(rows.items)


def _weekdays(text: str) -> Iterable[int] | None:
    key = text.strip().lower()
    if key in _WEEKDAY_SETS:
        return list(_WEEKDAY_SETS[key])
    if key in _WEEKDAYS:
        return [_WEEKDAYS[key]]
    return None


def _bool(problems: list[Problem], number: int, text: str) -> bool:
    key = text.strip().lower()
    if not key or key in _TRUE:
        return True
    if key in _FALSE:
        return False
    problems.append(Problem(number, "active", f"应为 是 或 否（true/false），实际为 {text!r}",
                            f"expected true/false (or '是'/'否'), got {text!r}"))  # fmt: skip
    return True


def channel_problem(kind: str, target: str) -> tuple[str, str] | None:
    """Why a channel cannot be used, in Chinese and English, or None (the notification
    senders check the same)."""
    if kind not in CHANNEL_KINDS:
        kinds = ", ".join(CHANNEL_KINDS)
        return f"类型 {kind!r} 不是 {kinds} 之一", f"kind {kind!r} is not one of {kinds}"
    if len(target) > 1024:
        return "超过 1024 个字符", "longer than 1024 characters"
    if kind == "email":
        if "@" not in target or any(c in target for c in " ,;<>\r\n"):
            return f"{target!r} 不是一个邮箱地址", f"{target!r} is not one e-mail address"
        return None
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{target!r} 不是 http(s) 网址", f"{target!r} is not an http(s) URL"
    return None


def _check_len(
    problems: list[Problem],
    number: int,
    column: str,
    value: str,
    limit: int,
    *,
    required: bool = False,
) -> None:
    if required and not value:
        problems.append(Problem(number, column, "必填", "required"))
    elif len(value) > limit:
        problems.append(Problem(number, column, f"{len(value)} 个字符，最多 {limit} 个",
                                f"{len(value)} characters; at most {limit}"))  # fmt: skip


# --- exporting ------------------------------------------------------------------------------


def export_rows(session: Session, table: Table) -> list[list[str]]:
    """The header and one row per record, in the import's own format (a round trip is exact)."""
    header = list(COLUMNS[table])
    if table is Table.GRIDS:
        sites = dict(session.execute(select(Site.id, Site.name)).tuples().all())
        body = [
            [g.id, g.name, g.site_id or "", sites.get(g.site_id or "", ""), g.parent_id or ""]
            for g in session.execute(select(Grid).order_by(Grid.id)).scalars()
        ]
    elif table is Table.PEOPLE:
        body = [
            _person_row(session, p)
            for p in session.execute(select(Person).order_by(Person.username)).scalars()
        ]
    else:
        stmt = (
            select(Shift, Person.username)
            .join(Person, Person.id == Shift.person_id)
            .order_by(Person.username, Shift.grid_id, Shift.weekday, Shift.start_minute)
        )
        body = [
            [
                name,
                s.grid_id,
                str(s.weekday + 1),
                format_clock(s.start_minute),
                format_clock(s.end_minute),
            ]
            for s, name in session.execute(stmt).tuples()
        ]
    return [header, *body]


def _person_row(session: Session, person: Person) -> list[str]:
    grids = session.execute(
        select(PersonGrid.grid_id)
        .where(PersonGrid.person_id == person.id)
        .order_by(PersonGrid.grid_id)
    ).scalars()
    channels = {
        c.kind: c
        for c in session.execute(
            select(PersonChannel)
            .where(PersonChannel.person_id == person.id, PersonChannel.active.is_(True))
            .order_by(PersonChannel.id)
        ).scalars()
    }
    values = {
        "username": person.username,
        "name": person.display_name,
        "role": person.role,
        "grids": ";".join(grids),
        "phone": person.phone or "",
        "active": "true" if person.active else "false",
    }
    for kind, secret_column in _CHANNEL_COLUMNS:
        channel = channels.get(kind)
        values[kind] = channel.target if channel else ""
        if secret_column:
            values[secret_column] = (channel.secret or "") if channel else ""
    return [values[c] for c in COLUMNS[Table.PEOPLE]]


# A cell that starts with one of these is a formula to a spreadsheet: a name such as
# "=HYPERLINK(...)" typed into the directory must not run when an admin opens the export.
_FORMULA_STARTS = ("=", "+", "-", "@")


def _guard(value: str) -> str:
    """Excel's own escape: a leading apostrophe, shown as nothing, read back by `_unguard`."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _unguard(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_STARTS) else value


def to_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([[_guard(c) for c in r] for r in rows])
    return out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read it as UTF-8


def to_xlsx(rows: list[list[str]], title: str) -> bytes:
    from openpyxl import Workbook  # noqa: PLC0415

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        # Every cell as text: "08:00" and "1" must come back exactly as they went out, and
        # "=..." stays a string (openpyxl would write it as a formula).
        sheet.append(row)
        for cell in sheet[sheet.max_row]:
            cell.data_type = "s"
    for cell in sheet[1]:
        cell.number_format = "@"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def render(rows: list[list[str]], filename: str, title: str) -> bytes:
    suffix = Path(filename).suffix.lower()
    if suffix == ".csv":
        return to_csv(rows)
    if suffix == ".xlsx":
        return to_xlsx(rows, title)
    raise ValueError(f"{filename}：只能导出为 .csv 或 .xlsx / {filename}: export to .csv or .xlsx")
