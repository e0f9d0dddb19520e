"""Server-Sent Events fan-out: alert transitions to every connected page, never blocking.

The alert manager calls `EventHub.publish` under its own lock, on whatever thread made the
transition (detection worker, MQTT network thread, an API request). `publish` serialises the
payload once and hands it to each client's event loop with `call_soon_threadsafe`, which only
appends to a deque: it cannot block. On the loop, the event goes into that client's bounded
queue; a client whose queue is full is too slow to follow and is dropped (its stream ends and
the browser's EventSource reconnects and reloads the list), so one stuck page can neither hold
up the manager nor make the server buffer without bound.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

QUEUE_SIZE = 256
STATUS_EVERY_S = 5.0
RETRY_MS = 3000


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    data: str  # JSON text, one line

    def encode(self) -> bytes:
        return f"event: {self.name}\ndata: {self.data}\n\n".encode()


_CLOSE = Event("close", "{}")


@dataclass(eq=False)
class Subscriber:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: bool = False


class EventHub:
    """Thread-safe; one per app. Counters are for /metrics."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self._queue_size = queue_size
        self._lock = threading.Lock()
        self._subscribers: set[Subscriber] = set()
        self._closed = False
        self.published = 0
        self.dropped = 0

    @property
    def clients(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def subscribe(self) -> Subscriber:
        """A new client on the running loop."""
        sub = Subscriber(asyncio.get_running_loop(), asyncio.Queue(self._queue_size))
        with self._lock:
            if self._closed:
                sub.queue.put_nowait(_CLOSE)
            else:
                self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    def publish_alert(self, payload: dict[str, Any]) -> None:
        """An alert listener: called by the manager on any thread; never blocks or raises."""
        try:
            self.publish(Event("alert", json.dumps(payload, ensure_ascii=False)))
        except Exception:
            log.exception("could not publish an alert event to the pages")

    def publish(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
            self.published += 1
        for sub in subscribers:
            self._hand_over(sub, event)

    def close(self) -> None:
        """End every stream (the server is stopping); new clients get an empty stream."""
        with self._lock:
            self._closed = True
            subscribers = list(self._subscribers)
            self._subscribers.clear()
        for sub in subscribers:
            self._hand_over(sub, _CLOSE, force=True)

    def _hand_over(self, sub: Subscriber, event: Event, *, force: bool = False) -> None:
        try:
            sub.loop.call_soon_threadsafe(self._offer, sub, event, force)
        except RuntimeError:  # that loop is closed: the client is gone
            self.unsubscribe(sub)

    def _offer(self, sub: Subscriber, event: Event, force: bool) -> None:
        """On the client's loop."""
        if sub.dropped:
            return
        if force:
            while sub.queue.full():
                sub.queue.get_nowait()
        try:
            sub.queue.put_nowait(event)
        except asyncio.QueueFull:
            sub.dropped = True
            self.unsubscribe(sub)
            with self._lock:
                self.dropped += 1
            log.warning(
                "event stream client too slow (%d events queued): dropped", sub.queue.qsize()
            )

    async def stream(
        self,
        status: Callable[[], Awaitable[dict[str, Any]]],
        *,
        sub: Subscriber | None = None,
        status_every_s: float = STATUS_EVERY_S,
    ) -> AsyncIterator[bytes]:
        """The SSE byte stream of one client: a status first, then alerts as they come and a
        status every `status_every_s`. Ends when the client is dropped or the hub closes.
        Subscribes when iteration starts (or uses `sub`), and always unsubscribes."""
        sub = sub or self.subscribe()
        loop = asyncio.get_running_loop()
        try:
            yield f"retry: {RETRY_MS}\n\n".encode()
            yield Event("status", json.dumps(await status(), ensure_ascii=False)).encode()
            next_status = loop.time() + status_every_s
            while not sub.dropped:
                timeout = max(0.0, next_status - loop.time())
                try:
                    event = await asyncio.wait_for(sub.queue.get(), timeout)
                except TimeoutError:
                    yield Event("status", json.dumps(await status(), ensure_ascii=False)).encode()
                    next_status = loop.time() + status_every_s
                    continue
                if event is _CLOSE:
                    return
                yield event.encode()
        finally:
            self.unsubscribe(sub)
