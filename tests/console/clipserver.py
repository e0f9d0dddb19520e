"""A node's clip route as a real local HTTP server for the console's clip tests: it serves a
real MP4 at /api/alerts/{id}/clip.mp4, or misbehaves as told per alert (404, a token wanted,
too big announced or only counted, a trickle, not an MP4), and counts every request."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av

from tests.integration.broker import HOST, free_port

CLIP_PATH = "/api/alerts/{alert_id}/clip.mp4"


def make_mp4(source: Path, out: Path, seconds: float = 2.0) -> bytes:
    """The first seconds of `source`'s video as the node writes a clip: the camera's H.264
    packets remuxed into MP4, not re-encoded (PyAV, the node's own library)."""
    with av.open(str(source)) as inp, av.open(str(out), "w", format="mp4") as outp:
        video = inp.streams.video[0]
        stream = outp.add_stream_from_template(video)
        assert video.time_base is not None
        for packet in inp.demux(video):
            if packet.dts is None:
                continue
            if packet.pts is not None and float(packet.pts * video.time_base) > seconds:
                break
            packet.stream = stream
            outp.mux(packet)
    return out.read_bytes()


class ClipServer:
    def __init__(self, mp4: bytes, *, token: str, huge: int) -> None:
        self.mp4 = mp4
        self.token = token
        self.huge = huge  # bytes sent for the "too big" behaviours
        self.behaviour: dict[str, str] = {}  # alert id -> ok | missing | token | ...
        self.requests: Counter[str] = Counter()
        self.auth: dict[str, str | None] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = self.path.split("/")
                alert_id = parts[3] if len(parts) == 5 else ""
                with server._lock:
                    server.requests[alert_id] += 1
                    server.auth[alert_id] = self.headers.get("Authorization")
                    how = server.behaviour.get(alert_id, "missing")
                # The console may give up reading (too big, too slow): that is the test.
                with contextlib.suppress(OSError):
                    server.answer(self, how)

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self._server = ThreadingHTTPServer((HOST, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, alert_id: str) -> str:
        return f"http://{HOST}:{self.port}{CLIP_PATH.format(alert_id=alert_id)}"

    def answer(self, req: BaseHTTPRequestHandler, how: str) -> None:
        if how == "token" and req.headers.get("Authorization") != f"Bearer {self.token}":
            self._send(req, 401, b'{"detail": "a bearer token is required"}')
        elif how in ("ok", "token"):
            self._send(req, 200, self.mp4, "video/mp4")
        elif how == "huge_announced":
            req.send_response(200)
            req.send_header("Content-Length", str(self.huge))
            req.end_headers()
            req.wfile.write(self.mp4[:1024])
        elif how == "huge_counted":  # no length: the body ends when the connection closes
            req.send_response(200)
            req.end_headers()
            block = (self.mp4 * (self.huge // len(self.mp4) + 1))[: self.huge]
            req.wfile.write(block)
        elif how == "slow":  # a byte every 50 ms: each read is quick, the whole is not
            req.send_response(200)
            req.send_header("Content-Length", str(len(self.mp4)))
            req.end_headers()
            for i in range(len(self.mp4)):
                req.wfile.write(self.mp4[i : i + 1])
                req.wfile.flush()
                time.sleep(0.05)
        elif how == "not_mp4":
            self._send(req, 200, b"<html>login first</html>", "text/html")
        else:
            self._send(req, 404, b'{"detail": "no clip for this alert (yet)"}')

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, status: int, body: bytes, kind: str = "") -> None:
        req.send_response(status)
        req.send_header("Content-Type", kind or "application/json")
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    def count(self, alert_id: str) -> int:
        with self._lock:
            return self.requests[alert_id]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
