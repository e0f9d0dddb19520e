"""Bounded HTTP connections: the API can never take the file descriptors the node's alarms need.

Uvicorn alone bounds neither the sockets it accepts (`limit_concurrency` answers 503 but keeps
every connection open) nor how long a client may take to send its request: a connection that
sends nothing, or a header a byte at a time, is kept for ever. So the node serves HTTP with its
own subclass of uvicorn's h11 protocol, which
- counts open connections against `max_connections`; a new connection beyond it replaces the
  oldest one that has not sent a complete request (a slow or idle client), and is itself closed
  only when every open connection is busy with a request;
- closes a connection that has not sent its whole request header `header_timeout_s` after it
  opened or after its previous response (however slowly it trickles bytes), and one whose
  request body has not moved for `body_timeout_s`;
- closes a connection once its response is sent while its request body is unread (a refused
  upload), instead of reading the rest of it.

The accept backlog is small too (asyncio accepts up to `backlog` sockets per wake-up), so open
sockets stay below `max_connections + backlog`. What was dropped is logged once, then as one
summary line a minute at most: a flood of connections never becomes a flood of log lines.
"""

from __future__ import annotations

import asyncio
import logging
import math
import resource
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from edge.config.model import Api

log = logging.getLogger(__name__)

REASONS = {
    "evicted": "idle or slow, closed for a new connection",
    "refused": "refused, every connection busy",
    "header_timeout": "request header not complete in time",
    "body_timeout": "request body stalled",
}


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_connections: int = 200
    header_timeout_s: float = 10.0
    body_timeout_s: float = 15.0
    keep_alive_s: int = 5  # an idle connection after a response (uvicorn's timeout_keep_alive)
    max_header_bytes: int = 16 * 1024  # request line and headers (h11's incomplete event size)
    backlog: int = 64

    @classmethod
    def from_api(cls, api: Api) -> HttpLimits:
        return cls(
            max_connections=api.max_connections,
            header_timeout_s=api.header_timeout_s,
            body_timeout_s=api.body_timeout_s,
        )

    def within_fd_limit(self, soft_limit: int) -> HttpLimits:
        """At most a third of the process's file descriptors for HTTP (sockets accepted but not
        yet counted included); cameras, the broker link, the stores and the log need the rest."""
        if soft_limit <= 0 or soft_limit == resource.RLIM_INFINITY:
            return self
        budget = max(16, soft_limit // 3)
        backlog = max(8, min(self.backlog, budget // 4))
        return replace(
            self,
            backlog=backlog,
            max_connections=max(8, min(self.max_connections, budget - backlog)),
        )


class ConnectionGuard:
    """Open connections of one server, the idle ones oldest first, and what was dropped.

    Used from the server's event loop only; `open_count` and `dropped` are read by /metrics
    from other threads (plain int and Counter reads)."""

    def __init__(self, limits: HttpLimits, *, report_every_s: float = 60.0) -> None:
        self.limits = limits
        self.report_every_s = report_every_s
        self.dropped: Counter[str] = Counter()
        self.peak = 0
        self._open: set[GuardedProtocol] = set()
        self._idle: dict[GuardedProtocol, None] = {}  # insertion order: oldest wait first
        self._unreported: Counter[str] = Counter()
        self._reported_at = -math.inf
        self._flush: asyncio.TimerHandle | None = None

    @property
    def open_count(self) -> int:
        return len(self._open)

    def opened(self, conn: GuardedProtocol) -> bool:
        """Count a new connection; False if it was closed at once (everything else busy)."""
        self._open.add(conn)
        self.peak = max(self.peak, len(self._open))
        self.idle(conn, fresh=True)
        if len(self._open) <= self.limits.max_connections:
            return True
        victim = next((c for c in self._idle if c is not conn), None)
        if victim is not None:
            victim.drop("evicted")
            return True
        conn.drop("refused")
        return False

    def closed(self, conn: GuardedProtocol) -> None:
        self._open.discard(conn)
        self._idle.pop(conn, None)

    def idle(self, conn: GuardedProtocol, *, fresh: bool) -> None:
        """The connection waits for a request: evictable. `fresh` starts a new wait (at the end
        of the queue); otherwise it keeps its place however many bytes it trickles."""
        if fresh:
            self._idle.pop(conn, None)
        if conn in self._open:
            self._idle.setdefault(conn, None)

    def busy(self, conn: GuardedProtocol) -> None:
        self._idle.pop(conn, None)

    def note(self, reason: str, loop: asyncio.AbstractEventLoop) -> None:
        self.dropped[reason] += 1
        self._unreported[reason] += 1
        now = loop.time()
        if now - self._reported_at >= self.report_every_s:
            self._report(now)
        elif self._flush is None:
            delay = self._reported_at + self.report_every_s - now
            self._flush = loop.call_later(max(0.0, delay), lambda: self._report(loop.time()))

    def flush(self) -> None:
        """Log what has not been reported yet (the server has stopped: no loop any more)."""
        self._flush = None
        self._report(self._reported_at + self.report_every_s)

    def _report(self, now: float) -> None:
        self._flush = None
        if not self._unreported:
            return
        first = self._reported_at == -math.inf
        parts = ", ".join(f"{n} {REASONS.get(r, r)}" for r, n in sorted(self._unreported.items()))
        self._unreported.clear()
        self._reported_at = now
        if first:
            log.warning("http connections: %s (%d open, limit %d); more are summed up here at "
                        "most once a minute", parts, len(self._open),
                        self.limits.max_connections)  # fmt: skip
        else:
            log.warning("http connections closed since the last report: %s (%d open, limit %d)",
                        parts, len(self._open), self.limits.max_connections)  # fmt: skip


class GuardedProtocol(H11Protocol):
    """Uvicorn's h11 protocol under a ConnectionGuard (see the module docstring)."""

    guard: ConnectionGuard  # set on the subclass that `guarded_protocol` makes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._waiting_since = 0.0  # the start of the wait for a request
        self._last_data = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._waiting_since = self._last_data = self.loop.time()
        if self.guard.opened(self):
            self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.closed(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._last_data = self.loop.time()
        super().data_received(data)
        self._update(fresh=False)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._waiting_since = self._last_data = self.loop.time()
        self._update(fresh=True)

    def drop(self, reason: str) -> None:
        """Close at once (nothing is owed to this client), counted under `reason`."""
        self.guard.closed(self)
        self.guard.note(reason, self.loop)
        self.transport.abort()

    def _waiting(self) -> bool:
        idle = self.conn.their_state is h11.IDLE
        return idle and (self.cycle is None or self.cycle.response_complete)

    def _update(self, *, fresh: bool) -> None:
        if self.transport.is_closing():
            return
        if self._waiting():
            self.guard.idle(self, fresh=fresh)
        else:
            self.guard.busy(self)
            answered = self.conn.our_state in (h11.DONE, h11.MUST_CLOSE)
            if self.conn.their_state is h11.SEND_BODY and answered:
                # Answered before its body was read (a refusal): the rest is not wanted.
                self.transport.close()
                return
        self._watch()

    def _deadline(self) -> tuple[float, str] | None:
        if self._waiting():
            return self._waiting_since + self.guard.limits.header_timeout_s, "header_timeout"
        if self.conn.their_state is h11.SEND_BODY:
            if self.flow.read_paused:  # the app has not taken what came: not the client's fault
                self._last_data = self.loop.time()
            return self._last_data + self.guard.limits.body_timeout_s, "body_timeout"
        return None  # a request being answered (an event stream may last hours)

    def _watch(self) -> None:
        if self._timer is None and (deadline := self._deadline()) is not None:
            self._timer = self.loop.call_at(deadline[0], self._expire)

    def _expire(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        deadline = self._deadline()
        if deadline is None:
            return
        if self.loop.time() >= deadline[0]:
            self.drop(deadline[1])
        else:
            self._timer = self.loop.call_at(deadline[0], self._expire)


def guarded_protocol(guard: ConnectionGuard) -> type[GuardedProtocol]:
    """A protocol class for `uvicorn.Config(http=...)`, all its connections under `guard`."""
    return type("GuardedH11Protocol", (GuardedProtocol,), {"guard": guard})


GetLimit = Callable[[int], tuple[int, int]]
SetLimit = Callable[[int, tuple[int, int]], None]


def raise_open_files_limit(
    getrlimit: GetLimit = resource.getrlimit, setrlimit: SetLimit = resource.setrlimit
) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit where allowed; returns (soft, hard) as
    they are afterwards. Called by `edge run` as it starts (never at import)."""
    soft, hard = getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return soft, hard
    # An unlimited hard limit: ask for plenty, not for "unlimited" (the kernel caps it anyway).
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if target > soft:
        try:
            setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open files limit from %d to %d: %s", soft, target, exc)
    return soft, hard
