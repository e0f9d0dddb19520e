"""Bounded HTTP (edge/api/connections.py, edge/api/guard.py): host names, limits, the open files
limit, and the connection guard on a real uvicorn server over loopback sockets."""

from __future__ import annotations

import asyncio
import resource
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from edge.api.connections import ConnectionGuard, HttpLimits, raise_open_files_limit
from edge.api.guard import HostPolicy, host_name
from edge.api.server import ApiServer
from edge.config.model import Api

# --- names and policies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("127.0.0.1:8080", "127.0.0.1"),
        ("LOCALHOST", "localhost"),
        ("[::1]:8080", "::1"),
        ("gate-1.example.", "gate-1.example"),
        ("http://Gate-1.Example:8080", "gate-1.example"),
        ("evil.example:80x", None),
        ("", None),
        ("a b", None),
        ("user@evil.example", None),
    ],
)
def test_host_name(value: str, name: str | None) -> None:
    assert host_name(value) == name


def test_host_policy_defaults_follow_where_the_api_listens() -> None:
    loopback = HostPolicy.of(Api(host="127.0.0.1"), "127.0.0.1")
    assert loopback.allows("localhost") and loopback.allows("::1")
    assert not loopback.allows("192.168.1.5") and not loopback.allows("attacker.example")
    assert not loopback.allows(None)
    lan = HostPolicy.of(Api(host="192.168.1.5"), "192.168.1.5")
    assert lan.allows("192.168.1.5") and not lan.allows("192.168.1.6")
    anywhere = HostPolicy.of(Api(host="0.0.0.0"), "0.0.0.0")
    assert anywhere.allows("10.0.0.7") and anywhere.allows("fe80::1")
    assert not anywhere.allows("gate-1.local")  # a name: it could be a rebinding one
    named = HostPolicy.of(Api(host="0.0.0.0", allowed_hosts=["Gate-1.Local"]), "0.0.0.0")
    assert named.allows("gate-1.local") and named.allows("127.0.0.1")
    assert not named.allows("10.0.0.7")
    assert HostPolicy.of(Api(allowed_hosts=["*"]), "127.0.0.1").allows("anything.example")
    with pytest.raises(ValueError, match="not a host name"):
        Api(allowed_hosts=["http://x/"])


@pytest.mark.parametrize(
    ("host", "protected"),
    [("127.0.0.1", False), ("localhost", False), ("::1", False), ("127.0.0.2", False),
     ("0.0.0.0", True), ("::", True), ("192.168.1.5", True), ("gate-1.local", True)],
)  # fmt: skip
def test_reads_need_the_token_by_default_beyond_loopback(host: str, protected: bool) -> None:
    assert Api(host=host).reads_protected() is protected
    assert Api(host=host, protect_reads=not protected).reads_protected() is not protected
    assert Api(host="127.0.0.1").reads_protected(listening_on=host) is protected


def test_limits_stay_within_a_third_of_the_open_files_limit() -> None:
    limits = HttpLimits(max_connections=200, backlog=64)
    assert limits.within_fd_limit(20_000) == limits
    small = limits.within_fd_limit(1024)
    assert small.max_connections + small.backlog <= 1024 // 3
    tiny = limits.within_fd_limit(64)
    assert tiny.max_connections + tiny.backlog <= 64 // 3 + 8
    assert limits.within_fd_limit(resource.RLIM_INFINITY) == limits


def test_the_soft_open_files_limit_is_raised_to_the_hard_one() -> None:
    calls: list[tuple[int, int]] = []
    soft, hard = raise_open_files_limit(lambda _: (1024, 4096), lambda _, v: calls.append(v))
    assert (soft, hard) == (4096, 4096) and calls == [(4096, 4096)]

    def refuse(_: int, __: tuple[int, int]) -> None:
        raise ValueError("not allowed")

    assert raise_open_files_limit(lambda _: (1024, 4096), refuse) == (1024, 4096)
    calls.clear()
    assert raise_open_files_limit(lambda _: (4096, 4096), lambda _, v: calls.append(v)) == (
        4096,
        4096,
    )
    assert calls == []
    inf = resource.RLIM_INFINITY
    assert raise_open_files_limit(lambda _: (1024, inf), lambda _, v: calls.append(v))[0] > 1024


# --- the guard on a real server ----------------------------------------------------------------

LIMITS = HttpLimits(max_connections=8, header_timeout_s=1.0, body_timeout_s=1.0, backlog=16)


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.post("/refuse")
    def refuse() -> JSONResponse:  # answers without reading the body
        return JSONResponse({"detail": "no"}, status_code=401)

    @app.get("/slow")
    async def slow() -> StreamingResponse:
        async def chunks() -> object:
            for _ in range(30):
                yield b"."
                await asyncio.sleep(0.1)

        return StreamingResponse(chunks())  # type: ignore[arg-type]

    app.state.http_guard = ConnectionGuard(LIMITS)
    return app


@pytest.fixture
def server() -> Iterator[ApiServer]:
    srv = ApiServer(_app(), "127.0.0.1", 0)
    assert srv.start()
    yield srv
    srv.stop()


def _connect(port: int, data: bytes = b"") -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if data:
        s.sendall(data)
    return s


def _closed_within(s: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed the connection, or None if it stayed open."""
    s.settimeout(0.05)
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            data = s.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - started
        if not data:
            return time.monotonic() - started
    return None


def test_a_header_trickled_a_byte_at_a_time_is_cut_off(server: ApiServer) -> None:
    port = server.bound_port
    assert port
    s = _connect(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    started = time.monotonic()
    closed = None
    while closed is None and time.monotonic() - started < 5:
        try:
            s.sendall(b"a")
        except OSError:
            break
        closed = _closed_within(s, 0.3)
    assert 0.9 < time.monotonic() - started < 2.5
    assert server.guard.dropped["header_timeout"] == 1
    # A connection that never sends a byte goes the same way.
    idle = _connect(port)
    assert (_closed_within(idle, 3.0) or 0) > 0.9


def test_a_stalled_body_is_abandoned(server: ApiServer) -> None:
    port = server.bound_port
    assert port
    s = _connect(port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
    closed = _closed_within(s, 4.0)
    assert closed is not None and 0.9 < closed < 2.5
    assert server.guard.dropped["body_timeout"] == 1
    # A body that keeps coming is not cut off, however long it takes in all.
    s = _connect(port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\n")
    for _ in range(6):
        s.sendall(b"01234")
        time.sleep(0.4)
    assert s.recv(4096).startswith(b"HTTP/1.1 200")


def test_a_new_connection_replaces_the_oldest_idle_one(server: ApiServer) -> None:
    port = server.bound_port
    assert port
    idle = [_connect(port, b"GET /") for _ in range(8)]
    time.sleep(0.1)
    newest = _connect(port, b"GET /")
    assert _closed_within(idle[0], 0.5) is not None  # the oldest made room
    assert all(_closed_within(s, 0.05) is None for s in [*idle[1:], newest])
    assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"ok": True}
    assert server.guard.open_count <= 8 and server.guard.dropped["evicted"] >= 2


def test_when_every_connection_is_busy_a_new_one_is_refused(server: ApiServer) -> None:
    port = server.bound_port
    assert port
    busy = [_connect(port, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n") for _ in range(8)]
    time.sleep(0.3)
    extra = _connect(port)
    assert _closed_within(extra, 0.5) is not None
    assert server.guard.dropped["refused"] == 1
    for s in busy:  # the busy ones were not disturbed
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        s.close()


def test_an_answer_before_the_body_closes_the_connection(server: ApiServer) -> None:
    port = server.bound_port
    assert port
    head = b"POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n"
    s = _connect(port, head + b"x" * 1000)
    assert s.recv(4096).startswith(b"HTTP/1.1 401")
    assert _closed_within(s, 1.0) is not None
