"""The console's pages: login, the monitoring centre's inbox and case detail, the patrol's phone,
the admin page (people, imports and exports), the duty page (leave, stand-ins, extra duty) and
the weekly figures.

The pages are static HTML and plain JS (web/static/, no build step, nothing fetched from the
internet); they sign in with `POST /api/login` (session cookie + CSRF header) and use the JSON
API. The HTML itself is public, as a login page must be: every piece of data comes from an API
route that checks the user. The few page-only routes here (a case's evidence, whom a case may be
dispatched to, node health) read what the services store; they change nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from grid_console.auth.roles import READS_DIRECTORY, Role
from grid_console.auth.service import Principal
from grid_console.cases.service import CaseNotFoundError, CaseService
from grid_console.ingest.models import AlertEvent
from grid_console.nodes.models import Device, Node
from grid_console.people.models import Person, PersonGrid
from grid_console.snapshots.models import AlertSnapshot, Snapshot
from grid_console.snapshots.service import is_picture
from grid_console.web.security import Security, as_actor

STATIC_DIR = Path(__file__).resolve().parent / "static"
_MEDIA = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}  # fmt: skip
# Who may be sent out to a case (the dispatch action accepts these roles only).
_ASSIGNABLE = (Role.PATROL.value, Role.VOLUNTEER.value, Role.GRID_HEAD.value)
_DISPATCHERS = frozenset({Role.ADMIN, Role.OPERATOR, Role.GRID_HEAD, Role.GRID_LEADER})
# Who works a case on the phone page (patrol.js shows their actions there).
_GOERS = frozenset({Role.PATROL, Role.VOLUNTEER})
# Pages are re-read on every visit so a new release shows at once; they are small.
_NO_CACHE = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def pages_router(cases: CaseService, security: Security, timezone: str) -> APIRouter:
    router = APIRouter()
    engine = cases.engine
    anyone = Depends(security.require())
    centre = Depends(security.require(*READS_DIRECTORY))
    dispatcher = Depends(security.require(*_DISPATCHERS))

    @router.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/login", status_code=303)

    @router.get("/login", include_in_schema=False)
    def login_page() -> Response:
        return _page("login.html")

    @router.get("/inbox", include_in_schema=False)
    def inbox_page() -> Response:
        return _page("inbox.html")

    @router.get("/cases/{case_id}", include_in_schema=False)
    def case_page(case_id: int, request: Request) -> Response:
        # The link notifications carry: the inbox opens with this case's detail. A patrol or a
        # volunteer taps it on a phone, and their actions (accept, arrived, handled) are on
        # the phone page, not on the inbox's case page: they go to their task there. Not
        # signed in yet: the inbox page sends them to log in, and back here.
        try:
            who = security.principal(request)
        except HTTPException:
            return _page("inbox.html")
        if who.role in _GOERS:
            return RedirectResponse(f"/patrol?case={case_id}", status_code=303)
        return _page("inbox.html")

    @router.get("/patrol", include_in_schema=False)
    def patrol_page() -> Response:
        return _page("patrol.html")

    @router.get("/admin", include_in_schema=False)
    def admin_page() -> Response:
        return _page("admin.html")

    @router.get("/duty", include_in_schema=False)
    def duty_page() -> Response:
        return _page("duty.html")

    @router.get("/figures", include_in_schema=False)
    def figures_page() -> Response:
        return _page("figures.html")

    @router.get("/static/console/{name}", include_in_schema=False)
    def static_file(name: str) -> Response:
        return _page(name)

    @router.get("/api/pages/settings")
    def settings(_: Principal = anyone) -> dict[str, str]:
        # The console's zone: a deferral's date means midnight there, not in the browser's zone.
        return {"timezone": timezone}

    @router.get("/api/pages/cases/{case_id}/evidence")
    def evidence(case_id: int, who: Principal = anyone) -> dict[str, Any]:
        try:
            view = cases.view(case_id, as_actor(who))
        except CaseNotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        return _evidence(engine, view.alert_ids)

    @router.get("/api/pages/assignable")
    def assignable(grid: str | None = None, who: Principal = dispatcher) -> dict[str, Any]:
        actor = as_actor(who)
        if grid is not None and not actor.sees(grid):
            raise HTTPException(404, f"grid: no grid {grid!r}")
        return {"people": _assignable(engine, grid)}

    @router.get("/api/pages/health")
    def health(_: Principal = centre) -> dict[str, Any]:
        return _health(engine)

    return router


def _page(name: str) -> Response:
    path = STATIC_DIR / name
    # Only plain names of files that ship in static/: no paths, no dotfiles.
    if "/" in name or name.startswith(".") or path.suffix not in _MEDIA or not path.is_file():
        raise HTTPException(404, "没有这个页面 / no such page")
    return FileResponse(path, media_type=_MEDIA[path.suffix], headers=_NO_CACHE)


def _evidence(engine: Engine, alert_ids: list[str]) -> dict[str, Any]:
    """The case's pictures (oldest first) and the objects of its newest event that had any."""
    with Session(engine) as session:
        shots = session.execute(
            select(AlertSnapshot.sha256)
            .join(Snapshot, Snapshot.sha256 == AlertSnapshot.sha256)
            .where(AlertSnapshot.alert_id.in_(alert_ids), is_picture())  # the clip is apart
            .order_by(AlertSnapshot.received_at, AlertSnapshot.id)
        ).scalars()
        snapshots = list(dict.fromkeys(shots))
        events = session.execute(
            select(AlertEvent.payload)
            .where(AlertEvent.alert_id.in_(alert_ids))
            .order_by(AlertEvent.received_at.desc(), AlertEvent.id.desc())
        ).scalars()
        objects: list[dict[str, Any] | None] = []
        for payload in events:
            found = payload.get("objects") if isinstance(payload, dict) else None
            if isinstance(found, list) and found:
                objects = [_object(o) for o in found if isinstance(o, dict)]
                break
    return {"snapshots": snapshots, "objects": [o for o in objects if o is not None]}


def _object(raw: dict[str, Any]) -> dict[str, Any] | None:
    box = raw.get("box")
    if not (isinstance(box, list) and len(box) == 4):
        return None
    if not all(isinstance(v, int | float) and 0 <= v <= 1 for v in box):
        return None
    return {
        "category": str(raw.get("category", "")),
        "class": str(raw.get("class", "")),
        "confidence": float(raw.get("confidence") or 0.0),
        "box": [float(v) for v in box],
    }


def _assignable(engine: Engine, grid: str | None) -> list[dict[str, str]]:
    stmt = select(Person.username, Person.display_name, Person.role).where(
        Person.active.is_(True), Person.role.in_(_ASSIGNABLE)
    )
    if grid is not None:
        stmt = stmt.join(PersonGrid, PersonGrid.person_id == Person.id).where(
            PersonGrid.grid_id == grid
        )
    with Session(engine) as session:
        rows = session.execute(stmt.order_by(Person.role, Person.username).distinct()).all()
    return [{"username": u, "name": n, "role": r} for u, n, r in rows]


def _health(engine: Engine) -> dict[str, Any]:
    with Session(engine) as session:
        nodes = session.execute(select(Node).order_by(Node.site, Node.node)).scalars().all()
        devices = session.execute(
            select(Device).order_by(Device.site, Device.node, Device.device_kind, Device.device_id)
        ).scalars()
        return {
            "nodes": [
                {"site": n.site, "site_name": n.site_name, "node": n.node, "status": n.status,
                 "version": n.version, "last_seen": n.last_seen.isoformat()}
                for n in nodes
            ],
            "devices": [
                {"site": d.site, "node": d.node, "kind": d.device_kind, "id": d.device_id,
                 "state": d.state, "last_seen": d.last_seen.isoformat()}
                for d in devices
            ],
        }  # fmt: skip
