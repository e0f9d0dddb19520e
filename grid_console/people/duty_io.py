"""Leave and extra duty as a CSV or XLSX file: a holiday roster (节假日排班) planned in a
spreadsheet, imported at once, and the changes now and to come exported in the same format.

Rows are checked like the directory's files (io.py): every problem named by row and column in
Chinese and English, and a file with any problem changes nothing. Each row is then recorded as
`duty.add_change` records one (the same checks, the same audit row), within the importer's
scope. A row equal to a change already in force or planned (kind, person, substitute, grid,
from, to) is not recorded twice, so importing the same file again adds nothing.

Times are read in the console's time zone (`2026-02-16 08:00`, or a spreadsheet's date-time
cell; a date alone is its midnight), and exported the same way.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from grid_console.people.duty import (
    DutyChangeError,
    DutyChangeSpec,
    Scope,
    add_change,
    list_changes,
)
from grid_console.people.io import CHINESE, FileImportError, Problem, Rows, read_sheet
from grid_console.people.models import DutyChange, Person
from grid_console.people.roster import DutyKind
from grid_console.stats.period import PeriodError, parse_moment

TITLE = "duty"
COLUMNS = ("kind", "username", "from", "to", "substitute", "grid", "note")
REQUIRED = frozenset({"kind", "username", "from", "to"})
_HEADINGS = {
    **CHINESE,
    "类型": "kind",
    "人员": "username",
    "开始": "from",
    "开始时间": "from",
    "结束": "to",
    "结束时间": "to",
    "顶班": "substitute",
    "顶班人员": "substitute",
    "网格": "grid",
    "说明": "note",
    "备注": "note",
}
_KINDS = {
    "leave": DutyKind.LEAVE,
    "请假": DutyKind.LEAVE,
    "休假": DutyKind.LEAVE,
    "extra": DutyKind.EXTRA,
    "加班": DutyKind.EXTRA,
    "值班": DutyKind.EXTRA,
}


def read_duty(content: bytes, filename: str) -> Rows:
    return read_sheet(content, filename, COLUMNS, REQUIRED, _column)


def import_duty(
    session: Session, rows: Rows, *, zone: tzinfo, actor: str, now: datetime, scope: Scope
) -> int:
    """Record every row, or (any problem) none; return how many were new."""
    problems: list[Problem] = []
    specs: list[tuple[int, DutyChangeSpec]] = []
    for number, r in rows.items:
        spec = _spec(number, r, zone, problems)
        if spec is not None:
            specs.append((number, spec))
    # The rows that parsed are recorded even when others did not, so that one answer lists
    # every problem; the caller's transaction rolls them back with the rest.
    recorded = 0
    for number, spec in specs:
        if _already(session, spec):
            continue
        try:
            add_change(session, spec, actor=actor, now=now, scope=scope)
        except DutyChangeError as exc:
            problems.append(Problem(number, exc.field, exc.zh, exc.en))
            continue
        recorded += 1
    if problems:
        raise FileImportError(sorted(problems, key=lambda p: p.row), rows.source)
    return recorded


def export_duty(session: Session, *, zone: tzinfo, now: datetime, scope: Scope) -> list[list[str]]:
    """The header and the changes in force now or to come, in the import's format."""
    end = datetime(9999, 1, 1, tzinfo=now.tzinfo)
    names = dict(session.execute(select(Person.id, Person.username)).tuples().all())
    body = [
        [
            c.kind,
            names.get(c.person_id, ""),
            _clock(c.starts_at, zone),
            _clock(c.ends_at, zone),
            names.get(c.substitute_id, "") if c.substitute_id else "",
            c.grid_id or "",
            c.note or "",
        ]
        for c in list_changes(session, now, end, scope=scope)
    ]
    return [list(COLUMNS), *body]


def _column(heading: str) -> str:
    text = heading.strip()
    return _HEADINGS.get(text, text.lower())


def _spec(
    number: int, r: dict[str, str], zone: tzinfo, problems: list[Problem]
) -> DutyChangeSpec | None:
    kind = _KINDS.get(r.get("kind", "").strip().lower())
    if kind is None:
        got = r.get("kind", "")
        zh = f"应为 请假（leave）或 加班（extra），实际为 {got!r}"
        problems.append(Problem(number, "kind", zh, f"leave or extra; got {got!r}"))
    if not r.get("username"):
        problems.append(Problem(number, "username", "必填", "required"))
    moments: dict[str, datetime] = {}
    for column in ("from", "to"):
        text = r.get(column, "")
        try:
            moments[column] = parse_moment(text, zone, column)
        except PeriodError:
            zh = f"应为 2026-02-16 08:00 这样的时间，实际为 {text!r}"
            en = f"a time such as 2026-02-16 08:00; got {text!r}"
            problems.append(Problem(number, column, zh, en))
    if kind is None or len(moments) != 2 or not r.get("username"):
        return None
    return DutyChangeSpec(
        kind=kind.value,
        username=r["username"],
        starts_at=moments["from"],
        ends_at=moments["to"],
        note=r.get("note") or None,
        substitute=r.get("substitute") or None,
        grid=r.get("grid") or None,
    )


def _already(session: Session, spec: DutyChangeSpec) -> bool:
    """Whether the same change is recorded and not withdrawn (a file imported twice)."""
    person = session.execute(
        select(Person.id).where(Person.username == spec.username)
    ).scalar_one_or_none()
    substitute = (
        session.execute(
            select(Person.id).where(Person.username == spec.substitute)
        ).scalar_one_or_none()
        if spec.substitute
        else None
    )
    if person is None or (spec.substitute and substitute is None):
        return False  # add_change names what is missing
    found = session.execute(
        select(DutyChange.id).where(
            DutyChange.kind == spec.kind,
            DutyChange.person_id == person,
            DutyChange.substitute_id.is_(None)
            if substitute is None
            else DutyChange.substitute_id == substitute,
            DutyChange.grid_id.is_(None) if spec.grid is None else DutyChange.grid_id == spec.grid,
            DutyChange.starts_at == spec.starts_at,
            DutyChange.ends_at == spec.ends_at,
            DutyChange.cancelled_at.is_(None),
        )
    ).first()
    return found is not None


def _clock(at: datetime, zone: tzinfo) -> str:
    """Wall time in the zone: `2027-02-16 08:00`, with seconds only when it has any (a leave
    ended early ends at a second), so that importing an export finds every change again."""
    local = at.astimezone(zone).replace(tzinfo=None)
    whole = local.second == 0 and local.microsecond == 0
    return local.isoformat(sep=" ", timespec="minutes" if whole else "auto")
