"""Who is on duty at an instant: weekly shifts in the roster's local time (Asia/Shanghai),
changed by the one-off duty changes in force then (people/duty.py).

Shifts are few per grid, so they are read and matched here rather than in SQL: the rule for
overnight shifts (20:00-08:00 belongs to the day it starts) reads more clearly in Python and
behaves the same on both backends. The changes in force at one instant are fewer still.

The rules, in order: someone on leave is on duty nowhere, even as a substitute or on extra
duty; a leave's substitute covers the weekly shifts of the person on leave, in their grids and
hours; extra duty puts a person on duty in one grid. Inactive people are never on duty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from grid_console.auth.roles import Role
from grid_console.people.models import DutyChange, Person, Shift
from grid_console.people.service import ancestry, nearest, people_of_grid

DEFAULT_TIMEZONE = "Asia/Shanghai"
MINUTES_PER_DAY = 24 * 60


def covers(shift: Shift, weekday: int, minute: int) -> bool:
    """Whether `shift` covers local `weekday` (0 = Monday) at `minute` after midnight."""
    start, end = shift.start_minute, shift.end_minute
    if start < end:
        return shift.weekday == weekday and start <= minute < end
    # Overnight: from start on its own day to end on the next day.
    if shift.weekday == weekday and minute >= start:
        return True
    return (shift.weekday + 1) % 7 == weekday and minute < end


class DutyKind(StrEnum):
    LEAVE = "leave"  # 请假: on duty nowhere; a substitute, if named, covers the weekly shifts
    EXTRA = "extra"  # 加班: on duty in one grid


class Why(StrEnum):
    SHIFT = "shift"  # the weekly roster
    STANDS_IN = "stands_in"  # a leave's substitute
    EXTRA = "extra"


@dataclass(frozen=True, slots=True)
class OnDuty:
    person: Person
    why: Why
    stands_in_for: str | None = None  # the username on leave, for `stands_in`


@dataclass(frozen=True, slots=True)
class Duty:
    """A grid at an instant: who is on duty and why, and who the roster has there but is away."""

    on: list[OnDuty]
    on_leave: list[Person]


def duty(session: Session, grid_id: str, at: datetime, *, timezone: str = DEFAULT_TIMEZONE) -> Duty:
    rostered = _rostered(session, grid_id, at, timezone)
    leaves = _leaves(session, at)
    extras = session.execute(
        select(DutyChange)
        .where(
            DutyChange.kind == DutyKind.EXTRA.value,
            DutyChange.grid_id == grid_id,
            *_in_force(at),
        )
        .order_by(DutyChange.id)
    ).scalars()
    on: dict[int, OnDuty] = {
        pid: OnDuty(person, Why.SHIFT) for pid, person in rostered.items() if pid not in leaves
    }

    def add(person_id: int | None, why: Why, stands_in_for: str | None = None) -> None:
        if person_id is None or person_id in leaves or person_id in on:
            return
        person = session.get(Person, person_id)
        if person is not None and person.active:
            on[person_id] = OnDuty(person, why, stands_in_for)

    away = sorted((p for pid, p in rostered.items() if pid in leaves), key=lambda p: p.username)
    for person in away:
        add(leaves[person.id].substitute_id, Why.STANDS_IN, person.username)
    for change in extras:
        add(change.person_id, Why.EXTRA)
    return Duty(on=sorted(on.values(), key=lambda d: d.person.username), on_leave=away)


def on_duty(
    session: Session,
    grid_id: str,
    at: datetime,
    *,
    roles: frozenset[Role] | None = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> list[Person]:
    found = duty(session, grid_id, at, timezone=timezone).on
    return [d.person for d in found if roles is None or Role(d.person.role) in roles]


def on_leave(session: Session, at: datetime) -> set[str]:
    """The usernames of everyone on leave at the instant."""
    ids = list(_leaves(session, at))
    if not ids:
        return set()
    return set(session.execute(select(Person.username).where(Person.id.in_(ids))).scalars())


def nearest_present(
    session: Session, grid_id: str | None, role: Role, at: datetime
) -> list[Person]:
    """The people with `role` (a grid head, a leader) nearest up the grid tree who are not on
    leave at `at`, or who stand in for them. If everyone up the tree is away, the nearest ones
    all the same: someone must answer for the grid, and a leave's end brings them back."""
    if grid_id is None:
        return []
    away = _leaves(session, at)
    for gid in ancestry(session, grid_id):
        found: dict[int, Person] = {}
        for person in people_of_grid(session, gid, [role]):
            leave = away.get(person.id)
            stand_in = None
            if leave is None:
                stand_in = person
            elif leave.substitute_id is not None and leave.substitute_id not in away:
                stand_in = session.get(Person, leave.substitute_id)
            if stand_in is not None and stand_in.active:
                found[stand_in.id] = stand_in
        if found:
            return sorted(found.values(), key=lambda p: p.username)
    return nearest(session, grid_id, role)


def _rostered(session: Session, grid_id: str, at: datetime, timezone: str) -> dict[int, Person]:
    """The active people whose weekly shift in the grid covers the instant."""
    local = at.astimezone(ZoneInfo(timezone))
    weekday, minute = local.weekday(), local.hour * 60 + local.minute
    stmt = (
        select(Shift, Person)
        .join(Person, Person.id == Shift.person_id)
        .where(Shift.grid_id == grid_id, Person.active.is_(True))
    )
    found: dict[int, Person] = {}
    for shift, person in session.execute(stmt).tuples():
        if covers(shift, weekday, minute):
            found[person.id] = person
    return found


def _leaves(session: Session, at: datetime) -> dict[int, DutyChange]:
    """The leave in force at the instant, by person id. Of overlapping leaves, the first
    recorded that names a substitute: a stand-in arranged is not undone by a later note."""
    rows = session.execute(
        select(DutyChange)
        .where(DutyChange.kind == DutyKind.LEAVE.value, *_in_force(at))
        .order_by(DutyChange.id)
    ).scalars()
    found: dict[int, DutyChange] = {}
    for change in rows:
        first = found.get(change.person_id)
        if first is None or (first.substitute_id is None and change.substitute_id is not None):
            found[change.person_id] = change
    return found


def _in_force(at: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        DutyChange.starts_at <= at,
        DutyChange.ends_at > at,
        DutyChange.cancelled_at.is_(None),
    )


def parse_clock(text: str) -> int:
    """`HH:MM` (24:00 allowed as an end) as minutes after midnight."""
    hours, sep, minutes = text.strip().partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(f"expected HH:MM, got {text!r}")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > MINUTES_PER_DAY:
        raise ValueError(f"not a time of day: {text!r}")
    return value


def format_clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
