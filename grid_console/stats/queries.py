"""The figures, counted in SQL over `cases` and `case_events` (the audit trail).

Every query is plain SQLAlchemy Core that SQLite and PostgreSQL both run. Two things are left
to Python on purpose: percentiles (SQLite has no percentile_cont, and an aggregate written
twice would be two definitions to keep equal) and the subtraction of two times (date
arithmetic is spelled differently on each backend). SQL selects the few pairs of times they
need, one per case, already filtered to the period.

History does not change: a reopen or a return overwrites the case's deadlines, so the figures
never judge the past by the case's current ones. The handle row records the deadline it met or
missed, and a reopen or return row records the deadlines it replaced (`replaced_due`): for a
case whose deadlines moved after as_of, the first such row says which were in force at as_of.

Definitions, for the period P = [from, to) and as_of = min(to, now) (docs/console.md):
- reported: cases opened in P;
- registered, closed, false_alarms: cases with a `register`, `close` or `false_alarm` audit
  row in P (a case counts once per figure, however many such rows it has);
- handled_on_time / handled_late: cases whose first `handle` row of a cycle (since the case
  opened or was last reopened) is in P, at or before / after the handling deadline that row
  recorded (the one in force then; `cases.handle_due_at` only for rows older than that record);
- still_overdue: cases opened before as_of whose state at as_of (the last audit row before
  it) waits for a response past the response deadline, or for handling past the handling
  deadline, in force at as_of, whenever they were opened: the backlog does not drop out of
  next week's report;
- reworked (返工): cases with a `return` row from `handled` or a `reopen` row from `closed` in P;
- time to accept / to close: from `opened_at` to the case's first `accept` / `close` row, for
  cases whose first such row is in P.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    and_,
    case,
    distinct,
    exists,
    func,
    or_,
    select,
    union,
)
from sqlalchemy.orm import Session, aliased

from grid_console.cases.machine import AWAITING_HANDLING, AWAITING_RESPONSE, TERMINAL, State
from grid_console.cases.models import Case, CaseEvent
from grid_console.stats.figures import Figures
from grid_console.stats.period import Period

Key = tuple[str | None, str]
# The actions that overwrite a case's deadlines (cases/service.py records what they replaced).
DEADLINE_MOVES = ("reopen", "return")


class StatsService:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def figures(
        self,
        period: Period,
        now: datetime,
        grid: str | None = None,
        visible: frozenset[str] | None = None,
    ) -> list[Figures]:
        """One Figures per (grid, kind) that has anything to show, sorted by grid and kind.

        `visible`: the grids the reader may see (a grid head's own and micro-grids); None for
        every grid. Cases without a grid are then left out, as they are from the case list."""
        query = _Queries(period, period.as_of(now), grid, visible)
        rows: dict[Key, Figures] = {}

        def row(grid_: str | None, kind: str) -> Figures:
            return rows.setdefault((grid_, kind), Figures(grid_, kind))

        with Session(self._engine) as session:
            for name, stmt in query.counts():
                for grid_, kind, n in session.execute(stmt):
                    setattr(row(grid_, kind), name, int(n))
            # Judged in Python: the deadline is in the row's JSON detail, and reading a time
            # out of JSON is spelled differently on each backend.
            on_time: dict[Key, set[int]] = {}
            late: dict[Key, set[int]] = {}
            for case_id, grid_, kind, at, detail, current in session.execute(query.handled()):
                due = _recorded(detail, "handle_due_at") or current
                (on_time if at <= due else late).setdefault((grid_, kind), set()).add(case_id)
            for key, ids in on_time.items():
                row(*key).handled_on_time = len(ids)
            for key, ids in late.items():
                row(*key).handled_late = len(ids)
            for grid_, kind, state, replaced, response, handle in session.execute(
                query.overdue_moved()
            ):
                recorded = (replaced or {}).get("replaced_due")
                due = _due_in_state(
                    state,
                    _recorded(recorded, "response_due_at") or response,
                    _recorded(recorded, "handle_due_at") or handle,
                )
                if due is not None and due <= query.as_of:
                    row(grid_, kind).still_overdue += 1
            for attr, action in (("accept_s", "accept"), ("close_s", "close")):
                for grid_, kind, opened, first in session.execute(query.first_times(action)):
                    getattr(row(grid_, kind), attr).append((first - opened).total_seconds())
        return [rows[k] for k in sorted(rows, key=lambda k: (k[0] or "", k[1]))]


def _recorded(detail: Any, key: str) -> datetime | None:
    """A time an audit row recorded in its detail, or None if it has none (an older row)."""
    value = detail.get(key) if isinstance(detail, dict) else None
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _due_in_state(state: str | None, response: datetime, handle: datetime) -> datetime | None:
    """The deadline a case in `state` waits on, as the SQL's CASE in _Queries._overdue."""
    if state in {s.value for s in AWAITING_RESPONSE}:
        return min(response, handle)
    if state in {s.value for s in AWAITING_HANDLING}:
        return handle
    return None


def _before(a: Any, b: Any) -> ColumnElement[bool]:
    """Audit row `a` comes before row `b` in the trail (by time, then by id)."""
    return or_(a.at < b.at, and_(a.at == b.at, a.id < b.id))


class _Queries:
    def __init__(
        self, period: Period, as_of: datetime, grid: str | None, visible: frozenset[str] | None
    ) -> None:
        self.start = period.start
        self.end = period.end
        self.as_of = as_of
        self.grid = grid
        self.visible = visible

    def _where_grid(self, stmt: Select[Any]) -> Select[Any]:
        if self.grid is not None:
            stmt = stmt.where(Case.grid == self.grid)
        if self.visible is not None:
            stmt = stmt.where(Case.grid.in_(sorted(self.visible)))
        return stmt

    def _scoped(self, stmt: Select[Any]) -> Select[Any]:
        return self._where_grid(stmt).group_by(Case.grid, Case.kind)

    def _in_period(self, at: Any) -> ColumnElement[bool]:
        return and_(at >= self.start, at < self.end)

    def counts(self) -> Iterable[tuple[str, Select[Any]]]:
        yield (
            "reported",
            self._scoped(
                select(Case.grid, Case.kind, func.count(Case.id)).where(
                    self._in_period(Case.opened_at)
                )
            ),
        )
        for name, condition in (
            ("registered", CaseEvent.action == "register"),
            ("closed", CaseEvent.action == "close"),
            ("false_alarms", CaseEvent.action == "false_alarm"),
            ("reworked", or_(
                and_(CaseEvent.action == "return", CaseEvent.from_state == "handled"),
                and_(CaseEvent.action == "reopen", CaseEvent.from_state == "closed"),
            )),
        ):  # fmt: skip
            yield (
                name,
                self._scoped(
                    select(Case.grid, Case.kind, func.count(distinct(Case.id)))
                    .join(CaseEvent, CaseEvent.case_id == Case.id)
                    .where(condition, self._in_period(CaseEvent.at))
                ),
            )
        yield "still_overdue", self._scoped(self._overdue())

    def _state_then(self) -> Any:
        """The case's state at as_of: the to_state of its last audit row before as_of."""
        return (
            select(CaseEvent.to_state)
            .where(CaseEvent.case_id == Case.id, CaseEvent.at < self.as_of)
            .order_by(CaseEvent.at.desc(), CaseEvent.id.desc())
            .limit(1)
            .correlate(Case)
            .scalar_subquery()
        )

    def _moved_since(self) -> ColumnElement[bool]:
        """The case's deadlines were moved (a reopen or a return) at or after as_of."""
        moved = aliased(CaseEvent)
        return exists().where(
            moved.case_id == Case.id, moved.action.in_(DEADLINE_MOVES), moved.at >= self.as_of
        )

    def _overdue(self) -> Select[Any]:
        """still_overdue for the cases whose current deadlines are those in force at as_of
        (nothing moved them since); overdue_moved() gives the others to Python."""
        state_then = self._state_then()
        # The deadline that applies in the state the case was in at as_of, as one simple CASE
        # over the looked-up state: the lookup runs once per case (written as two ORed tests,
        # both backends ran it twice). Waiting for a response, the earlier of the two
        # deadlines applies (a return can push the response deadline past the handling one).
        earlier_due = case(
            (Case.response_due_at < Case.handle_due_at, Case.response_due_at),
            else_=Case.handle_due_at,
        )
        due_then = case(
            {s.value: earlier_due for s in AWAITING_RESPONSE}
            | {s.value: Case.handle_due_at for s in AWAITING_HANDLING - AWAITING_RESPONSE},
            value=state_then,
            else_=None,
        )
        open_states = [s.value for s in State if s not in TERMINAL]
        # The candidates come from two indexes, not from a scan of every case: a case that was
        # open at as_of is open now, or was closed after as_of (closing sets closed_at, and a
        # reopen clears it until the next close). Only they get the state lookup.
        candidates = union(
            select(Case.id).where(Case.state.in_(open_states)),
            select(Case.id).where(Case.closed_at >= self.as_of, Case.opened_at < self.as_of),
        ).subquery()
        return (
            select(Case.grid, Case.kind, func.count(Case.id))
            .select_from(candidates)
            .join(Case, Case.id == candidates.c.id)
            .where(
                Case.opened_at < self.as_of,
                or_(Case.response_due_at <= self.as_of, Case.handle_due_at <= self.as_of),
                ~self._moved_since(),
                due_then <= self.as_of,
            )
        )

    def overdue_moved(self) -> Select[Any]:
        """(grid, kind, state at as_of, the detail of the first move at or after as_of, the
        current deadlines) of each case opened before as_of whose deadlines moved since: that
        first move recorded the deadlines it replaced, which were in force at as_of. Found from
        the moves after as_of (the (action, at) index), so a year of history is not scanned."""
        moved = aliased(CaseEvent)
        later = (
            select(moved.case_id)
            .where(moved.action.in_(DEADLINE_MOVES), moved.at >= self.as_of)
            .distinct()
            .subquery()
        )
        first_move = (
            select(CaseEvent.detail)
            .where(
                CaseEvent.case_id == Case.id,
                CaseEvent.action.in_(DEADLINE_MOVES),
                CaseEvent.at >= self.as_of,
            )
            .order_by(CaseEvent.at, CaseEvent.id)
            .limit(1)
            .correlate(Case)
            .scalar_subquery()
        )
        stmt = (
            select(
                Case.grid,
                Case.kind,
                self._state_then(),
                first_move,
                Case.response_due_at,
                Case.handle_due_at,
            )
            .select_from(later)
            .join(Case, Case.id == later.c.case_id)
            .where(Case.opened_at < self.as_of)
        )
        return self._where_grid(stmt)

    def _first(self, action: str) -> Any:
        """(case_id, at) of each case's first `action` row, for the cases where it is in P.

        Written as "a row in P with no earlier row of the action" rather than MIN(at) over the
        whole trail: the index on (action, at) finds the period's rows, the one on (case_id,
        at) answers "earlier?", and a year of history is not scanned for one week's figures.
        """
        earlier = aliased(CaseEvent)
        no_earlier = ~exists().where(
            earlier.case_id == CaseEvent.case_id,
            earlier.action == action,
            or_(
                earlier.at < CaseEvent.at,
                and_(earlier.at == CaseEvent.at, earlier.id < CaseEvent.id),
            ),
        )
        return (
            select(CaseEvent.case_id, CaseEvent.at)
            .where(CaseEvent.action == action, self._in_period(CaseEvent.at), no_earlier)
            .subquery()
        )

    def handled(self) -> Select[Any]:
        """(case id, grid, kind, time, detail, current handling deadline) of each `handle` row
        in P that is the first of its cycle: no earlier `handle` row of the case unless a
        `reopen` came between (a reopened case is handled again against fresh deadlines)."""
        earlier = aliased(CaseEvent)
        reopen = aliased(CaseEvent)
        reopened_between = exists().where(
            reopen.case_id == CaseEvent.case_id,
            reopen.action == "reopen",
            _before(earlier, reopen),
            _before(reopen, CaseEvent),
        )
        no_earlier = ~exists().where(
            earlier.case_id == CaseEvent.case_id,
            earlier.action == "handle",
            _before(earlier, CaseEvent),
            ~reopened_between,
        )
        first = (
            select(CaseEvent.case_id, CaseEvent.at, CaseEvent.detail)
            .where(CaseEvent.action == "handle", self._in_period(CaseEvent.at), no_earlier)
            .subquery()
        )
        return self._where_grid(
            select(
                Case.id, Case.grid, Case.kind, first.c.at, first.c.detail, Case.handle_due_at
            ).join(first, first.c.case_id == Case.id)
        )

    def first_times(self, action: str) -> Select[Any]:
        first = self._first(action)
        stmt = select(Case.grid, Case.kind, Case.opened_at, first.c.at).join(
            first, first.c.case_id == Case.id
        )
        return self._where_grid(stmt)
