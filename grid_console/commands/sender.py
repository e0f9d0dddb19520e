"""Sends the command outbox over the console's MQTT connection, signed at the moment of sending.

A row is claimed before it is sent (a compare-and-set UPDATE that works the same on SQLite and
PostgreSQL), so two replicas never send it at once; a replica that dies holding a claim loses it
when `claimed_until` passes, or at once when it starts again under its client id. A row is
marked sent only after the broker's PUBACK. If the console dies between the PUBACK and that
mark, the command goes out once more, with a fresh nonce: the node answers a repeat that
changes nothing with `ok` and no event.

Each command is signed with its node's key (grid_console/commands/keys.py). A command for a node
the console has no key for is neither sent unsigned nor dropped: it stays in the outbox, is
warned about once per node, and goes out when the console starts again with that node's key.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import ColumnElement, Engine, or_, select, update
from sqlalchemy.orm import Session

from grid_console.clock import Clock
from grid_console.commands.keys import OPTION, CommandKeys, node_of
from grid_console.commands.models import OutboxCommand
from grid_console.db.session import transaction
from grid_console.failures import FailureLog
from grid_contract.signing import sign

logger = logging.getLogger(__name__)


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, timeout_s: float) -> bool: ...


class CommandSender:
    def __init__(
        self,
        engine: Engine,
        publisher: Publisher,
        keys: CommandKeys,
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
        self._keys = keys
        self._clock = clock
        self._owner = owner
        self._poll_s = poll_s
        self._claim = timedelta(seconds=claim_s)
        self._publish_timeout_s = publish_timeout_s
        self._batch = batch
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console-commands", daemon=True)
        self._failures = FailureLog(logger, "command outbox", clock)
        # The nodes already warned about; replaced, never changed in place, so that
        # /api/health reads it from another thread without a lock.
        self._waiting_for_key: frozenset[str] = frozenset()
        # Topics of nodes the console has no key for: keys are read at start only, so such a
        # topic stays key-less until a restart, and its rows are left out of later passes
        # instead of being read again on each one (60 waiting rows, read every second).
        self._keyless_topics: set[str] = set()

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
            except Exception as exc:
                self._failures.failed(exc, "command outbox pass failed; retrying")
            else:
                self._failures.succeeded()
            self._wake.wait(self._poll_s)
            self._wake.clear()

    @property
    def waiting_for_key(self) -> list[str]:
        """The nodes (`site/node`) with a command waiting because the console has no key."""
        return sorted(self._waiting_for_key)

    def send_due(self) -> int:
        """One pass over the outbox; returns how many commands the broker acknowledged."""
        sent = 0
        for row_id, topic in self._due():
            if self._stopping.is_set():
                break
            key = self._key_for(topic)
            if key is None:
                self._keyless_topics.add(topic)
                continue  # waits in the outbox for a console that has the node's key
            row = self._claim_row(row_id)
            if row is None:
                continue  # another replica has it
            if not self._send(row, key):
                break  # broker unreachable: keep the order, try again later
            sent += 1
        return sent

    def _due(self) -> Iterator[tuple[int, str]]:
        """Every unsent, unclaimed row, oldest first, a page at a time: rows that wait for a
        key must not hide the rows behind them."""
        after = 0
        while True:
            page = self._due_page(after)
            yield from page
            if len(page) < self._batch:
                return
            after = page[-1][0]

    def _due_page(self, after: int) -> list[tuple[int, str]]:
        now = self._clock()
        stmt = (
            select(OutboxCommand.id, OutboxCommand.topic)
            .where(OutboxCommand.sent_at.is_(None), _unclaimed(now), OutboxCommand.id > after)
            .order_by(OutboxCommand.id)
            .limit(self._batch)
        )
        if self._keyless_topics:
            stmt = stmt.where(OutboxCommand.topic.not_in(sorted(self._keyless_topics)))
        with Session(self._engine) as session:
            return [(row_id, topic) for row_id, topic in session.execute(stmt).tuples()]

    def _key_for(self, topic: str) -> str | None:
        found = node_of(topic)
        key = self._keys.default if found is None else self._keys.key_for(*found)
        if key is None:
            self._warn_no_key("/".join(found) if found else topic)
        return key

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

    def _warn_no_key(self, node: str) -> None:
        if node in self._waiting_for_key:
            return
        self._waiting_for_key = self._waiting_for_key | {node}
        logger.warning(
            "发往 %s 的命令在待发队列中等待：没有该节点的命令密钥 / commands to %s wait in the "
            "outbox: the console has no key for this node; give --%s %s=FILE (or one FILE "
            "for every node) and restart the console to send them",
            node, node, OPTION, node,
        )  # fmt: skip


def _unclaimed(now: datetime) -> ColumnElement[bool]:
    return or_(OutboxCommand.claimed_until.is_(None), OutboxCommand.claimed_until < now)
