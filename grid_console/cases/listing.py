"""The case list: every filter in SQL, newest first, one page at a time.

Filtering in SQL, not on the page or after the limit: a filter applied to "the newest N"
silently hides an older case that matches (an inbox asked for last month's cases saw only
those among the 500 newest). The colour is worked out at read time (cases/colour.py), so the
colour filter is the same rule written as SQL over the state and the stored deadlines.

Paging is by keyset: `before` is the id of the last case of the previous page, and the next
page holds the cases with smaller ids. Unlike an offset, a case arriving while someone pages
does not shift the pages under them (nothing is shown twice or skipped).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, not_, or_, select

from grid_console.cases.machine import (
    AWAITING_HANDLING,
    AWAITING_RESPONSE,
    STATE_COLOURS,
    TERMINAL,
    Colour,
)
from grid_console.cases.models import Case

MAX_LIST = 1000


@dataclass(frozen=True, slots=True)
class CaseFilter:
    state: str | None = None
    open_only: bool = False  # not closed and not a false alarm (the patrol's phone)
    grid: str | None = None
    kind: str | None = None
    colour: str | None = None  # red, yellow, green as shown at `now`
    opened_from: datetime | None = None  # opened_at >= this
    opened_to: datetime | None = None  # opened_at < this
    before: int | None = None  # keyset: only cases with a smaller id (the next page)
    limit: int = 200
    visible_grids: frozenset[str] | None = None  # None: every grid


def overdue_sql(now: datetime) -> ColumnElement[bool]:
    """cases/colour.py's is_overdue, as SQL: a deadline has passed while the case waits on it."""
    return or_(
        and_(Case.state.in_([s.value for s in AWAITING_RESPONSE]), Case.response_due_at <= now),
        and_(Case.state.in_([s.value for s in AWAITING_HANDLING]), Case.handle_due_at <= now),
    )


def colour_sql(colour: Colour, now: datetime) -> ColumnElement[bool]:
    """The cases shown in `colour` at `now`: red if overdue, else their state's colour."""
    states = [s.value for s, c in STATE_COLOURS.items() if c is colour]
    if colour is Colour.RED:
        return or_(Case.state.in_(states), overdue_sql(now))
    return and_(Case.state.in_(states), not_(overdue_sql(now)))


def list_statement(flt: CaseFilter, now: datetime) -> Select[Any]:
    """One page of cases, newest (highest id) first; the caller asks for limit + 1 to know
    whether there is a next page."""
    stmt = select(Case).order_by(Case.id.desc()).limit(min(max(flt.limit, 1), MAX_LIST) + 1)
    if flt.state:
        stmt = stmt.where(Case.state == flt.state)
    if flt.open_only:
        stmt = stmt.where(Case.state.not_in([s.value for s in TERMINAL]))
    if flt.grid:
        stmt = stmt.where(Case.grid == flt.grid)
    if flt.kind:
        stmt = stmt.where(Case.kind == flt.kind)
    if flt.colour:
        stmt = stmt.where(colour_sql(Colour(flt.colour), now))
    if flt.opened_from is not None:
        stmt = stmt.where(Case.opened_at >= flt.opened_from)
    if flt.opened_to is not None:
        stmt = stmt.where(Case.opened_at < flt.opened_to)
    if flt.before is not None:
        stmt = stmt.where(Case.id < flt.before)
    if flt.visible_grids is not None:
        stmt = stmt.where(Case.grid.in_(sorted(flt.visible_grids)))
    return stmt
