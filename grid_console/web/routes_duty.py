"""Grids, duty changes (leave, stand-ins, extra duty) and who is on duty in a grid.

For the monitoring centre (admin, operator), who hear first that a patrol is ill tonight, over
every grid; and for grid heads, who arrange their patrols, over their own grids and micro-grids
(people, grids and changes outside them answer as if absent). Times are ISO 8601; one without
an offset is read in the console's time zone, like the case list's `from`/`to`. A refused
change is a 422 whose `detail` is `{"message", "field", "problem": {"zh", "en"}}`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, HTTPException, Query, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from grid_console.auth.audit import record
from grid_console.auth.roles import DISPATCHABLE, WRITES_DUTY
from grid_console.auth.service import Principal
from grid_console.clock import Clock
from grid_console.db.session import transaction
from grid_console.people.duty import (
    NOTE_MAX,
    DutyChangeSpec,
    Scope,
    add_change,
    cancel_change,
    change_json,
    duty_of,
    list_changes,
)
from grid_console.people.duty_io import TITLE, export_duty, import_duty, read_duty
from grid_console.people.grids import grid_json
from grid_console.people.io import MAX_FILE_BYTES, FileImportError, render
from grid_console.people.models import Grid, Person, PersonGrid
from grid_console.people.roster import duty
from grid_console.stats.period import PeriodError, parse_moment
from grid_console.web.directory import MEDIA, file_refused, refusing_by_field
from grid_console.web.security import Security

# Without `to`, the list runs this far ahead: the leave and swaps a centre plans for.
DEFAULT_AHEAD = timedelta(days=62)
# A patrol's phone looks two weeks ahead: the leave and swaps they need to know of.
MY_AHEAD = timedelta(days=14)


class DutyChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    kind: str = Field(max_length=16)
    username: str = Field(min_length=1, max_length=64)
    starts: str = Field(alias="from", max_length=64)
    ends: str = Field(alias="to", max_length=64)
    note: str | None = Field(default=None, max_length=NOTE_MAX)
    substitute: str | None = Field(default=None, max_length=64)
    grid: str | None = Field(default=None, max_length=128)


def duty_router(engine: Engine, clock: Clock, timezone: str, security: Security) -> APIRouter:
    router = APIRouter()
    # The same people read and write: whoever arranges duty must see it.
    member = Depends(security.require(*WRITES_DUTY))
    anyone = Depends(security.require())
    zone = ZoneInfo(timezone)

    @router.get("/api/grids")
    def grids(who: Principal = member) -> dict[str, object]:
        scope = _scope(who)
        stmt = select(Grid).order_by(Grid.id)
        if scope is not None:
            stmt = stmt.where(Grid.id.in_(scope))
        with Session(engine) as session:
            return {"grids": [grid_json(session, g) for g in session.execute(stmt).scalars()]}

    @router.get("/api/me/duty")
    def my_duty(who: Principal = anyone) -> dict[str, object]:
        """Anyone's own duty, for the patrol's phone (people/duty.py, duty_of)."""
        with Session(engine) as session:
            person = session.get(Person, who.person_id)
            if person is None:
                raise HTTPException(404, "没有这个人员 / no such person")
            return duty_of(session, person, clock(), timezone=timezone, ahead=MY_AHEAD)

    @router.get("/api/duty/people")
    def people(who: Principal = member) -> dict[str, object]:
        """The active people who can be on duty, with their grids (in the scope)."""
        scope = _scope(who)
        stmt = (
            select(Person, PersonGrid.grid_id)
            .join(PersonGrid, PersonGrid.person_id == Person.id, isouter=True)
            .where(Person.active.is_(True), Person.role.in_([r.value for r in DISPATCHABLE]))
            .order_by(Person.username, PersonGrid.grid_id)
        )
        found: dict[str, dict[str, Any]] = {}
        with Session(engine) as session:
            for person, grid in session.execute(stmt).tuples():
                entry = found.setdefault(person.username, {**_who(person), "grids": []})
                if grid is not None and (scope is None or grid in scope):
                    entry["grids"].append(grid)
        listed = [p for p in found.values() if scope is None or p["grids"]]
        return {"people": listed}

    @router.get("/api/duty-changes")
    def changes(
        start: str | None = Query(default=None, alias="from"),
        end: str | None = Query(default=None, alias="to"),
        cancelled: bool = False,
        who: Principal = member,
    ) -> dict[str, object]:
        now = clock()
        since = _moment(start, zone, "from") if start else now
        until = _moment(end, zone, "to") if end else since + DEFAULT_AHEAD
        if since >= until:
            raise HTTPException(422, "from: 必须早于 to / must be before to")
        with Session(engine) as session:
            found = list_changes(session, since, until, cancelled=cancelled, scope=_scope(who))
            return {"changes": [change_json(session, c) for c in found]}

    @router.post("/api/duty-changes")
    def add(body: DutyChangeIn, who: Principal = member) -> dict[str, object]:
        spec = DutyChangeSpec(
            kind=body.kind,
            username=body.username.strip(),
            starts_at=_moment(body.starts, zone, "from"),
            ends_at=_moment(body.ends, zone, "to"),
            note=body.note,
            substitute=(body.substitute or "").strip() or None,
            grid=(body.grid or "").strip() or None,
        )
        return refusing_by_field(
            lambda: transaction(
                engine,
                lambda s: change_json(
                    s, add_change(s, spec, actor=who.username, now=clock(), scope=_scope(who))
                ),
            )
        )

    @router.delete("/api/duty-changes/{change_id}")
    def cancel(change_id: int, who: Principal = member) -> dict[str, object]:
        return refusing_by_field(
            lambda: transaction(
                engine,
                lambda s: change_json(
                    s,
                    cancel_change(s, change_id, actor=who.username, now=clock(), scope=_scope(who)),
                ),
            )
        )

    @router.get("/api/grids/{grid_id}/on-duty")
    def on_duty(grid_id: str, at: str | None = None, who: Principal = member) -> dict[str, object]:
        moment = _moment(at, zone, "at") if at else clock()
        with Session(engine) as session:
            if session.get(Grid, grid_id) is None or not who.may_see_grid(grid_id):
                raise HTTPException(404, f"没有这个网格 / no such grid: {grid_id!r}")
            found = duty(session, grid_id, moment, timezone=timezone)
            return {
                "grid": grid_id,
                "at": moment.isoformat(),
                "on_duty": [
                    {**_who(d.person), "why": d.why.value, "stands_in_for": d.stands_in_for}
                    for d in found.on
                ],
                "on_leave": [_who(p) for p in found.on_leave],
            }

    _file_routes(router, engine, clock, zone, member)
    return router


def _file_routes(
    router: APIRouter, engine: Engine, clock: Clock, zone: ZoneInfo, member: Any
) -> None:
    """Leave and extra duty as a CSV or XLSX file, in and out (people/duty_io.py)."""

    @router.post("/api/duty-changes/import")
    async def import_file(
        file: Annotated[UploadFile, File()], who: Principal = member
    ) -> dict[str, object]:
        content = await file.read(MAX_FILE_BYTES + 1)
        name = file.filename or "upload.csv"

        def work(session: Session) -> int:
            now = clock()
            count = import_duty(
                session, rows, zone=zone, actor=who.username, now=now, scope=_scope(who)
            )
            record(
                session,
                actor=who.username,
                action="import_duty",
                detail={"file": name[:256], "rows": len(rows.items), "new": count},
                now=now,
            )
            return count

        try:
            rows = read_duty(content, name)
            return {"imported": transaction(engine, work)}
        except FileImportError as exc:
            raise file_refused(exc) from None

    @router.get("/api/duty-changes/export")
    def export_file(format: str = "csv", who: Principal = member) -> Response:
        if format not in MEDIA:
            raise HTTPException(422, "format: 只能是 csv 或 xlsx / csv or xlsx")
        name = f"{TITLE}.{format}"
        with Session(engine) as session:
            rows = export_duty(session, zone=zone, now=clock(), scope=_scope(who))
        return Response(
            render(rows, name, TITLE),
            media_type=MEDIA[format],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


def _scope(who: Principal) -> Scope:
    return None if who.sees_all else who.grids


def _who(person: Person) -> dict[str, object]:
    return {"username": person.username, "display_name": person.display_name, "role": person.role}


def _moment(text: str, zone: ZoneInfo, field: str) -> datetime:
    try:
        return parse_moment(text, zone, field)
    except PeriodError as exc:
        raise HTTPException(422, str(exc)) from None
