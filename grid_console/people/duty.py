"""One-off changes to the weekly roster: leave (with or without a substitute) and extra duty.

The weekly shifts say who is usually on duty; these say who is not, or who also is, between
two instants (roster.py applies them). A change is never deleted: cancelling one keeps the row
with who cancelled it, and both are in the admin audit. Functions take the caller's session so
that the change and its audit row commit together.

A `scope` is the grids a grid head answers for (with their micro-grids): a head records and
sees the changes of the people in those grids only, and extra duty in those grids only. None is
every grid (the monitoring centre). Outside the scope, a person, a grid or a change is answered
as if absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from grid_console.auth.audit import record
from grid_console.auth.roles import DISPATCHABLE, ROLE_NAMES_ZH, Role
from grid_console.people.models import DutyChange, Grid, Person, PersonGrid, Shift
from grid_console.people.roster import DutyKind, duty, format_clock
from grid_console.people.service import FieldError, find_person

# A year covers any leave a community grants; a longer span is a typo in the year.
MAX_SPAN = timedelta(days=366)
NOTE_MAX = 256

Scope = frozenset[str] | None


class DutyChangeError(FieldError):
    """A duty change that cannot be made."""


class DutyChangeGoneError(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class DutyChangeSpec:
    kind: str
    username: str
    starts_at: datetime
    ends_at: datetime
    note: str | None = None
    substitute: str | None = None  # leave only
    grid: str | None = None  # extra only


def add_change(
    session: Session, spec: DutyChangeSpec, *, actor: str, now: datetime, scope: Scope = None
) -> DutyChange:
    kind = _kind(spec.kind)
    person = _person(session, "username", spec.username, scope)
    _check_span(spec.starts_at, spec.ends_at, now)
    substitute: Person | None = None
    grid: Grid | None = None
    if kind is DutyKind.LEAVE:
        substitute = _substitute(session, spec, person, scope)
    else:
        grid = _extra_grid(session, spec, scope)
        person = _goer(session, "username", spec.username, scope)
    change = DutyChange(
        kind=kind.value,
        person_id=person.id,
        substitute_id=substitute.id if substitute else None,
        grid_id=grid.id if grid else None,
        starts_at=spec.starts_at,
        ends_at=spec.ends_at,
        note=(spec.note or "").strip()[:NOTE_MAX] or None,
        created_at=now,
        created_by=actor,
    )
    session.add(change)
    session.flush()
    record(
        session,
        actor=actor,
        action="add_duty_change",
        detail=change_json(session, change),
        now=now,
    )
    return change


def cancel_change(
    session: Session, change_id: int, *, actor: str, now: datetime, scope: Scope = None
) -> DutyChange:
    """Withdraw a change still to come, or end one in force now (a patrol back early): what
    was in force stays on record, so who was on duty when a case was dispatched can still be
    told. One already over is history and is refused."""
    change = session.get(DutyChange, change_id, with_for_update=True)
    if change is None or not _owned(session, change, scope):
        raise DutyChangeGoneError(f"没有这项排班调整 / no such duty change: {change_id}")
    if change.cancelled_at is not None:
        raise DutyChangeError("id", "已经撤销", "already withdrawn")
    if change.ends_at <= now:
        raise DutyChangeError("id", "已经结束", "already over")
    detail: dict[str, object] = {"id": change.id, "username": _username(session, change.person_id)}
    if change.starts_at <= now:
        detail["planned_to"] = change.ends_at.isoformat()
        change.ends_at = now
        action = "end_duty_change"
    else:
        change.cancelled_at, change.cancelled_by = now, actor
        action = "cancel_duty_change"
    session.flush()
    record(session, actor=actor, action=action, detail=detail, now=now)
    return change


def list_changes(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    cancelled: bool = False,
    scope: Scope = None,
) -> list[DutyChange]:
    """The changes in force at some instant of [start, end), earliest first."""
    stmt = select(DutyChange).where(DutyChange.starts_at < end, DutyChange.ends_at > start)
    if not cancelled:
        stmt = stmt.where(DutyChange.cancelled_at.is_(None))
    if scope is not None:
        members = select(PersonGrid.person_id).where(PersonGrid.grid_id.in_(scope))
        stmt = stmt.where(
            or_(
                DutyChange.person_id.in_(members),
                DutyChange.substitute_id.in_(members),
                DutyChange.grid_id.in_(scope),
            )
        )
    return list(session.execute(stmt.order_by(DutyChange.starts_at, DutyChange.id)).scalars())


def change_json(session: Session, change: DutyChange) -> dict[str, object]:
    return {
        "id": change.id,
        "kind": change.kind,
        "username": _username(session, change.person_id),
        "display_name": _display_name(session, change.person_id),
        "substitute": _username(session, change.substitute_id),
        "substitute_name": _display_name(session, change.substitute_id),
        "grid": change.grid_id,
        "from": change.starts_at.isoformat(),
        "to": change.ends_at.isoformat(),
        "note": change.note,
        "created_at": change.created_at.isoformat(),
        "created_by": change.created_by,
        "cancelled_at": change.cancelled_at.isoformat() if change.cancelled_at else None,
        "cancelled_by": change.cancelled_by,
    }


def duty_of(
    session: Session, person: Person, now: datetime, *, timezone: str, ahead: timedelta
) -> dict[str, object]:
    """One person's duty, for their own phone: where they are on duty now and why, their leave
    now, their weekly shifts, and the changes that concern them (theirs, or where they stand
    in) from now until `ahead`."""
    changes = [
        c
        for c in list_changes(session, now, now + ahead)
        if person.id in (c.person_id, c.substitute_id)
    ]
    in_force = [c for c in changes if c.starts_at <= now]
    leave = next(
        (c for c in in_force if c.person_id == person.id and c.kind == DutyKind.LEAVE.value), None
    )
    return {
        "on_duty": [
            {"grid": grid_id, "why": entry.why.value, "stands_in_for": entry.stands_in_for}
            for grid_id in _grids_to_ask(session, person, in_force)
            for entry in duty(session, grid_id, now, timezone=timezone).on
            if entry.person.id == person.id
        ],
        "on_leave": change_json(session, leave) if leave else None,
        "shifts": [_shift_json(s) for s in _shifts(session, [person.id])],
        "changes": [change_json(session, c) for c in changes],
    }


def _grids_to_ask(session: Session, person: Person, in_force: list[DutyChange]) -> list[str]:
    """Where the person could be on duty now: their grids, their extra duty's, and the grids
    of whoever they stand in for."""
    grids = set(
        session.execute(select(PersonGrid.grid_id).where(PersonGrid.person_id == person.id))
        .scalars()
        .all()
    )
    grids |= {c.grid_id for c in in_force if c.grid_id is not None}
    covered = [c.person_id for c in in_force if c.substitute_id == person.id]
    grids |= {s.grid_id for s in _shifts(session, covered)}
    return sorted(grids)


def _shifts(session: Session, person_ids: list[int]) -> list[Shift]:
    stmt = (
        select(Shift)
        .where(Shift.person_id.in_(person_ids))
        .order_by(Shift.weekday, Shift.start_minute, Shift.grid_id)
    )
    return list(session.execute(stmt).scalars())


def _shift_json(shift: Shift) -> dict[str, object]:
    return {
        "grid": shift.grid_id,
        "weekday": shift.weekday + 1,  # 1 is Monday, as the roster files say
        "start": format_clock(shift.start_minute),
        "end": format_clock(shift.end_minute),
    }


def _kind(value: str) -> DutyKind:
    try:
        return DutyKind(value)
    except ValueError:
        raise DutyChangeError(
            "kind", "只能是 leave（请假）或 extra（加班）", "must be leave or extra"
        ) from None


def _substitute(
    session: Session, spec: DutyChangeSpec, person: Person, scope: Scope
) -> Person | None:
    """A leave's stand-in, if named: someone else who can be on duty."""
    if spec.grid:
        raise DutyChangeError("grid", "请假不填网格", "a leave takes no grid")
    if not spec.substitute:
        return None
    substitute = _goer(session, "substitute", spec.substitute, scope)
    if substitute.id == person.id:
        raise DutyChangeError("substitute", "不能由本人顶班", "cannot stand in for oneself")
    return substitute


def _extra_grid(session: Session, spec: DutyChangeSpec, scope: Scope) -> Grid:
    """Extra duty's grid: given, existing and within the scope."""
    if spec.substitute:
        raise DutyChangeError("substitute", "加班不填顶班人员", "extra duty takes no substitute")
    if not spec.grid:
        raise DutyChangeError("grid", "加班须填写网格", "extra duty needs a grid")
    grid = session.get(Grid, spec.grid)
    if grid is None or (scope is not None and grid.id not in scope):
        raise DutyChangeError("grid", f"没有这个网格 {spec.grid!r}", f"no such grid {spec.grid!r}")
    return grid


def _person(session: Session, field: str, username: str, scope: Scope) -> Person:
    person = find_person(session, username)
    if person is None or not _member(session, person.id, scope):
        raise DutyChangeError(field, f"没有这个人员 {username!r}", f"no such person {username!r}")
    return person


def _member(session: Session, person_id: int, scope: Scope) -> bool:
    if scope is None:
        return True
    found = session.execute(
        select(PersonGrid.id)
        .where(PersonGrid.person_id == person_id, PersonGrid.grid_id.in_(scope))
        .limit(1)
    ).first()
    return found is not None


def _owned(session: Session, change: DutyChange, scope: Scope) -> bool:
    """Whether the scope may withdraw the change: its person's or its grid's. (A head sees,
    but does not withdraw, another grid's leave that their patrol stands in for.)"""
    if scope is None or (change.grid_id is not None and change.grid_id in scope):
        return True
    return _member(session, change.person_id, scope)


def _goer(session: Session, field: str, username: str, scope: Scope) -> Person:
    """Someone who can be on duty: active, and a role that goes out."""
    person = _person(session, field, username, scope)
    if not person.active:
        raise DutyChangeError(field, f"{username} 已停用", f"{username} is inactive")
    if Role(person.role) not in DISPATCHABLE:
        names_zh = "、".join(ROLE_NAMES_ZH[r] for r in sorted(DISPATCHABLE))
        names_en = ", ".join(sorted(DISPATCHABLE))
        raise DutyChangeError(
            field,
            f"只有{names_zh}可以值班",
            f"only these roles go on duty: {names_en}",
        )
    return person


def _check_span(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    if ends_at <= starts_at:
        raise DutyChangeError("to", "结束时间必须晚于开始时间", "must be after from")
    if ends_at - starts_at > MAX_SPAN:
        raise DutyChangeError("to", "最长一年", f"at most {MAX_SPAN.days} days after from")
    if ends_at <= now:
        raise DutyChangeError("to", "已经过去了", "is already past")


def _username(session: Session, person_id: int | None) -> str | None:
    person = session.get(Person, person_id) if person_id is not None else None
    return person.username if person else None


def _display_name(session: Session, person_id: int | None) -> str | None:
    person = session.get(Person, person_id) if person_id is not None else None
    return person.display_name if person else None
