"""The console's FastAPI application: login, the case API and the directory API.

Every route except `/api/login`, the bare `/healthz` and the API docs requires a signed-in user
(web/security.py) and checks the role; cases outside a user's grids answer 404, as if absent.
Actions are recorded with the signed-in user, who is also the `by` of node commands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, File, HTTPException, Query, Request, Response, UploadFile
from sqlalchemy.orm import Session

from grid_console.auth.roles import READS_DIRECTORY, READS_FIGURES, Role
from grid_console.auth.service import (
    AuthService,
    LoginFailedError,
    LoginThrottledError,
    Principal,
)
from grid_console.cases.listing import CaseFilter
from grid_console.cases.machine import Colour, InvalidTransitionError, NoteRequiredError
from grid_console.cases.photos import add_photo, read_photo
from grid_console.cases.service import (
    CaseNotFoundError,
    CaseService,
    ForbiddenError,
    InvalidInputError,
)
from grid_console.clock import Clock
from grid_console.notify.listing import DeliveryView, case_deliveries
from grid_console.stats.period import PeriodError, parse_moment
from grid_console.stats.queries import StatsService
from grid_console.web.directory import DirectoryApi, add_directory_routes
from grid_console.web.pages import pages_router
from grid_console.web.routes_duty import duty_router
from grid_console.web.routes_stats import stats_router
from grid_console.web.schemas import (
    ActionIn,
    ActionOut,
    CaseDetail,
    CaseEventOut,
    CaseList,
    CaseOut,
    DeliveryOut,
    LoginIn,
    LoginOut,
    MeOut,
)
from grid_console.web.security import CSRF_COOKIE, SESSION_COOKIE, Security, as_actor

_PHOTO_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class WebContext:
    cases: CaseService
    auth: AuthService
    clock: Clock
    health: Callable[[], dict[str, object]]
    directory: DirectoryApi | None = None
    # Called after an action put a command in the outbox, to send it without waiting.
    command_enqueued: Callable[[], None] = lambda: None
    cookie_secure: bool = True
    timezone: str = "Asia/Shanghai"
    stats: StatsService | None = None


def create_app(ctx: WebContext) -> FastAPI:
    app = FastAPI(title="Grid console", docs_url="/api/docs", openapi_url="/api/openapi.json")
    security = Security(ctx.auth, ctx.clock, ctx.cookie_secure)
    anyone = Depends(security.require())
    centre = Depends(security.require(*READS_DIRECTORY))

    @app.get("/healthz")
    def healthz() -> dict[str, object]:
        # Public for load balancers: up or not, and no more.
        full = ctx.health()
        return {"ok": True, "database": full.get("database"), "mqtt": full.get("mqtt")}

    @app.get("/api/health")
    def health(_: Principal = centre) -> dict[str, object]:
        return {"ok": True, **ctx.health()}

    @app.post("/api/login")
    def login(body: LoginIn, request: Request, response: Response) -> LoginOut:
        remote = request.client.host if request.client else None
        try:
            result = ctx.auth.login(body.username, body.password, remote, ctx.clock())
        except LoginThrottledError as exc:
            raise HTTPException(
                429,
                f"登录失败次数过多，请 {exc.retry_after_s} 秒后再试 / {exc}",
                headers={"Retry-After": str(exc.retry_after_s)},
            ) from None
        except LoginFailedError as exc:
            raise HTTPException(401, str(exc)) from None
        max_age = int((result.expires_at - ctx.clock()).total_seconds())
        response.set_cookie(
            SESSION_COOKIE,
            result.token,
            max_age=max_age,
            httponly=True,
            secure=ctx.cookie_secure,
            samesite="strict",
            path="/",
        )
        # Readable by the page's script, which copies it into the X-CSRF-Token header.
        response.set_cookie(
            CSRF_COOKIE,
            result.csrf_token,
            max_age=max_age,
            httponly=False,
            secure=ctx.cookie_secure,
            samesite="strict",
            path="/",
        )
        return LoginOut(
            token=result.token,
            csrf_token=result.csrf_token,
            username=result.principal.username,
            role=result.principal.role.value,
            expires_at=result.expires_at,
        )

    @app.post("/api/logout")
    def logout(response: Response, who: Principal = anyone) -> dict[str, bool]:
        ctx.auth.logout(who.session_id, ctx.clock())
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/")
        return {"ok": True}

    @app.get("/api/me")
    def me(who: Principal = anyone) -> MeOut:
        return MeOut(
            username=who.username,
            role=who.role.value,
            grids=sorted(who.grids),
            csrf_token=who.csrf_token,
        )

    _case_routes(app, ctx, anyone)
    app.include_router(pages_router(ctx.cases, security, ctx.timezone))
    if ctx.directory is not None:
        add_directory_routes(app, ctx.directory, security)
        app.include_router(duty_router(ctx.directory.engine, ctx.clock, ctx.timezone, security))
    if ctx.stats is not None:
        figures_reader = Depends(security.require(*READS_FIGURES))

        def figures_grids(who: Principal = figures_reader) -> frozenset[str] | None:
            return as_actor(who).grids  # None for the centre: every grid

        app.include_router(stats_router(ctx.stats, ctx.clock, figures_grids))
    return app


def _case_routes(app: FastAPI, ctx: WebContext, anyone: Any) -> None:
    @app.get("/api/cases")
    def list_cases(
        *,
        state: str | None = None,
        open_only: bool = Query(default=False, alias="open"),
        grid: str | None = None,
        kind: str | None = None,
        colour: str | None = None,
        start: str | None = Query(default=None, alias="from"),
        to: str | None = None,
        before: int | None = Query(default=None, ge=1),
        limit: int = Query(default=200, ge=1, le=1000),
        who: Principal = anyone,
    ) -> CaseList:
        actor = as_actor(who)
        now = ctx.clock()
        opened_from, opened_to = _window(start, to, ctx.timezone)
        if colour and colour not in set(Colour):
            raise HTTPException(422, "colour: 只能是 red、yellow 或 green / red, yellow or green")
        found, next_before = ctx.cases.list_cases(
            CaseFilter(state=state, open_only=open_only, grid=grid, kind=kind,
                       colour=colour or None, opened_from=opened_from, opened_to=opened_to,
                       before=before, limit=limit, visible_grids=actor.grids),
            now,
        )  # fmt: skip
        assignees = ctx.cases.assignees([c.id for c in found])
        out = [CaseOut.of(c, now, assignees[c.id]) for c in found]
        return CaseList(cases=out, next_before=next_before)

    @app.get("/api/cases/{case_id}")
    def get_case(case_id: int, who: Principal = anyone) -> CaseDetail:
        actor = as_actor(who)
        try:
            case, events = ctx.cases.get_case(case_id, actor)
            view = ctx.cases.view(case_id, actor)
        except CaseNotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        return CaseDetail(
            case=CaseOut.of(case, ctx.clock(), view.assignees),
            events=[CaseEventOut.of(e) for e in events],
            alert_ids=view.alert_ids,
            photos=view.photos,
            deliveries=[DeliveryOut.of(d) for d in _deliveries(ctx.cases, case_id)],
        )

    @app.post("/api/cases/{case_id}/actions")
    def act(case_id: int, body: ActionIn, who: Principal = anyone) -> ActionOut:
        now = ctx.clock()
        try:
            targets = body.targets()
            result = ctx.cases.apply_action(
                case_id,
                body.action,
                as_actor(who),
                body.note,
                now,
                to=targets,
                photos=body.photos,
                due=_due(body.due, ctx.timezone),
            )
        except CaseNotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        except ForbiddenError as exc:
            raise HTTPException(403, str(exc)) from None
        except InvalidTransitionError as exc:
            raise HTTPException(409, str(exc)) from None
        except (NoteRequiredError, InvalidInputError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None
        if result.command_ids:
            ctx.command_enqueued()
        view = ctx.cases.view(case_id)
        return ActionOut(
            case=CaseOut.of(result.case, now, view.assignees),
            event=CaseEventOut.of(result.event),
            command_id=result.command_id,
            command_ids=result.command_ids,
        )

    @app.post("/api/cases/{case_id}/photos")
    async def upload_photo(
        case_id: int, file: Annotated[UploadFile, File()], who: Principal = anyone
    ) -> dict[str, str]:
        if who.role == Role.GRID_LEADER:
            raise HTTPException(403, "role grid_leader does not upload photos")
        content = await _read_bounded(file)
        try:
            digest = add_photo(ctx.cases.engine, case_id, content, as_actor(who), ctx.clock())
        except CaseNotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        except InvalidInputError as exc:
            raise HTTPException(422, str(exc)) from None
        return {"sha256": digest}

    @app.get("/api/cases/{case_id}/photos/{digest}")
    def get_photo(case_id: int, digest: str, who: Principal = anyone) -> Response:
        try:
            content, content_type = read_photo(ctx.cases.engine, case_id, digest, as_actor(who))
        except CaseNotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        return Response(
            content, media_type=content_type, headers={"Cache-Control": "private, max-age=86400"}
        )


def _deliveries(cases: CaseService, case_id: int) -> list[DeliveryView]:
    with Session(cases.engine) as session:
        return case_deliveries(session, case_id)


def _window(
    start: str | None, end: str | None, timezone: str
) -> tuple[datetime | None, datetime | None]:
    """The list's [from, to) on opened_at: a date is that day's midnight in the console's
    zone, a time without an offset is read in that zone (as the pages show times)."""
    zone = ZoneInfo(timezone)
    try:
        found = (
            parse_moment(start, zone, "from") if start else None,
            parse_moment(end, zone, "to") if end else None,
        )
    except PeriodError as exc:
        raise HTTPException(422, str(exc)) from None
    if found[0] is not None and found[1] is not None and found[0] >= found[1]:
        raise HTTPException(422, "from: 必须早于 to / must be before to")
    return found


def _due(value: datetime | date | None, timezone: str) -> datetime | None:
    """A date means the start of that day in the console's time zone; a time needs a zone."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidInputError("due", "a time needs its zone, e.g. 2026-12-10T09:00+08:00")
        return value
    return datetime.combine(value, time(0, 0), tzinfo=ZoneInfo(timezone))


async def _read_bounded(file: UploadFile) -> bytes:
    from grid_console.cases.photos import MAX_PHOTO_BYTES  # noqa: PLC0415

    chunks: list[bytes] = []
    size = 0
    while chunk := await file.read(_PHOTO_READ_CHUNK):
        size += len(chunk)
        if size > MAX_PHOTO_BYTES:
            raise HTTPException(413, f"file: at most {MAX_PHOTO_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
