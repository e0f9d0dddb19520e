"""Who is calling: a bearer token or the session cookie (with its CSRF header), and role checks.

Every route but login, the bare health check and the API docs depends on `require(...)`, so a
request without a valid session gets 401 and one from the wrong role 403. A cookie-borne
session must send `X-CSRF-Token` on every request that changes something: a browser attaches
cookies to a forged cross-site request, but it cannot read the CSRF token to add the header.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request

from grid_console.auth.roles import Role
from grid_console.auth.service import AuthService, Principal, csrf_matches
from grid_console.cases.service import Actor, actor_for
from grid_console.clock import Clock

SESSION_COOKIE = "gc_session"
CSRF_COOKIE = "gc_csrf"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Security:
    auth: AuthService
    clock: Clock
    cookie_secure: bool = True

    def principal(self, request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if header and scheme.lower() == "bearer" and token.strip():
            found = self.auth.authenticate(token.strip(), self.clock())
            if found is None:
                raise _unauthorized("invalid or expired token")
            return found
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            found = self.auth.authenticate(cookie, self.clock())
            if found is None:
                raise _unauthorized("session expired")
            if request.method not in _SAFE_METHODS and not csrf_matches(
                found.csrf_token, request.headers.get(CSRF_HEADER)
            ):
                raise HTTPException(403, f"CSRF 校验失败 / missing or wrong {CSRF_HEADER} header")
            return found
        raise _unauthorized("请先登录 / log in first")

    def require(self, *roles: Role) -> Callable[[Request], Principal]:
        allowed = frozenset(roles) if roles else frozenset(Role)

        def dependency(request: Request) -> Principal:
            who = self.principal(request)
            if who.role not in allowed:
                raise HTTPException(403, f"角色 {who.role.value} 无权访问 / role not allowed")
            return who

        return dependency


def as_actor(principal: Principal) -> Actor:
    return actor_for(principal.username, principal.role, principal.grids)


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})
