"""Checks made on every request before any route runs, and before any of its body is read.

- **Host and Origin.** A web page the operator happens to open can point a DNS name of its own
  at the node (DNS rebinding) and then read the API as if it were same-origin; its requests
  still carry that name in `Host`. So `Host` (and a browser's `Origin`, when sent) must name
  this node: `api.allowed_hosts`, by default the loopback names and `api.host` (edge/config/
  model.py says which). Refused: 421 for Host, 403 for Origin. `/healthz` is exempt (it tells
  nothing, and probes use whatever name they like).
- **The token before the body.** Every request that is not a read (GET, HEAD) needs the bearer
  token, and here it is checked on the headers alone: a client without it is answered 401/403
  and its connection closed before one byte of its body is taken in.
- **The body limit, as bytes arrive.** `Content-Length` over the limit is refused at once; a
  chunked body (no length) is counted as it is received and refused with 413 as soon as it
  passes the limit: 2 MiB, 512 MiB for a clip upload.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.api.auth import Auth
from edge.api.files import MAX_CLIP_BYTES
from edge.config.model import Api

MAX_BODY_BYTES = 2 * 1024 * 1024  # clips (PUT /api/clips/...) have their own, larger limit
READS = frozenset({"GET", "HEAD"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})
UNEXPOSED = frozenset({"/healthz"})


def _norm(name: str) -> str:
    return name.strip().strip("[]").rstrip(".").lower()


def host_name(value: str) -> str | None:
    """The name in a Host header value or an Origin (`example.com:8080`, `[::1]:80`,
    `http://Example.COM`), lower case, without port, brackets or a final dot; None if malformed."""
    try:
        parts = urlsplit(value if "://" in value else f"//{value}")
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    name = parts.hostname
    if not name or "@" in parts.netloc or any(c.isspace() or c in "/\\@?#" for c in name):
        return None
    return name.rstrip(".")


@dataclass(frozen=True, slots=True)
class HostPolicy:
    names: frozenset[str]
    any_ip: bool = False
    anything: bool = False

    @classmethod
    def of(cls, api: Api, listening_on: str) -> HostPolicy:
        if api.allowed_hosts is not None:
            names = frozenset(_norm(h) for h in api.allowed_hosts)
            return cls(names | LOOPBACK_NAMES, anything="*" in names)
        listen = _norm(listening_on)
        if listen in WILDCARDS:
            return cls(LOOPBACK_NAMES, any_ip=True)
        return cls(LOOPBACK_NAMES | {listen})

    def allows(self, name: str | None) -> bool:
        if name is None:
            return False
        if self.anything or name in self.names:
            return True
        if self.any_ip:
            try:
                ipaddress.ip_address(name)
            except ValueError:
                return False
            return True
        return False


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"request body too large (limit {limit} bytes)", headers={"Connection": "close"}
        )


@dataclass(frozen=True, slots=True)
class _Refusal:
    status: int
    detail: str
    headers: dict[str, str]


def body_limit(method: str, path: str) -> int:
    return MAX_CLIP_BYTES if method == "PUT" and path.startswith("/api/clips/") else MAX_BODY_BYTES


def _quoted(raw: bytes) -> str:
    return repr(raw.decode("latin-1")[:100])


class RequestGuard:
    """Pure ASGI middleware (see the module docstring). `hosts` gives the current policy (the
    config may change while the node runs); `auth` checks the token."""

    def __init__(self, app: ASGIApp, *, auth: Auth, hosts: Callable[[], HostPolicy]) -> None:
        self.app = app
        self.auth = auth
        self.hosts = hosts

    def _refusal(self, scope: Scope, limit: int) -> _Refusal | None:
        values: dict[bytes, list[bytes]] = {}
        for key, value in scope["headers"]:
            values.setdefault(key, []).append(value)
        method, path = scope["method"], scope["path"]
        if path not in UNEXPOSED:
            policy = self.hosts()
            hosts = values.get(b"host", [])
            if len(hosts) > 1:
                return _Refusal(400, "more than one Host header", {})
            if hosts and not policy.allows(host_name(hosts[0].decode("latin-1"))):
                return _Refusal(
                    421, f"this node does not serve the host {_quoted(hosts[0])}; "
                    "add it to api.allowed_hosts if it is this node's name", {},
                )  # fmt: skip
            for origin in values.get(b"origin", []):
                if not policy.allows(host_name(origin.decode("latin-1"))):
                    return _Refusal(
                        403, f"requests from pages at {_quoted(origin)} are refused "
                        "(not in api.allowed_hosts)", {},
                    )  # fmt: skip
        if method not in READS:
            given = values.get(b"authorization")
            client = scope.get("client") or ("?", 0)
            refusal = self.auth.write_refusal(
                given[0].decode("latin-1") if given else None,
                method=method,
                path=path,
                client=str(client[0]),
            )
            if refusal is not None:
                return _Refusal(refusal.status, refusal.detail, refusal.headers)
        for length in values.get(b"content-length", []):
            if length.isdigit() and int(length) > limit:
                return _Refusal(413, f"request body too large (limit {limit} bytes)", {})
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["method"], scope["path"])
        refusal = self._refusal(scope, limit)
        if refusal is not None:
            # Connection: close, so the server never reads the body this request may carry.
            headers = {**refusal.headers, "Connection": "close"}
            response = JSONResponse({"detail": refusal.detail}, refusal.status, headers=headers)
            await response(scope, receive, send)
            return

        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except BodyTooLarge as exc:  # raised where no exception handler made it a response
            if not started:
                body = {"detail": exc.detail}
                await JSONResponse(body, 413, headers=exc.headers)(scope, receive, send)
        except ClientDisconnect:
            pass  # the client left in the middle of its body: nobody to answer
