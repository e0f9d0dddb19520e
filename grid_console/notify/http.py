"""One HTTP POST with a deadline, reduced to what a delivery records: worked or not, and why."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

_MAX_REPLY = 64 * 1024  # an endpoint's answer is evidence, not something to buffer unbounded
_MAX_DETAIL = 500


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    detail: str
    http_status: int | None = None


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib would follow a 301/302/303 with a GET and no body, and a 200 from there would
    count as delivered. A redirect is reported as what it is, a failure with its status."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class _Deadline:
    """One send's whole-time limit. A socket timeout bounds each read, not the send: an
    endpoint that answers a byte a second would hold the sending thread (and, past the claim's
    lease, make another replica send again). At the deadline the connection is shut down."""

    def __init__(self, total_s: float) -> None:
        self.expired = False
        self._connections: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(total_s, self._expire)
        self._timer.daemon = True

    def connection(self, cls: type[http.client.HTTPConnection]) -> Any:
        def make(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
            made = cls(*args, **kwargs)
            with self._lock:
                self._connections.append(made)
            return made

        return make

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for made in self._connections:
                if made.sock is not None:
                    with contextlib.suppress(OSError):
                        made.sock.shutdown(socket.SHUT_RDWR)


class _Http(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._deadline.connection(http.client.HTTPConnection), req)


class _Https(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(context=self._tls)
        self._deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            self._deadline.connection(http.client.HTTPSConnection), req, context=self._tls
        )


def post(
    url: str, body: bytes, headers: dict[str, str], timeout_s: float
) -> HttpReply | SendResult:
    """The reply (any status), or a failed SendResult when there was no reply at all, or no
    complete one within `timeout_s` in all."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    with _Deadline(timeout_s) as deadline:
        opener = urllib.request.build_opener(_NoRedirect(), _Http(deadline), _Https(deadline))
        try:
            with opener.open(request, timeout=timeout_s) as reply:
                return HttpReply(reply.status, reply.read(_MAX_REPLY))
        except urllib.error.HTTPError as error:
            return HttpReply(error.code, error.read(_MAX_REPLY) if error.fp else b"")
        except (OSError, ValueError, http.client.HTTPException) as error:
            if deadline.expired or isinstance(error, TimeoutError):
                return SendResult(False, f"no complete answer within {timeout_s:g} s")
            if isinstance(error, urllib.error.URLError):
                return SendResult(False, f"cannot connect: {error.reason}")
            # A reset connection, a URL urllib cannot use, a reply that is not HTTP.
            return SendResult(False, f"{type(error).__name__}: {error}")


def post_json(
    url: str, payload: dict[str, Any], timeout_s: float, headers: dict[str, str] | None = None
) -> HttpReply | SendResult:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    sent = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "grid-console"}
    return post(url, body, {**sent, **(headers or {})}, timeout_s)


def excerpt(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    return text[:_MAX_DETAIL]
