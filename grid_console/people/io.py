"""Import and export of grids, people and rosters as CSV or XLSX.

A file is checked whole before anything is written: every problem is reported with its row
number (as a spreadsheet shows it: the header is row 1) and its column, and a file with any
problem changes nothing. A good file is applied in one transaction. Rows update what exists
(by grid id, by user name) and add what is new; nothing is deleted, except that a roster file
replaces the shifts of each person and grid it names (a roster is a whole week).

Headers are the English column names below, or their Chinese names.
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


@dataclass(frozen=True, slots=True)
class Problem:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}, column {self.column}"
        return f"第 {self.row} 行 {self.column} 列：{self.message} / {where}: {self.message}"


class FileImportError(ValueError):
    def __init__(self, problems: list[Problem], source: str) -> None:
        lines = "\n".join(str(p) for p in problems[:50])
        more = f"\n... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{source}: {len(problems)} problem(s), nothing imported\n{lines}{more}")
        self.problems = problems


@dataclass(slots=True)
class Rows:
    """The file's data rows as dicts of stripped strings, each with its spreadsheet row number."""

    source: str
    items: list[tuple[int, dict[str, str]]] = field(default_factory=list)


def read_rows(table: Table, content: bytes, filename: str) -> Rows:
    """Parse CSV or XLSX (by the file name's suffix) and check the header."""
    if len(content) > MAX_FILE_BYTES:
        raise FileImportError(
            [Problem(0, "-", f"file larger than {MAX_FILE_BYTES} bytes")], filename
        )
    suffix = Path(filename).suffix.lower()
    if suffix == ".csv":
        raw = list(_csv_rows(content, filename))
    elif suffix in (".xlsx", ".xlsm"):
        raw = list(_xlsx_rows(content, filename))
    else:
        raise FileImportError([Problem(0, "-", "use a .csv or .xlsx file")], filename)
    if not raw:
        raise FileImportError([Problem(1, "-", "the file is empty: no header row")], filename)
    header = [_column(table, h) for h in raw[0]]
    problems = [
        Problem(1, h or f"#{i + 1}", "unknown column; columns are: " + ", ".join(COLUMNS[table]))
        for i, h in enumerate(header)
        if h and h not in COLUMNS[table]
    ]
    problems += [
        Problem(1, c, "required column is missing") for c in sorted(REQUIRED[table] - set(header))
    ]
    if len(raw) - 1 > MAX_ROWS:
        problems.append(Problem(MAX_ROWS + 2, "-", f"more than {MAX_ROWS} rows"))
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
            [Problem(0, "-", f"not UTF-8 text ({exc.reason}); save as CSV UTF-8")], filename
        ) from None
    yield from csv.reader(io.StringIO(text))


def _xlsx_rows(content: bytes, filename: str) -> Iterator[list[str]]:
    from openpyxl import load_workbook  # noqa: PLC0415 (only for spreadsheets)

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise FileImportError(
            [Problem(0, "-", f"not a readable XLSX file: {exc}")], filename
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
            problems.append(Problem(number, "id", f"grid {gid!r} already on row {in_file[gid]}"))
        in_file[gid] = number
    known = existing | set(in_file)
    parents = {r["id"]: r.get("parent", "") for _, r in rows.items}
    for number, r in rows.items:
        parent = r.get("parent", "")
        if parent and parent not in known:
            problems.append(Problem(number, "parent", f"no grid {parent!r} here or in the file"))
        elif parent and _cycle(r["id"], parents, session):
            problems.append(Problem(number, "parent", f"{parent!r} would make a loop of grids"))
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
            problems.append(Problem(number, "username", "only letters, digits and . _ - @"))
        if name in seen:
            problems.append(Problem(number, "username", f"{name!r} already on row {seen[name]}"))
        seen[name] = number
        _check_len(problems, number, "name", r.get("name", ""), 128)
        _check_len(problems, number, "phone", r.get("phone", ""), 32)
        role = Role.PATROL
        try:
            role = parse_role(r.get("role", ""))
        except ValueError as exc:
            problems.append(Problem(number, "role", str(exc)))
        listed = r.get("grids", "").replace("；", ";").replace(",", ";")
        wanted = [g.strip() for g in listed.split(";") if g.strip()]
        for g in wanted:
            if g not in grids:
                problems.append(Problem(number, "grids", f"no grid {g!r}; import grids first"))
        active = _bool(problems, number, r.get("active", ""))
        channels = []
        for column, secret_column in _CHANNEL_COLUMNS:
            target = r.get(column, "")
            if not target:
                continue
            message = channel_problem(column, target)
            if message:
                problems.append(Problem(number, column, message))
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
    for number, r in rows.items:
        person_id = people.get(r.get("username", ""))
        if person_id is None:
            problems.append(Problem(number, "username", f"no person {r.get('username')!r}"))
        if r.get("grid", "") not in grids:
            problems.append(Problem(number, "grid", f"no grid {r.get('grid')!r}"))
        days = _weekdays(r.get("weekday", ""))
        if days is None:
            problems.append(
                Problem(
                    number,
                    "weekday",
                    "1-7 (Monday=1), mon..sun, 周一..周日, "
                    f"daily/每天 or weekdays/工作日; got {r.get('weekday')!r}",
                )
            )
        minutes = []
        for column in ("start", "end"):
            try:
                minutes.append(parse_clock(r.get(column, "")))
            except ValueError as exc:
                problems.append(Problem(number, column, str(exc)))
        if person_id is None or days is None or len(minutes) != 2:
            continue
        if minutes[0] >= 24 * 60:
            problems.append(Problem(number, "start", "a shift starts before 24:00"))
            continue
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
    keys = [(s.person_id, s.grid_id, s.weekday, s.start_minute) for s in shifts]
    if len(set(keys)) != len(keys):
        problems.append(Problem(0, "weekday", "the same person, grid, day and start twice"))
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
    problems.append(Problem(number, "active", f"expected true/false (是/否), got {text!r}"))
    return True


def channel_problem(kind: str, target: str) -> str | None:
    """Why a channel cannot be used, or None (the notification senders check the same)."""
    if kind not in CHANNEL_KINDS:
        return f"kind {kind!r} is not one of {', '.join(CHANNEL_KINDS)}"
    if len(target) > 1024:
        return "longer than 1024 characters"
    if kind == "email":
        if "@" not in target or any(c in target for c in " ,;<>\r\n"):
            return f"{target!r} is not one e-mail address"
        return None
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{target!r} is not an http(s) URL"
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
        problems.append(Problem(number, column, "required"))
    elif len(value) > limit:
        problems.append(Problem(number, column, f"{len(value)} characters; at most {limit}"))


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


def render(rows: list[list[str]], filename: str, table: Table) -> bytes:
    suffix = Path(filename).suffix.lower()
    if suffix == ".csv":
        return to_csv(rows)
    if suffix == ".xlsx":
        return to_xlsx(rows, table.value)
    raise ValueError(f"{filename}: export to .csv or .xlsx")
