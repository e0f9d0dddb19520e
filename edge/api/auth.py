"""Bearer-token checks: writes always need the token, reads only when `api.protect_reads`.

The token is read from the config (inline, env or file) on each check, so a token file an
administrator rotates takes effect without a restart. With no token configured, writes are
refused outright (403): an open write API on a safety system is never the default.
Browsers cannot put headers on `<img src>` or `EventSource`, so GET requests may carry the
token as `?token=` instead; writes must use the header.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

from fastapi import HTTPException, Request

log = logging.getLogger(__name__)

TokenSource = Callable[[], str | None]
ReadPolicy = Callable[[], bool]


def _presented(request: Request, *, allow_query: bool) -> str | None:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else ""
    if allow_query:
        return request.query_params.get("token")
    return None


def _check(request: Request, token: str | None, *, allow_query: bool, what: str) -> None:
    if not token:
        raise HTTPException(403, f"{what} are disabled: no api.token is configured")
    given = _presented(request, allow_query=allow_query)
    if given is None:
        raise HTTPException(
            401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    if not hmac.compare_digest(given.encode(), token.encode()):
        log.warning(
            "api refused %s %s: wrong token from %s",
            request.method,
            request.url.path[:200],
            request.client.host if request.client else "?",
        )
        raise HTTPException(401, "wrong token", headers={"WWW-Authenticate": "Bearer"})


class Auth:
    """FastAPI dependencies: `Depends(auth.write)`, `Depends(auth.read)`, `Depends(auth.secret)`."""

    def __init__(self, token: TokenSource, protect_reads: ReadPolicy) -> None:
        self._token = token
        self._protect_reads = protect_reads

    def _current(self) -> str | None:
        try:
            return self._token()
        except Exception:  # an unreadable token file: refuse, do not crash the request
            log.exception("cannot read api.token")
            return None

    def write(self, request: Request) -> None:
        _check(request, self._current(), allow_query=False, what="writes")

    def read(self, request: Request) -> None:
        if self._protect_reads():
            _check(request, self._current(), allow_query=True, what="protected reads")

    def secret(self, request: Request) -> None:
        """Reads that may show secrets (the raw config): always need the token."""
        _check(request, self._current(), allow_query=False, what="config reads")
