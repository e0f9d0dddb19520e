"""`GET /api/stats` (JSON), `/api/stats.csv` and `/api/stats.xlsx`: the weekly figures.

Parameters: `from`, `to` (a date, midnight in `tz`, or an ISO time; the period is [from, to)),
`grid` (one grid; all the caller sees when absent), `tz` (default Asia/Shanghai). A bad one is
a 422 that names it.

Who reads what is decided by the `viewer` dependency the app passes in: it answers the grids
the caller may see (None: every grid) or refuses the caller. A grid head or leader gets the
figures of their own grids and micro-grids only; asking for another grid is a 403, not an
empty table, so a typo is not mistaken for a quiet week.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from grid_console.clock import Clock
from grid_console.stats.period import PeriodError, parse_period
from grid_console.stats.queries import StatsService
from grid_console.stats.report import Report

From = Annotated[str | None, Query(alias="from", description="YYYY-MM-DD or ISO time")]
To = Annotated[str | None, Query(description="exclusive; YYYY-MM-DD or ISO time")]
Scope = frozenset[str] | None
Json = dict[str, object]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The grids a caller may see (None: every grid); it raises HTTPException for a refused caller.
Viewer = Callable[..., frozenset[str] | None]


def stats_router(stats: StatsService, clock: Clock, viewer: Viewer) -> APIRouter:
    router = APIRouter()
    reader = Depends(viewer)

    def report(start: str | None, end: str | None, grid: str | None, tz: str | None,
               visible: frozenset[str] | None) -> Report:  # fmt: skip
        grid = grid or None
        if grid is not None and visible is not None and grid not in visible:
            raise HTTPException(
                403, f"grid: 无权查看网格 {grid} 的统计 / not one of your grids: {grid}"
            )
        now = clock()
        try:
            period = parse_period(start, end, tz, now)
        except PeriodError as exc:
            raise HTTPException(422, str(exc)) from None
        rows = stats.figures(period, now, grid, visible)
        return Report(period, period.as_of(now), grid, rows, visible)

    @router.get("/api/stats")
    def stats_json(start: From = None, to: To = None, grid: str | None = None,
                   tz: str | None = None, visible: Scope = reader) -> Json:  # fmt: skip
        return report(start, to, grid, tz, visible).as_json()

    @router.get("/api/stats.csv")
    def stats_csv(start: From = None, to: To = None, grid: str | None = None,
                  tz: str | None = None, visible: Scope = reader) -> Response:  # fmt: skip
        found = report(start, to, grid, tz, visible)
        return Response(found.csv(), media_type="text/csv; charset=utf-8",
                        headers=_attachment(found.filename("csv")))  # fmt: skip

    @router.get("/api/stats.xlsx")
    def stats_xlsx(start: From = None, to: To = None, grid: str | None = None,
                   tz: str | None = None, visible: Scope = reader) -> Response:  # fmt: skip
        found = report(start, to, grid, tz, visible)
        return Response(found.xlsx(), media_type=XLSX,
                        headers=_attachment(found.filename("xlsx")))  # fmt: skip

    return router


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}
