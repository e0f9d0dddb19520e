"""Alert state on disk, so an open alert is still open, with the same id, after a restart.

One row per alert, rewritten on every transition before its event goes into the outbox, and
marked `queued` once it is there: after a crash between the two writes, the manager finds the
unmarked payload and puts it in the outbox then (at worst a duplicate with the same (id, seq),
never an event the store does not know of). Closed alerts are kept for a while so late platform
commands about them still get a proper echo. A `DiskReserve` beside the database holds room for
the `storage_fault` alert on a full disk.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

from edge.alerts.evidence import Evidence
from edge.alerts.reserve import DEFAULT_RESERVE_BYTES, DiskReserve
from edge.messages import AlertKind, AlertObject, Box, Category, Severity

ACTIVE = ("open", "acknowledged")


@dataclass(slots=True)
class Actor:
    by: str
    at: float
    note: str | None = None
    command_id: str | None = None


@dataclass(slots=True)
class AlertRecord:
    """Everything the manager knows of one alert; payloads are built from it."""

    id: str
    key: str
    kind: AlertKind
    severity: Severity
    state: str
    seq: int
    started_wall: float
    raised_wall: float
    camera_id: str | None = None
    zone_id: str | None = None
    sensor_id: str | None = None
    objects: tuple[AlertObject, ...] = ()
    detail: dict[str, float | str | bool] = field(default_factory=dict)
    evidence: Evidence | None = None
    escalated: bool = False
    actor: Actor | None = None
    closed_wall: float | None = None
    # Loaded from disk and not yet confirmed again by a rule since the restart.
    restored: bool = False
    # Released as a false alarm, and the rule has not seen its condition clear yet: the same
    # parked car must stay silent across a restart or a reload too.
    silenced: bool = False

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


def _object_to_json(o: AlertObject) -> dict[str, object]:
    b = o.box
    return {"c": o.category.value, "n": o.class_name, "p": o.confidence,
            "b": [b.x1, b.y1, b.x2, b.y2], "t": o.track_id}  # fmt: skip


def _object_from_json(d: dict[str, object]) -> AlertObject:
    b = d["b"]
    assert isinstance(b, list)
    tid = d.get("t")
    return AlertObject(Category(str(d["c"])), str(d["n"]), float(str(d["p"])), Box(*map(float, b)),
                       int(str(tid)) if tid is not None else None)  # fmt: skip


def to_json(r: AlertRecord) -> str:
    ev = r.evidence
    return json.dumps(
        {
            "id": r.id, "key": r.key, "kind": r.kind.value, "severity": r.severity.value,
            "state": r.state, "seq": r.seq, "started": r.started_wall, "raised": r.raised_wall,
            "camera": r.camera_id, "zone": r.zone_id, "sensor": r.sensor_id,
            "objects": [_object_to_json(o) for o in r.objects], "detail": r.detail,
            "evidence": None if ev is None else [ev.snapshot_id, str(ev.path), ev.width,
                                                 ev.height, ev.bytes, ev.sha256],
            "escalated": r.escalated, "closed": r.closed_wall, "silenced": r.silenced,
            "actor": None if r.actor is None else [r.actor.by, r.actor.at, r.actor.note,
                                                   r.actor.command_id],
        },
        ensure_ascii=False,
    )  # fmt: skip


def from_json(text: str) -> AlertRecord:
    d = json.loads(text)
    ev, actor = d["evidence"], d["actor"]
    return AlertRecord(
        id=d["id"], key=d["key"], kind=AlertKind(d["kind"]), severity=Severity(d["severity"]),
        state=d["state"], seq=d["seq"], started_wall=d["started"], raised_wall=d["raised"],
        camera_id=d["camera"], zone_id=d["zone"], sensor_id=d["sensor"],
        objects=tuple(_object_from_json(o) for o in d["objects"]), detail=d["detail"],
        evidence=None if ev is None else Evidence(ev[0], Path(ev[1]), *ev[2:]),
        escalated=d["escalated"], closed_wall=d["closed"], silenced=d.get("silenced", False),
        actor=None if actor is None else Actor(*actor),
    )  # fmt: skip


class AlertStore:
    """SQLite (WAL, synchronous=FULL) table of alert records, safe to share between threads."""

    def __init__(
        self,
        path: Path,
        *,
        keep_closed_s: float = 7 * 86_400.0,
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.reserve = DiskReserve(path.with_name(path.name + ".reserve"), reserve_bytes)
        self._keep_closed = keep_closed_s
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS alerts (id TEXT PRIMARY KEY, active INTEGER NOT NULL,"
                " closed REAL, record TEXT NOT NULL, payload TEXT, kind TEXT, state TEXT,"
                " camera TEXT, updated REAL, queued INTEGER NOT NULL DEFAULT 1)"
            )
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(alerts)")}
            if "queued" not in columns:  # a store written before the column existed
                self._db.execute("ALTER TABLE alerts ADD COLUMN queued INTEGER NOT NULL DEFAULT 1")
        except sqlite3.DatabaseError as exc:
            raise OSError(f"cannot open the alert store {path}: {exc}") from exc
        self.reserve.ensure()

    def save(
        self,
        record: AlertRecord,
        payload: str | None = None,
        updated: float = 0.0,
        *,
        queued: bool = True,
    ) -> None:
        """Store the record and, for the API, the last payload published for it; with
        `queued=False` the payload is not in the outbox yet (`mark_queued` once it is)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO alerts (id, active, closed, record, payload, kind, state,"
                " camera, updated, queued) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.id, int(record.active), record.closed_wall, to_json(record), payload,
                 record.kind.value, record.state, record.camera_id, updated, int(queued)),
            )  # fmt: skip

    def mark_queued(self, alert_id: str) -> None:
        """The last payload saved for this alert is in the outbox now."""
        with self._lock:
            self._db.execute("UPDATE alerts SET queued = 1 WHERE id = ?", (alert_id,))

    def unqueued(self) -> list[tuple[str, str, str]]:
        """(id, kind, payload) of every saved payload not known to be in the outbox, oldest
        first: what a crash between the two writes left behind."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, kind, payload FROM alerts WHERE queued = 0 AND payload IS NOT NULL"
                " ORDER BY rowid"  # every save is a new row: the order they were saved in
            ).fetchall()
        return [(str(i), str(k), str(p)) for i, k, p in rows]

    def query(
        self,
        *,
        state: str | None = None,
        kind: str | None = None,
        camera: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 200,
    ) -> list[str]:
        """Last payloads (JSON text) of matching alerts, most recently updated first."""
        clauses: list[str] = ["payload IS NOT NULL"]
        args: list[str | float] = []
        for column, value in (("state", state), ("kind", kind), ("camera", camera)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            clauses.append("updated >= ?")
            args.append(since)
        if until is not None:
            clauses.append("updated <= ?")
            args.append(until)
        where = " AND ".join(clauses)
        sql = f"SELECT payload FROM alerts WHERE {where} ORDER BY updated DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*args, limit)).fetchall()
        return [str(r[0]) for r in rows]

    def resync_rows(self, since_wall: float | None) -> list[tuple[AlertRecord, str]]:
        """(record, last payload) of every alert not closed, and with `since_wall` also of
        those saved at or after it; the least recently updated first (the order they went)."""
        sql = (
            "SELECT record, payload FROM alerts WHERE payload IS NOT NULL"
            " AND (closed IS NULL OR updated >= ?) ORDER BY updated, rowid"
        )
        with self._lock:
            rows = self._db.execute(sql, (math.inf if since_wall is None else since_wall,))
            found = rows.fetchall()
        return [(from_json(r), str(p)) for r, p in found]

    def payload(self, alert_id: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT payload FROM alerts WHERE id = ?", (alert_id,)
            ).fetchone()
        return str(row[0]) if row and row[0] is not None else None

    def update_record(self, record: AlertRecord) -> None:
        """Store a change that published nothing (a silenced condition cleared); the last
        payload stays as it was."""
        with self._lock:
            self._db.execute(
                "UPDATE alerts SET record = ? WHERE id = ?", (to_json(record), record.id)
            )

    def load_silenced(self) -> list[AlertRecord]:
        """Released alerts whose condition had not cleared when the node stopped."""
        with self._lock:
            rows = self._db.execute(
                "SELECT record FROM alerts WHERE state = 'released' ORDER BY closed"
            ).fetchall()
        return [r for r in (from_json(text) for (text,) in rows) if r.silenced]

    def load_active(self) -> list[AlertRecord]:
        with self._lock:
            rows = self._db.execute("SELECT record FROM alerts WHERE active = 1").fetchall()
        return [from_json(r[0]) for r in rows]

    def get(self, alert_id: str) -> AlertRecord | None:
        with self._lock:
            row = self._db.execute("SELECT record FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return from_json(row[0]) if row else None

    def prune(self, now_wall: float) -> int:
        """Forget closed alerts older than the retention; returns how many."""
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM alerts WHERE active = 0 AND closed < ?",
                (now_wall - self._keep_closed,),
            )
            return cur.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
