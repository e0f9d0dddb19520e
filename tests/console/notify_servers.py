"""Real local endpoints for the notification tests: an HTTP server that records what robots
and webhooks receive (and can fail the first N requests, refuse like a vendor, or hang), and
an SMTP server (aiosmtpd) that records mail (and can refuse the first N)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.integration.broker import HOST, free_port


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()
    answered: int  # the HTTP status we answered with

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Behaviour:
    fail_first: int = 0  # answer the first N requests with `failure`
    failure: str = "http500"  # http500 | vendor (HTTP 200 with errcode/code 40035)
    hang_s: float = 0.0  # wait this long before answering (a stuck endpoint)
    seen: int = 0


class RecordingServer:
    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or Behaviour()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with server._lock:
                    b = server.behaviour
                    b.seen += 1
                    failing = b.seen <= b.fail_first
                if b.hang_s:
                    time.sleep(b.hang_s)
                status, reply = 200, {"errcode": 0, "errmsg": "ok", "code": 0, "msg": "success"}
                if failing and b.failure == "http500":
                    status, reply = 500, {"error": "try later"}
                elif failing:
                    reply = {"errcode": 40035, "errmsg": "invalid", "code": 40035, "msg": "bad"}
                parts = urlsplit(self.path)
                with server._lock:
                    server.received.append(Received(
                        parts.path, parse_qs(parts.query), dict(self.headers.items()), body,
                        time.monotonic(), status,
                    ))  # fmt: skip
                data = json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up waiting (its timeout): that is the test

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self._server = ThreadingHTTPServer((HOST, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def ok(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.answered == 200 and
                    (self.behaviour.failure == "http500" or
                     r.json().get("errcode", 0) == 0)]  # fmt: skip

    def all(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class SmtpRecorder:
    fail_first: int = 0
    seen: int = 0
    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.seen += 1
        if self.seen <= self.fail_first:
            return "451 4.3.0 try again later"
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 OK"


class SmtpServer:
    def __init__(self, fail_first: int = 0) -> None:
        self.recorder = SmtpRecorder(fail_first=fail_first)
        self.port = free_port()
        self._controller = Controller(self.recorder, hostname=HOST, port=self.port)
        self._controller.start()

    def url(self) -> str:
        return f"mailto://{HOST}:{self.port}?from=grid-console@example.org&name=网格平台"

    def close(self) -> None:
        self._controller.stop()


class RedirectServer:
    """Answers every POST with 302 Found to `location`."""

    def __init__(self, location: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self._server = ThreadingHTTPServer((HOST, self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self) -> str:
        return f"http://{HOST}:{self.port}/moved"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
