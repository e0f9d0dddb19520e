"""Uvicorn in a daemon thread of the node: `start()` waits until it listens, `stop()` is prompt.

The node's safety job (alerts to the broker) must not depend on the web side: a port already in
use is logged as an error and the node runs on without its pages. Signals stay with the main
thread (uvicorn installs no handlers outside it, and its threads block them).
"""

from __future__ import annotations

import logging
import resource
import signal
import threading
import time
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from edge.api.connections import ConnectionGuard, HttpLimits, guarded_protocol

log = logging.getLogger(__name__)


class ApiServer:
    def __init__(
        self, app: FastAPI, host: str, port: int, *, graceful_timeout_s: float = 2.0
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        guard: ConnectionGuard | None = getattr(app.state, "http_guard", None)
        self.guard = guard or ConnectionGuard(HttpLimits())
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        limits = self.guard.limits = self.guard.limits.within_fd_limit(soft)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,  # the node's logging setup applies
            access_log=False,  # our middleware logs requests without their query strings
            server_header=False,
            timeout_graceful_shutdown=int(max(1.0, graceful_timeout_s)),
            lifespan="off",
            http=guarded_protocol(self.guard),  # bounded connections and timeouts
            ws="none",  # no WebSocket routes: an upgrade request gets no other protocol
            backlog=limits.backlog,
            timeout_keep_alive=limits.keep_alive_s,
            h11_max_incomplete_event_size=limits.max_header_bytes,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        return bool(self._server.started)

    @property
    def bound_port(self) -> int | None:
        """The port actually listened on (useful with port 0)."""
        for server in getattr(self._server, "servers", []):
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return None

    def start(self, timeout_s: float = 10.0) -> bool:
        """Serve in a thread; True once listening, False (logged) if it could not start."""
        self._thread = threading.Thread(target=self._run, name="http-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self._thread.is_alive():
            if self._server.started:
                limits = self.guard.limits
                log.info("http api listening on http://%s:%s (at most %d connections, headers "
                         "within %.0f s, bodies stalled %.0f s at most)", self.host,
                         self.bound_port, limits.max_connections, limits.header_timeout_s,
                         limits.body_timeout_s)  # fmt: skip
                return True
            time.sleep(0.02)
        log.error("http api did not start on %s:%s (port in use or not allowed?); "
                  "the node runs on without it", self.host, self.port)  # fmt: skip
        self._server.should_exit = True
        return False

    def _run(self) -> None:
        # Leave SIGINT and SIGTERM to the main thread, which waits for them. The threads started
        # from here (the event loop's worker threads) inherit this mask. Otherwise the kernel may
        # hand a stop signal to one of them, and the main thread, asleep in a lock wait, would
        # not see it until something else woke it.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            self._server.run()
        except SystemExit:  # uvicorn exits when it cannot bind
            log.error("http api server exited on %s:%s", self.host, self.port)
        except Exception:
            log.exception("http api server failed")

    def stop(self, timeout_s: float = 5.0) -> None:
        """End event streams, stop accepting, wait for requests (bounded), return."""
        closer: Callable[[], None] | None = getattr(self.app.state, "shutdown_streams", None)
        if closer is not None:
            closer()
        self._server.should_exit = True
        thread = self._thread
        if thread is None:
            return
        thread.join(timeout_s)
        if thread.is_alive():
            self._server.force_exit = True
            thread.join(1.0)
            log.warning("http api did not stop within %.0f s", timeout_s)
        self._thread = None
        self.guard.flush()
        log.info("http api stopped")
