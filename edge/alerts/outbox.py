"""The durable outbox: every message bound for the broker is on disk before anyone tries to send it.

The rules thread `put`s, the publisher thread reads `pending` rows and `ack`s them once the broker
has confirmed them (PUBACK). A row is deleted only then, so a broker outage, a network cut or a
`kill -9` of the node loses nothing: whatever is still in the table is sent after a restart.

SQLite in WAL mode with `synchronous=FULL`: a commit returns only after the WAL is fsynced, so a
`put` that returned survives power loss. Row ids come from AUTOINCREMENT so they never repeat,
even after the newest row was acked and deleted; the publisher relies on that to keep order.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from edge.clock import Clock

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    rowid      INTEGER PRIMARY KEY AUTOINCREMENT,
    topic      TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    qos        INTEGER NOT NULL,
    retain     INTEGER NOT NULL,
    created_at REAL    NOT NULL
)
"""

# Warn once when the backlog passes this share of max_rows; re-armed when it falls below half.
_WARN_FRACTION = 0.8
_MAX_TOPIC_BYTES = 65_535


class OutboxError(RuntimeError):
    """The outbox cannot be opened or used."""


class OutboxFullError(OutboxError):
    """The outbox holds `max_rows` unsent messages; nothing more is accepted until some are sent."""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One stored message. `rowid` orders messages: lower was put first."""

    rowid: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    created_at: float


class Outbox:
    """A bounded, durable FIFO of MQTT messages, safe to share between threads."""

    def __init__(self, path: Path, *, clock: Clock, max_rows: int = 1_000_000) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        self._path = path
        self._clock = clock
        self._max_rows = max_rows
        # One connection shared under a lock: SQLite serialises writers anyway, and a single
        # connection keeps the row count we cache in memory exact.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._listeners: list[Callable[[], None]] = []
        self._closed = False
        self._warned = False
        self._db, self._count = self._open(path)
        if self._count:
            logger.info("outbox %s opened with %s unsent messages", path, self._count)

    @staticmethod
    def _open(path: Path) -> tuple[sqlite3.Connection, int]:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise OutboxError(f"cannot open outbox database {path}: {exc}") from exc
        try:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"WAL journal mode refused (got {mode!r})")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(_SCHEMA)
            count = int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        except sqlite3.Error as exc:
            db.close()
            raise OutboxError(
                f"outbox database {path} is unusable ({exc}); move it aside to start afresh"
            ) from exc
        return db, count

    @property
    def path(self) -> Path:
        return self._path

    @property
    def max_rows(self) -> int:
        return self._max_rows

    def add_put_listener(self, callback: Callable[[], None]) -> None:
        """Call `callback()` after every successful put, on the putting thread; keep it short."""
        with self._lock:
            self._listeners.append(callback)

    def put(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        """Store a message durably and return its row id; raises OutboxFullError when full."""
        _check_message(topic, qos)
        with self._lock:
            self._check_open()
            if self._count >= self._max_rows:
                logger.error(
                    "outbox %s is full (%s unsent messages); refusing message for %s",
                    self._path,
                    self._count,
                    topic,
                )
                raise OutboxFullError(
                    f"outbox {self._path} is full: {self._count} unsent messages "
                    f"(max_rows={self._max_rows}); is the broker reachable?"
                )
            try:
                cur = self._db.execute(
                    "INSERT INTO outbox (topic, payload, qos, retain, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (topic, payload, qos, int(retain), self._clock.now()),
                )
            except sqlite3.Error as exc:
                raise OutboxError(f"cannot write to outbox {self._path}: {exc}") from exc
            rowid = cur.lastrowid
            assert rowid is not None
            self._count += 1
            self._warn_if_filling()
            self._cond.notify_all()
            listeners = list(self._listeners)
        for callback in listeners:
            callback()
        return rowid

    def pending(self, limit: int, after_rowid: int = 0) -> list[OutboxMessage]:
        """Up to `limit` unsent messages with row id above `after_rowid`, oldest first."""
        with self._lock:
            self._check_open()
            rows = self._db.execute(
                "SELECT rowid, topic, payload, qos, retain, created_at FROM outbox "
                "WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (after_rowid, limit),
            ).fetchall()
        return [
            OutboxMessage(
                rowid=int(r[0]),
                topic=str(r[1]),
                payload=bytes(r[2]),
                qos=int(r[3]),
                retain=bool(r[4]),
                created_at=float(r[5]),
            )
            for r in rows
        ]

    def ack(self, rowid: int) -> None:
        """Forget a message the broker has confirmed. Unknown ids are ignored (already acked)."""
        self.ack_many((rowid,))

    def ack_many(self, rowids: Iterable[int]) -> None:
        """Forget several confirmed messages in one transaction (one fsync instead of many)."""
        ids = [(r,) for r in rowids]
        if not ids:
            return
        with self._lock:
            self._check_open()
            try:
                self._db.execute("BEGIN IMMEDIATE")
                before = self._db.total_changes
                self._db.executemany("DELETE FROM outbox WHERE rowid = ?", ids)
                deleted = self._db.total_changes - before
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise OutboxError(f"cannot delete from outbox {self._path}: {exc}") from exc
            self._count -= deleted
            if self._warned and self._count < self._max_rows // 2:
                self._warned = False
                logger.info("outbox %s backlog back to %s messages", self._path, self._count)

    def size(self) -> int:
        """The number of unsent (unacknowledged) messages."""
        with self._lock:
            return self._count

    def wait_for_new(self, timeout: float) -> bool:
        """Sleep until the outbox holds at least one message; True if it does.

        Returns at once when messages are already waiting, so a consumer that checks, finds
        nothing and then waits can never miss a put that happened in between.
        """
        with self._cond:
            return self._cond.wait_for(lambda: self._count > 0 or self._closed, timeout) and (
                not self._closed
            )

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._db.close()
            self._cond.notify_all()

    def _check_open(self) -> None:
        if self._closed:
            raise OutboxError(f"outbox {self._path} is closed")

    def _warn_if_filling(self) -> None:
        if not self._warned and self._count >= self._max_rows * _WARN_FRACTION:
            self._warned = True
            logger.warning(
                "outbox %s is filling up: %s of %s messages unsent",
                self._path,
                self._count,
                self._max_rows,
            )


def _check_message(topic: str, qos: int) -> None:
    # Reject here what the broker would never accept, so one bad row cannot block the queue.
    if not topic or "+" in topic or "#" in topic or "\x00" in topic:
        raise ValueError(f"invalid MQTT topic for publishing: {topic!r}")
    if len(topic.encode("utf-8")) > _MAX_TOPIC_BYTES:
        raise ValueError(f"MQTT topic longer than {_MAX_TOPIC_BYTES} bytes: {topic[:60]!r}...")
    if qos not in (0, 1, 2):
        raise ValueError(f"qos must be 0, 1 or 2, got {qos}")
