"""`create_app(backend)`: the node's HTTP API and its two pages, as one FastAPI app.

Every call builds a fresh app with its own state (event hub, config file lock, counters);
nothing lives at module level. The contract is docs/api.md.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge import __version__
from edge.api.backend import NodeBackend
from edge.api.context import ApiContext
from edge.api.guard import HostPolicy, RequestGuard
from edge.api.routes_alerts import alerts_router
from edge.api.routes_clips import clip_test_router, clips_router
from edge.api.routes_config import config_router, zones_router
from edge.api.routes_node import live_router, node_router

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),  # GET URLs may carry ?token=
]


class AccessLog:
    """Pure ASGI middleware: one log line per request (never the query string, which may hold
    a token) and a few safe headers. The path is logged as received; the log formatter
    (edge/logsetup.py) escapes what it may contain."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        status, started = 0, time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            level = logging.INFO if method != "GET" or status >= 400 else logging.DEBUG
            client = scope.get("client") or ("?", 0)
            log.log(level, "http %s %s status=%d ms=%.1f client=%s", method, path[:200], status,
                    1000 * (time.perf_counter() - started), client[0])  # fmt: skip


def _detail(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _install_handlers(app: FastAPI) -> None:
    async def bad_request(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse({"detail": _detail(exc)}, status_code=400)

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("api %s %s failed", request.method, request.url.path[:200], exc_info=exc)
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}"}, status_code=500)

    app.add_exception_handler(RequestValidationError, bad_request)
    app.add_exception_handler(Exception, internal)


def _add_pages(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")

    def page(name: str) -> FileResponse:
        path = STATIC_DIR / f"{name}.html"
        if not path.is_file():
            raise HTTPException(404, f"the {name} page is not installed")
        return FileResponse(path, media_type="text/html", headers={"Cache-Control": "no-cache"})

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/operator", status_code=307)

    @app.get("/installer", include_in_schema=False)
    def installer() -> FileResponse:
        return page("installer")

    @app.get("/operator", include_in_schema=False)
    def operator() -> FileResponse:
        return page("operator")


def create_app(backend: NodeBackend) -> FastAPI:
    """A new app over `backend`; registers one alert listener with it."""
    ctx = ApiContext.build(backend)
    settings = backend.site.settings
    app = FastAPI(
        title="Grid Sentinel edge node",
        version=__version__,
        summary=f"Node {settings.node.id} of site {settings.site.id}: alerts, cameras, zones.",
        description="See docs/api.md. Writes need `Authorization: Bearer <api.token>`.",
    )
    listening_on = settings.api.host  # the server is started on it; a change needs a restart
    app.add_middleware(
        RequestGuard,
        auth=ctx.auth,
        hosts=lambda: HostPolicy.of(backend.site.settings.api, listening_on),
    )
    app.add_middleware(AccessLog)  # outermost: refusals are logged too
    _install_handlers(app)
    routers = (node_router, live_router, config_router, zones_router, alerts_router,
               clips_router, clip_test_router)  # fmt: skip
    for router in routers:
        app.include_router(router(ctx))
    _add_pages(app)
    state: Any = app.state
    state.context = ctx
    # ApiServer serves the app under these limits (edge/api/connections.py).
    state.http_guard = ctx.connections
    # ApiServer.stop() calls this first, so open event streams end and the server can stop.
    state.shutdown_streams = ctx.hub.close
    return app
