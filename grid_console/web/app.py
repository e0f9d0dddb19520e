"""The console's FastAPI application: health and the case API (read, and act on a case).

No authentication yet (issue 16's users and roles come in a later slice): bind the console to
loopback or a trusted network until then. Actions are recorded as done by `UNAUTHENTICATED`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI, HTTPException, Query

from grid_console.cases.machine import InvalidTransitionError, NoteRequiredError
from grid_console.cases.service import CaseFilter, CaseNotFoundError, CaseService
from grid_console.clock import Clock
from grid_console.web.schemas import (
    ActionIn,
    ActionOut,
    CaseDetail,
    CaseEventOut,
    CaseList,
    CaseOut,
)

# TODO(auth): the signed-in user replaces this in the audit trail and in the node's actor.by.
UNAUTHENTICATED = "operator"


@dataclass(frozen=True, slots=True)
class WebContext:
    cases: CaseService
    clock: Clock
    health: Callable[[], dict[str, object]]
    # Called after an action put a command in the outbox, to send it without waiting.
    command_enqueued: Callable[[], None] = lambda: None


def create_app(ctx: WebContext) -> FastAPI:
    app = FastAPI(title="Grid console", docs_url="/api/docs", openapi_url="/api/openapi.json")

    @app.get("/healthz")
    def healthz() -> dict[str, object]:
        return {"ok": True, **ctx.health()}

    @app.get("/api/cases")
    def list_cases(
        state: str | None = None,
        grid: str | None = None,
        kind: str | None = None,
        limit: int = Query(default=200, ge=1, le=1000),
    ) -> CaseList:
        found = ctx.cases.list_cases(CaseFilter(state=state, grid=grid, kind=kind, limit=limit))
        now = ctx.clock()
        return CaseList(cases=[CaseOut.of(c, now) for c in found])

    @app.get("/api/cases/{case_id}")
    def get_case(case_id: int) -> CaseDetail:
        try:
            case, events = ctx.cases.get_case(case_id)
        except CaseNotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        return CaseDetail(
            case=CaseOut.of(case, ctx.clock()), events=[CaseEventOut.of(e) for e in events]
        )

    @app.post("/api/cases/{case_id}/actions")
    def act(case_id: int, body: ActionIn) -> ActionOut:
        now = ctx.clock()
        try:
            result = ctx.cases.apply_action(
                case_id, body.action, UNAUTHENTICATED, body.note, now, to=body.to
            )
        except CaseNotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        except InvalidTransitionError as exc:
            raise HTTPException(409, str(exc)) from None
        except NoteRequiredError as exc:
            raise HTTPException(422, str(exc)) from None
        if result.command_id is not None:
            ctx.command_enqueued()
        return ActionOut(
            case=CaseOut.of(result.case, now),
            event=CaseEventOut.of(result.event),
            command_id=result.command_id,
        )

    return app
