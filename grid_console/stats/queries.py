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

from sqlalchemy import ColumnElement, Engine, Select, and_, case, distinct, func, or_, select
from sqlalchemy.orm import Session

from grid_console.cases.machine import AWAITING_HANDLING, AWAITING_RESPONSE
from grid_console.cases.models import Case, CaseEvent
from grid_console.stats.figures import Figures
from grid_console.stats.period import Period

Key = tuple[str | None, str]


class StatsService:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def figures(self, period: Period, now: datetime, grid: str | None = None) -> list[Figures]:
        """One Figures per (grid, kind) that has anything to show, sorted by grid and kind."""
        query = _Queries(period, period.as_of(now), grid)
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
    def __init__(self, period: Period, as_of: datetime, grid: str | None) -> None:
        self.start = period.start
        self.end = period.end
        self.as_of = as_of
        self.grid = grid

    def _scoped(self, stmt: Select[Any]) -> Select[Any]:
        if self.grid is not None:
            stmt = stmt.where(Case.grid == self.grid)
        return stmt.group_by(Case.grid, Case.kind)

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
        waiting_response = [s.value for s in AWAITING_RESPONSE]
        waiting_handling = [s.value for s in AWAITING_HANDLING]
        return select(Case.grid, Case.kind, func.count(Case.id)).where(
            Case.opened_at < self.as_of,
            or_(
                and_(state_then.in_(waiting_response), Case.response_due_at <= self.as_of),
                and_(state_then.in_(waiting_handling), Case.handle_due_at <= self.as_of),
            ),
        )

    def _first(self, action: str) -> Any:
        return (
            select(CaseEvent.case_id, func.min(CaseEvent.at).label("at"))
            .where(CaseEvent.action == action)
            .group_by(CaseEvent.case_id)
            .subquery()
        )

    def handled(self) -> Select[Any]:
        first = self._first("handle")
        on_time = func.sum(case((first.c.at <= Case.handle_due_at, 1), else_=0))
        late = func.sum(case((first.c.at > Case.handle_due_at, 1), else_=0))
        return self._scoped(
            select(Case.grid, Case.kind, on_time, late)
            .join(first, first.c.case_id == Case.id)
            .where(self._in_period(first.c.at))
        )

    def first_times(self, action: str) -> Select[Any]:
        first = self._first(action)
        stmt = (
            select(Case.grid, Case.kind, Case.opened_at, first.c.at)
            .join(first, first.c.case_id == Case.id)
            .where(self._in_period(first.c.at))
        )
        if self.grid is not None:
            stmt = stmt.where(Case.grid == self.grid)
        return stmt
