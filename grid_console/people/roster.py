"""Who is on duty at an instant: weekly shifts in the roster's local time (Asia/Shanghai).

Shifts are few per grid, so they are read and matched here rather than in SQL: the rule for
overnight shifts (20:00-08:00 belongs to the day it starts) reads more clearly in Python and
behaves the same on both backends.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from grid_console.auth.roles import Role
from grid_console.people.models import Person, Shift

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


def on_duty(
    session: Session,
    grid_id: str,
    at: datetime,
    *,
    roles: frozenset[Role] | None = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> list[Person]:
    local = at.astimezone(ZoneInfo(timezone))
    weekday, minute = local.weekday(), local.hour * 60 + local.minute
    stmt = (
        select(Shift, Person)
        .join(Person, Person.id == Shift.person_id)
        .where(Shift.grid_id == grid_id, Person.active.is_(True))
    )
    found: dict[int, Person] = {}
    for shift, person in session.execute(stmt).tuples():
        if roles is not None and Role(person.role) not in roles:
            continue
        if covers(shift, weekday, minute):
            found[person.id] = person
    return sorted(found.values(), key=lambda p: p.username)


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
