"""Sends the command outbox over the console's MQTT connection, signed at the moment of sending.

A row is claimed before it is sent (a compare-and-set UPDATE that works the same on SQLite and
PostgreSQL), so two replicas never send it at once; a replica that dies holding a claim loses it
when `claimed_until` passes, or at once when it starts again under its client id. A row is
marked sent only after the broker's PUBACK. If the console dies between the PUBACK and that
mark, the command goes out once more, with a fresh nonce: the node answers a repeat that
changes nothing with `ok` and no event.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import ColumnElement, Engine, or_, select, update
from sqlalchemy.orm import Session

from grid_console.clock import Clock
from grid_console.commands.models import OutboxCommand
from grid_console.db.session import transaction
from grid_contract.signing import sign

logger = logging.getLogger(__name__)


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, timeout_s: float) -> bool: ...


class CommandSender:
    def __init__(
        self,
        engine: Engine,
        publisher: Publisher,
        key: str | None,
        clock: Clock,
        *,
        owner: str,
        poll_s: float = 1.0,
        claim_s: float = 30.0,
        publish_timeout_s: float = 10.0,
        batch: int = 50,
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._key = key
        self._clock = clock
        self._owner = owner
        self._poll_s = poll_s
        self._claim = timedelta(seconds=claim_s)
        self._publish_timeout_s = publish_timeout_s
        self._batch = batch
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console-commands", daemon=True)
        self._warned_no_key = False

    def start(self) -> None:
        released = transaction(self._engine, self._release_own_claims)
        if released:
            logger.warning("%d command(s) claimed by this replica before it stopped: "
                           "sending them now", released)  # fmt: skip
        self._thread.start()

    def _release_own_claims(self, session: Session) -> int:
        """Claims left by this replica's previous run (killed between claim and PUBACK) end
        now, not at lease end: a replica's owner name is its own MQTT client id, so one
        starting with it means the holder is gone, and a `release` that waits out the lease
        keeps a lift door held."""
        stmt = (
            update(OutboxCommand)
            .where(OutboxCommand.claimed_by == self._owner, OutboxCommand.sent_at.is_(None))
            .values(claimed_by=None, claimed_until=None)
        )
        return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def wake(self) -> None:
        """A command was just enqueued: send it now rather than at the next poll."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.send_due()
            except Exception:
                logger.exception("command outbox pass failed; retrying")
            self._wake.wait(self._poll_s)
            self._wake.clear()

    def send_due(self) -> int:
        """One pass over the outbox; returns how many commands the broker acknowledged."""
        if self._key is None:
            self._warn_no_key()
            return 0
        sent = 0
        for row_id in self._due_ids():
            if self._stopping.is_set():
                break
            row = self._claim_row(row_id)
            if row is None:
                continue  # another replica has it
            if not self._send(row, self._key):
                break  # broker unreachable: keep the order, try again later
            sent += 1
        return sent

    def _due_ids(self) -> list[int]:
        now = self._clock()
        stmt = (
            select(OutboxCommand.id)
            .where(OutboxCommand.sent_at.is_(None), _unclaimed(now))
            .order_by(OutboxCommand.id)
            .limit(self._batch)
        )
        with Session(self._engine) as session:
            return list(session.execute(stmt).scalars())

    def _claim_row(self, row_id: int) -> OutboxCommand | None:
        now = self._clock()

        def claim(session: Session) -> OutboxCommand | None:
            result = session.execute(
                update(OutboxCommand)
                .where(
                    OutboxCommand.id == row_id,
                    OutboxCommand.sent_at.is_(None),
                    _unclaimed(now),
                )
                .values(claimed_by=self._owner, claimed_until=now + self._claim)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
            return session.get(OutboxCommand, row_id)

        return transaction(self._engine, claim)

    def _send(self, row: OutboxCommand, key: str) -> bool:
        now = self._clock()
        body = sign(key, row.topic, row.body, by=row.by, now=now.timestamp())
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        ok = self._publisher.publish(row.topic, payload, self._publish_timeout_s)
        done = self._clock()
        self._finish(row.id, done, None if ok else "broker did not acknowledge")
        if ok:
            logger.info("sent %s for case %s on %s", row.command, row.case_id, row.topic)
        return ok

    def _finish(self, row_id: int, now: datetime, error: str | None) -> None:
        values: dict[str, object] = {
            "attempts": OutboxCommand.attempts + 1,
            "claimed_by": None,
            "claimed_until": None,
            "last_error": error,
        }
        if error is None:
            values["sent_at"] = now
        stmt = update(OutboxCommand).where(OutboxCommand.id == row_id).values(**values)
        transaction(self._engine, lambda s: s.execute(stmt))

    def _warn_no_key(self) -> None:
        if self._warned_no_key:
            return
        with Session(self._engine) as session:
            waiting = session.execute(
                select(OutboxCommand.id).where(OutboxCommand.sent_at.is_(None)).limit(1)
            ).first()
        if waiting is not None:
            self._warned_no_key = True
            logger.warning(
                "commands are waiting in the outbox but no --command-key-file was given: "
                "nothing is sent to nodes until the console has their key"
            )


def _unclaimed(now: datetime) -> ColumnElement[bool]:
    return or_(OutboxCommand.claimed_until.is_(None), OutboxCommand.claimed_until < now)
