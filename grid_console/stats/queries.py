"""The figures, counted in SQL over `cases` and `case_events` (the audit trail).

Every query is plain SQLAlchemy Core that SQLite and PostgreSQL both run. Two things are left
to Python on purpose: percentiles (SQLite has no percentile_cont, and an aggregate written
twice would be two definitions to keep equal) and the subtraction of two times (date
arithmetic is spelled differently on each backend). SQL selects the few pairs of times they
need, one per case, already filtered to the period.

Definitions, for the period P = [from, to) and as_of = min(to, now) (docs/console.md):
- reported: cases opened in P;
- registered, closed, false_alarms: cases with a `register`, `close` or `false_alarm` audit
  row in P (a case counts once per figure, however many such rows it has);
- handled_on_time / handled_late: cases whose first `handle` row is in P, at or before / after
  the case's handling deadline (`handle_due_at`);
- still_overdue: cases opened before as_of whose state at as_of (the last audit row before
  it) waits for a response past `response_due_at`, or for handling past `handle_due_at`,
  whenever they were opened: the backlog does not drop out of next week's report;
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
            for grid_, kind, on_time, late in session.execute(query.handled()):
                row(grid_, kind).handled_on_time = int(on_time or 0)
                row(grid_, kind).handled_late = int(late or 0)
            for attr, action in (("accept_s", "accept"), ("close_s", "close")):
                for grid_, kind, opened, first in session.execute(query.first_times(action)):
                    getattr(row(grid_, kind), attr).append((first - opened).total_seconds())
        return [rows[k] for k in sorted(rows, key=lambda k: (k[0] or "", k[1]))]


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

    def _overdue(self) -> Select[Any]:
        state_then = (
            select(CaseEvent.to_state)
            .where(CaseEvent.case_id == Case.id, CaseEvent.at < self.as_of)
            .order_by(CaseEvent.at.desc(), CaseEvent.id.desc())
            .limit(1)
            .correlate(Case)
            .scalar_subquery()
        )
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
                due_then <= self.as_of,
            )
        )

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
        first = self._first("handle")
        on_time = func.sum(case((first.c.at <= Case.handle_due_at, 1), else_=0))
        late = func.sum(case((first.c.at > Case.handle_due_at, 1), else_=0))
        return self._scoped(
            select(Case.grid, Case.kind, on_time, late).join(first, first.c.case_id == Case.id)
        )

    def first_times(self, action: str) -> Select[Any]:
        first = self._first(action)
        stmt = select(Case.grid, Case.kind, Case.opened_at, first.c.at).join(
            first, first.c.case_id == Case.id
        )
        return self._where_grid(stmt)
