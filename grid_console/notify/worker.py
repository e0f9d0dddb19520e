"""Sends what is owed: claims due deliveries, sends them in parallel, records every attempt.

Exactly one replica sends a delivery. Claiming is one short transaction: on PostgreSQL the due
rows are selected `FOR UPDATE SKIP LOCKED`, so replicas claiming at the same moment take
different rows instead of waiting for each other; on SQLite the transaction starts with
`BEGIN IMMEDIATE` (db/engine.py), so one writer claims at a time. The claim is a lease
(`claimed_until`), and the send happens after the claim commits: no database lock is held
while an endpoint takes its time, and a replica that dies mid-send loses its claim when the
lease ends. A dead endpoint holds up only its own delivery: it waits for its next due time
while the others are sent, and `parallel` sends run at once, so one endpoint that hangs until
the timeout does not delay the rest of a batch.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import ColumnElement, Engine, or_, select
from sqlalchemy.orm import Session

from grid_console.cases.models import Case, CaseEvent
from grid_console.clock import Clock, format_timestamp
from grid_console.db.session import transaction
from grid_console.failures import FailureLog
from grid_console.notify.http import SendResult
from grid_console.notify.message import SHANGHAI, Message, latest_snapshot, render
from grid_console.notify.models import Delivery, DeliveryAttempt, DeliveryStatus
from grid_console.notify.retry import RetryPolicy
from grid_console.notify.senders import Addressed, Senders

logger = logging.getLogger(__name__)
SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    public_url: str
    zone: tzinfo = SHANGHAI
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    lease_s: float = 120.0  # longer than any one send can take (timeout, SMTP dialogue)
    batch: int = 20
    parallel: int = 4
    poll_s: float = 1.0


class DeliveryWorker:
    def __init__(
        self, engine: Engine, senders: Senders, clock: Clock, *, owner: str,
        options: WorkerOptions,
    ) -> None:  # fmt: skip
        self._engine = engine
        self._senders = senders
        self._clock = clock
        self._owner = owner
        self._options = options
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console-notify", daemon=True)
        self._pool = ThreadPoolExecutor(options.parallel, thread_name_prefix="console-send")
        self._failures = FailureLog(logger, "notification worker", clock)

    def start(self) -> None:
        released = transaction(self._engine, self._release_own_claims)
        if released:
            logger.warning("%d notification(s) claimed by this replica before it stopped: "
                           "sending them now", released)  # fmt: skip
        self._thread.start()

    def _release_own_claims(self, session: Session) -> int:
        """Claims left by this replica's previous run (killed mid-send) end now, not at lease end.

        A replica's owner name is its MQTT client id, which is its own (docs/console.md); a
        replica starting with it means the one that held these claims is gone. Waiting out the
        120 s lease would hold back a smoke alarm's message past its 60 s answer deadline.
        """
        rows = session.execute(
            select(Delivery)
            .where(Delivery.claimed_by == self._owner, Delivery.status == DeliveryStatus.PENDING)
            .with_for_update()
        ).scalars()
        count = 0
        for row in rows:
            row.claimed_by = None
            row.claimed_until = None
            count += 1
        return count

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._pool.shutdown(wait=True)

    def wake(self) -> None:
        """Deliveries were just enqueued: send them now rather than at the next poll."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.run_due()
            except Exception as exc:
                self._failures.failed(exc, "notification pass failed; retrying")
            else:
                self._failures.succeeded()
            self._wake.wait(self._options.poll_s)
            self._wake.clear()

    def run_due(self) -> int:
        """One pass: claim what is due, send it, record it. Returns the attempts made."""
        claimed = transaction(self._engine, self._claim)
        if not claimed:
            return 0
        futures = [self._pool.submit(self._attempt, to) for to in claimed]
        for future in futures:
            future.result()
        return len(claimed)

    def _claim(self, session: Session) -> list[Addressed]:
        now = self._clock()
        stmt = (
            select(Delivery)
            .where(Delivery.status == DeliveryStatus.PENDING, Delivery.due_at <= now,
                   _unclaimed(now))
            .order_by(Delivery.due_at, Delivery.id)
            .limit(self._options.batch)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite: BEGIN IMMEDIATE instead
        )  # fmt: skip
        rows = list(session.execute(stmt).scalars())
        until = now + timedelta(seconds=self._options.lease_s)
        for row in rows:
            row.claimed_by = self._owner
            row.claimed_until = until
        return [Addressed(r.id, r.recipient, r.channel_kind, r.target, r.secret) for r in rows]

    def _attempt(self, to: Addressed) -> None:
        started = self._clock()
        try:
            message, case = self._compose(to.delivery_id)
            result = self._senders.send(to, message, case, started)
        except Exception as exc:  # a bug must cost one attempt, not the worker
            logger.exception("notification %s could not be sent", to.delivery_id)
            result = SendResult(False, f"internal error: {type(exc).__name__}: {exc}"[:500])
        finished = self._clock()
        transaction(self._engine, lambda s: self._record(s, to, result, started, finished))
        level = logging.INFO if result.ok else logging.WARNING
        logger.log(level, "notification %s to %s by %s: %s", to.delivery_id, to.recipient,
                   to.kind, "sent" if result.ok else result.detail)  # fmt: skip

    def _compose(self, delivery_id: int) -> tuple[Message, dict[str, object]]:
        with Session(self._engine) as session:
            delivery = session.get(Delivery, delivery_id)
            case = session.get(Case, delivery.case_id) if delivery else None
            if delivery is None or case is None:
                raise LookupError(f"delivery {delivery_id} or its case vanished")
            snapshot = latest_snapshot(session, case.alert_id)
            message = render(case, delivery.reason, public_url=self._options.public_url,
                             snapshot=snapshot, zone=self._options.zone)  # fmt: skip
            return message, case_summary(case)

    def _record(self, session: Session, to: Addressed, result: SendResult, started: datetime,
                finished: datetime) -> None:  # fmt: skip
        row = session.execute(
            select(Delivery).where(Delivery.id == to.delivery_id).with_for_update()
        ).scalar_one()
        row.attempts += 1
        session.add(DeliveryAttempt(
            delivery_id=row.id, attempt=row.attempts, started_at=started, finished_at=finished,
            worker=self._owner, ok=result.ok, http_status=result.http_status,
            detail=result.detail,
        ))  # fmt: skip
        if row.claimed_by != self._owner or row.status != DeliveryStatus.PENDING:
            # Our lease ran out and another replica took over: it decides the outcome.
            logger.warning("notification %s: claim lost while sending", row.id)
            return
        row.claimed_by = None
        row.claimed_until = None
        if result.ok:
            row.status = DeliveryStatus.SENT
            row.sent_at = finished
            row.last_error = None
            self._on_case(session, row, "notified", finished)
            return
        row.last_error = result.detail
        delay = self._options.retry.delay_after(row.attempts)
        if delay is None:
            row.status = DeliveryStatus.FAILED
            self._on_case(session, row, "notify_failed", finished)
        else:
            row.due_at = finished + delay

    def _on_case(self, session: Session, row: Delivery, action: str, at: datetime) -> None:
        """The outcome on the case's timeline, so the operator sees who was (not) reached."""
        state = session.execute(select(Case.state).where(Case.id == row.case_id)).scalar_one()
        note = f"{row.recipient} · {row.channel_kind} · {row.reason}"
        if row.status == DeliveryStatus.FAILED:
            note += f" · {row.attempts} attempts · {row.last_error or ''}"[:400]
        session.add(CaseEvent(
            case_id=row.case_id, at=at, actor=SYSTEM, action=action, from_state=state,
            to_state=state, note=note, source="system",
            detail={"delivery_id": row.id, "recipient": row.recipient,
                    "channel": row.channel_kind, "reason": row.reason,
                    "attempts": row.attempts},
        ))  # fmt: skip


def case_summary(case: Case) -> dict[str, object]:
    """The case as the webhook receives it."""
    return {
        "id": case.id, "alert_id": case.alert_id, "kind": case.kind, "severity": case.severity,
        "state": case.state, "grid": case.grid, "location": case.location,
        "building": case.building, "floor": case.floor, "lon": case.lon, "lat": case.lat,
        "site": case.site, "node": case.node, "camera": case.camera, "zone": case.zone,
        "sensor": case.sensor, "opened_at": format_timestamp(case.opened_at),
    }  # fmt: skip


def _unclaimed(now: datetime) -> ColumnElement[bool]:
    return or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now)
