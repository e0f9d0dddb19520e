"""`GET /api/stats` (JSON), `/api/stats.csv` and `/api/stats.xlsx`: the weekly figures.

Parameters: `from`, `to` (a date, midnight in `tz`, or an ISO time; the period is [from, to)),
`grid` (one grid; all when absent), `tz` (default Asia/Shanghai). A bad one is a 422 that names
it. Access control is added where the router is included (web/app.py), like every route.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response

from grid_console.clock import Clock
from grid_console.stats.period import PeriodError, parse_period
from grid_console.stats.queries import StatsService
from grid_console.stats.report import Report

From = Annotated[str | None, Query(alias="from", description="YYYY-MM-DD or ISO time")]
To = Annotated[str | None, Query(description="exclusive; YYYY-MM-DD or ISO time")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def stats_router(stats: StatsService, clock: Clock) -> APIRouter:
    router = APIRouter()

    def report(start: str | None, end: str | None, grid: str | None, tz: str | None) -> Report:
        now = clock()
        try:
            period = parse_period(start, end, tz, now)
        except PeriodError as exc:
            raise HTTPException(422, str(exc)) from None
        rows = stats.figures(period, now, grid or None)
        return Report(period, period.as_of(now), grid or None, rows)

    @router.get("/api/stats")
    def stats_json(start: From = None, to: To = None, grid: str | None = None,
                   tz: str | None = None) -> dict[str, object]:  # fmt: skip
        return report(start, to, grid, tz).as_json()

    @router.get("/api/stats.csv")
    def stats_csv(start: From = None, to: To = None, grid: str | None = None,
                  tz: str | None = None) -> Response:  # fmt: skip
        found = report(start, to, grid, tz)
        return Response(found.csv(), media_type="text/csv; charset=utf-8",
                        headers=_attachment(found.filename("csv")))  # fmt: skip

    @router.get("/api/stats.xlsx")
    def stats_xlsx(start: From = None, to: To = None, grid: str | None = None,
                   tz: str | None = None) -> Response:  # fmt: skip
        found = report(start, to, grid, tz)
        return Response(found.xlsx(), media_type=XLSX,
                        headers=_attachment(found.filename("xlsx")))  # fmt: skip

    return router


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}
