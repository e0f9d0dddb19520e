"""Bearer-token checks: writes always need the token, reads when `api.protect_reads` (by
default whenever the API listens beyond loopback).

The token is read from the config (inline, env or file) on each check, so a token file an
administrator rotates takes effect without a restart. With no token configured, writes are
refused outright (403): an open write API on a safety system is never the default.
Browsers cannot put headers on `<img src>` or `EventSource`, so GET requests may carry the
token as `?token=` instead; writes must use the header. Writes are checked twice: by the ASGI
middleware in edge/api/guard.py before any body is read, and by the route's dependency.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request

log = logging.getLogger(__name__)

TokenSource = Callable[[], str | None]
ReadPolicy = Callable[[], bool]


def _bearer(header: str) -> str:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _presented(request: Request, *, allow_query: bool) -> str | None:
    header = request.headers.get("authorization")
    if header is not None:
        return _bearer(header)
    if allow_query:
        return request.query_params.get("token")
    return None


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    detail: str

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"} if self.status == 401 else {}


def _verdict(token: str | None, given: str | None, *, what: str) -> Refusal | None:
    if not token:
        return Refusal(
            403,
            f"{what} are disabled: no api.token is configured. Set api.token in the site file "
            "(e.g. {file: api.token}, a file holding the output of `edge keygen`), then reload "
            "(kill -HUP the node) or restart",
        )
    if given is None:
        return Refusal(401, "a bearer token is required")
    if not hmac.compare_digest(given.encode(), token.encode()):
        return Refusal(401, "wrong token")
    return None


def _log_wrong(refusal: Refusal | None, method: str, path: str, client: str) -> None:
    if refusal is not None and refusal.detail == "wrong token":
        log.warning("api refused %s %s: wrong token from %s", method, path[:200], client)


def _check(request: Request, token: str | None, *, allow_query: bool, what: str) -> None:
    refusal = _verdict(token, _presented(request, allow_query=allow_query), what=what)
    if refusal is not None:
        client = request.client.host if request.client else "?"
        _log_wrong(refusal, request.method, request.url.path, client)
        raise HTTPException(refusal.status, refusal.detail, headers=refusal.headers)


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

    def write_refusal(
        self, authorization: str | None, *, method: str, path: str, client: str
    ) -> Refusal | None:
        """The write check on a raw Authorization header, for the ASGI middleware that runs
        it before any of the request body is read; None when the write may proceed."""
        given = None if authorization is None else _bearer(authorization)
        refusal = _verdict(self._current(), given, what="writes")
        _log_wrong(refusal, method, path, client)
        return refusal

    def read(self, request: Request) -> None:
        if self._protect_reads():
            _check(request, self._current(), allow_query=True, what="protected reads")

    def secret(self, request: Request) -> None:
        """Reads that may show secrets (the raw config): always need the token."""
        _check(request, self._current(), allow_query=False, what="config reads")
