"""Outbox -> broker: the one thread that sends stored messages and forgets them on PUBACK.

Guarantees (mqtt/topics.md, "Delivery"): at-least-once and in order per node.

- Rows go out in row-id order over one connection, at most `window` unacknowledged at a time.
- A row is deleted from the outbox only when its PUBACK has arrived.
- Every connection has a number (`MqttLink.session`). When it changes, whatever was in flight is
  treated as unsent and sending restarts from the oldest row still in the outbox. Rows after a
  lost one may already have reached the broker, so consumers can see duplicates (identical
  payloads) but never a gap and never a newer event overtaking an older one's first delivery.
- paho's own replay of unacknowledged messages is disabled by the link (it drops them on
  connect), so nothing but this thread decides what is resent and in which order.
- A full disk refuses even the deletes (SQLite's WAL needs room to record them): acknowledged
  rows are then remembered in memory, skipped when sending, and deleted as soon as the disk
  takes writes again, so what is in the outbox (the `storage_fault` alert above all) still goes
  out. A node restart meanwhile sends them once more (duplicates, never a loss).

The thread sleeps on one event, woken by a put, a PUBACK, a connection change or stop; it
never polls.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

from edge.alerts.outbox import Outbox, OutboxError, OutboxMessage
from edge.clock import Clock
from edge.mqtt.link import MqttLink, PublishHandle

logger = logging.getLogger(__name__)

# A safety net only: every state change that matters sets the wake event.
_IDLE_WAKE_S = 30.0
_ERROR_BACKOFF_S = 1.0


@dataclass(frozen=True, slots=True)
class PublisherStats:
    """Counters since start. `backlog` is the outbox size: unsent plus in-flight messages."""

    published: int
    acked: int
    resent: int
    rejected: int
    backlog: int
    in_flight: int
    oldest_age_s: float | None
    connected: bool


class Publisher:
    """Moves outbox rows to the broker through an MqttLink; see the module docstring."""

    def __init__(self, outbox: Outbox, link: MqttLink, *, clock: Clock, window: int = 100) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self._outbox = outbox
        self._link = link
        self._clock = clock
        self._window = window
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._progress = threading.Condition()
        self._thread: threading.Thread | None = None
        # Only the publisher thread touches the fields below, except the counters read by stats().
        self._session: int | None = None
        self._in_flight: OrderedDict[int, PublishHandle] = OrderedDict()
        self._cursor = 0  # highest row id sent on the current connection
        self._sent_before: set[int] = set()  # sent at least once, not yet acked
        self._undeleted: set[int] = set()  # acked, but the outbox could not delete them yet
        self._delete_failing = False
        self._published = 0
        self._acked = 0
        self._resent = 0
        self._rejected = 0
        outbox.add_put_listener(self._wake.set)
        link.add_connection_listener(lambda _up: self._wake.set())
        link.add_publish_listener(lambda _mid: self._wake.set())

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)
        self._thread.start()

    def stop(self, drain_timeout_s: float = 2.0) -> None:
        """Give pending messages up to `drain_timeout_s` to be acknowledged, then stop.

        Whatever is not acknowledged by then stays in the outbox for the next start.
        """
        thread = self._thread
        if thread is None:
            return
        if drain_timeout_s > 0 and self._link.connected and not self.flush(drain_timeout_s):
            logger.warning(
                "stopping with %s messages unsent; they stay in the outbox", self._outbox.size()
            )
        self._stopping.set()
        self._wake.set()
        thread.join(timeout=10.0)
        if thread.is_alive():
            logger.error("publisher thread did not stop within 10 s")
        self._thread = None

    def flush(self, timeout: float) -> bool:
        """Wait until the outbox is empty (everything acknowledged); False on timeout."""
        with self._progress:
            return self._progress.wait_for(lambda: self._outbox.size() == 0, timeout)

    def stats(self) -> PublisherStats:
        oldest = self._outbox.pending(1)
        return PublisherStats(
            published=self._published,
            acked=self._acked,
            resent=self._resent,
            rejected=self._rejected,
            backlog=self._outbox.size(),
            in_flight=len(self._in_flight),
            oldest_age_s=max(0.0, self._clock.now() - oldest[0].created_at) if oldest else None,
            connected=self._link.connected,
        )

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        logger.info("publisher started: %s messages waiting", self._outbox.size())
        while not self._stopping.is_set():
            # Clear before looking, so a wake-up that arrives while we work is not lost.
            self._wake.clear()
            try:
                self._step()
            except Exception:
                # The outbox keeps the rows; retrying later is always safe.
                logger.exception("publisher step failed; retrying in %.0f s", _ERROR_BACKOFF_S)
                self._stopping.wait(_ERROR_BACKOFF_S)
                continue
            self._wake.wait(_ERROR_BACKOFF_S if self._undeleted else _IDLE_WAKE_S)
        logger.info("publisher stopped: %s messages left in the outbox", self._outbox.size())

    def _step(self) -> None:
        # A PUBACK is good news whichever connection it came on, so collect before resetting.
        self._collect_acks()
        session = self._link.session
        if session != self._session:
            self._restart(session)
        if session is not None:
            self._fill_window(session)

    def _restart(self, session: int | None) -> None:
        if self._in_flight:
            logger.info(
                "connection changed with %s messages unacknowledged; they will be resent",
                len(self._in_flight),
            )
        self._in_flight.clear()
        self._session = session
        self._cursor = 0

    def _collect_acks(self) -> None:
        done = [rowid for rowid, handle in self._in_flight.items() if handle.is_published()]
        for rowid in done:
            del self._in_flight[rowid]
            self._sent_before.discard(rowid)
        self._acked += len(done)
        self._undeleted.update(done)
        if not self._undeleted:
            return
        try:
            self._outbox.ack_many(sorted(self._undeleted))
        except OutboxError as exc:
            if not self._delete_failing:
                self._delete_failing = True
                logger.error(
                    "cannot delete acknowledged messages from the outbox (%s); sending goes"
                    " on and they are deleted once it takes writes again",
                    exc,
                )
            return
        if self._delete_failing:
            self._delete_failing = False
            logger.info("deleted %s acknowledged messages from the outbox", len(self._undeleted))
        self._undeleted.clear()
        self._notify_progress()

    def _fill_window(self, session: int) -> None:
        while (room := self._window - len(self._in_flight)) > 0:
            rows = self._outbox.pending(room, after_rowid=self._cursor)
            if not rows:
                return
            if not self._send(rows, session):
                return

    def _send(self, rows: list[OutboxMessage], session: int) -> bool:
        """Publish rows in order; False when the connection went away under us."""
        for row in rows:
            if row.rowid in self._undeleted:
                self._cursor = row.rowid  # acknowledged already, only not deleted yet
                continue
            try:
                handle = self._link.publish(row.topic, row.payload, row.qos, row.retain)
            except ValueError as exc:
                self._reject(row, exc)
                continue
            if not handle.sent or handle.session != session:
                # The connection went away under us; the link's listener has woken us, and
                # the next step restarts from the oldest row.
                return False
            self._in_flight[row.rowid] = handle
            self._cursor = row.rowid
            self._published += 1
            if row.rowid in self._sent_before:
                self._resent += 1
            else:
                self._sent_before.add(row.rowid)
        return True

    def _reject(self, row: OutboxMessage, exc: ValueError) -> None:
        # A row the broker can never accept must not block every row behind it.
        logger.error("dropping outbox row %s for %s: %s", row.rowid, row.topic, exc)
        try:
            self._outbox.ack(row.rowid)
        except OutboxError:
            self._undeleted.add(row.rowid)  # deleted with the next acknowledgements
        self._rejected += 1
        self._cursor = row.rowid
        self._notify_progress()

    def _notify_progress(self) -> None:
        with self._progress:
            self._progress.notify_all()
