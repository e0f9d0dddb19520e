"""The deadline job: acts on each due deadline exactly once, whichever replica gets to it.

Each pass claims one due row at a time in its own transaction: `FOR UPDATE SKIP LOCKED` on
PostgreSQL, so replicas running the job at the same moment take different rows and none waits
on another; on SQLite, BEGIN IMMEDIATE lets one writer in at a time, so the second replica
finds the row already done. The row's change and the case's change commit together, so a
replica killed halfway leaves the row due for the next pass, never acted on twice.

What a due row does (`step` counts how far it went):
- response / handle, step 0, while the case still waits for that: the case turns red, the
  people it is with are told again, and the grid head is told (督办 level 1); the row moves on
  to step 1, due `escalate_s` later.
- step 1, still waiting: the grid leader is told (督办 level 2); the row is done.
- the case has moved on (accepted, handled, closed, deferred): the row is done as `met`.
- defer_due, while the case is still deferred: it comes back as registered (red), is
  dispatched again by the rules and the grid head is told.

After the deadlines, the same pass hands over the cases waiting on people now on leave
(dispatch/handover.py): a leave starts at a time, like a deadline.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from grid_console.auth.roles import Role
from grid_console.cases.machine import (
    AWAITING_HANDLING,
    AWAITING_RESPONSE,
    STATE_COLOURS,
    Colour,
    State,
)
from grid_console.cases.models import Case, CaseEvent
from grid_console.cases.policy import CasePolicy
from grid_console.clock import Clock
from grid_console.db.session import transaction
from grid_console.deadlines.models import Deadline
from grid_console.deadlines.schedule import DeadlineKind
from grid_console.dispatch.auto import active_assignees, auto_dispatch
from grid_console.dispatch.handover import hand_over_one
from grid_console.dispatch.notify_hook import SYSTEM, notification_due
from grid_console.kinds.overlay import effective_policy
from grid_console.people.models import Person
from grid_console.people.roster import nearest_present
from grid_console.periodic import Periodic

logger = logging.getLogger(__name__)


class DeadlineJob:
    def __init__(self, engine: Engine, policy: CasePolicy, *, owner: str) -> None:
        self._engine = engine
        self._policy = policy
        self._owner = owner

    def run_once(self, now: datetime, *, limit: int = 1000) -> int:
        """Act on every deadline due at `now`, then hand over the cases waiting on people on
        leave (at most `limit` of each); return how many acts."""
        acted = 0
        while acted < limit:
            if not transaction(self._engine, lambda s: self._one(s, now)):
                break
            acted += 1
        passed: set[int] = set()
        for _ in range(limit):
            if (
                transaction(self._engine, lambda s: hand_over_one(s, now, self._policy, passed))
                is None
            ):
                break
            acted += 1
        return acted

    def _one(self, session: Session, now: datetime) -> bool:
        row = session.execute(
            select(Deadline)
            .where(Deadline.done_at.is_(None), Deadline.due_at <= now)
            .order_by(Deadline.due_at, Deadline.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).scalar_one_or_none()
        if row is None:
            return False
        case = session.execute(
            select(Case).where(Case.id == row.case_id).with_for_update()
        ).scalar_one()
        row.acted_by = self._owner
        if row.kind == DeadlineKind.DEFER_DUE.value:
            self._undefer(session, row, case, now)
        else:
            self._breach(session, row, case, now)
        return True

    def _breach(self, session: Session, row: Deadline, case: Case, now: datetime) -> None:
        waiting = (
            AWAITING_RESPONSE if row.kind == DeadlineKind.RESPONSE.value else AWAITING_HANDLING
        )
        if State(case.state) not in waiting:
            row.done_at, row.outcome = now, "met"
            return
        label = (
            "响应超时 / response overdue"
            if row.kind == "response"
            else "处置超时 / handling overdue"
        )
        if row.step == 0:
            case.colour = Colour.RED.value
            case.escalation_level = max(case.escalation_level, 1)
            case.updated_at = now
            heads = nearest_present(session, case.grid, Role.GRID_HEAD, now)
            _audit(
                session,
                case,
                now,
                "overdue",
                note=label,
                detail={"deadline": row.kind, "due_at": row.due_at.isoformat()},
            )
            _audit(
                session,
                case,
                now,
                "supervise",
                note=f"督办网格长 / escalated to the grid head: {label}",
                detail={"level": 1, "to": [p.username for p in heads], "deadline": row.kind},
            )
            notification_due(
                session, case, _assignees(session, case), f"overdue:{row.kind}#{row.id}", now
            )
            notification_due(session, case, heads, f"supervise:{row.kind}#{row.id}:1", now)
            row.step = 1
            row.due_at = now + timedelta(seconds=self._policy.escalate_s)
            row.outcome = "escalated"
            return
        leaders = nearest_present(session, case.grid, Role.GRID_LEADER, now)
        case.escalation_level = max(case.escalation_level, 2)
        case.updated_at = now
        _audit(
            session,
            case,
            now,
            "supervise",
            note=f"督办包网格领导 / escalated to the grid leader: {label}",
            detail={"level": 2, "to": [p.username for p in leaders], "deadline": row.kind},
        )
        notification_due(session, case, leaders, f"supervise:{row.kind}#{row.id}:2", now)
        row.step = 2
        row.done_at, row.outcome = now, "escalated"

    def _undefer(self, session: Session, row: Deadline, case: Case, now: datetime) -> None:
        row.done_at = now
        if case.state != State.DEFERRED.value:
            row.outcome = "met"  # reopened or closed by hand before its date
            return
        row.outcome = "returned"
        case.state = State.REGISTERED.value
        case.colour = STATE_COLOURS[State.REGISTERED].value
        case.deferred_until = None
        case.closed_at = None
        case.updated_at = now
        session.add(
            CaseEvent(
                case_id=case.id,
                at=now,
                actor=SYSTEM,
                action="undefer",
                from_state=State.DEFERRED.value,
                to_state=State.REGISTERED.value,
                note="挂账到期 / the deferral is due",
                source="system",
                detail={"deadline": row.id},
            )
        )
        session.flush()
        heads = nearest_present(session, case.grid, Role.GRID_HEAD, now)
        notification_due(session, case, heads, f"undefer#{row.id}", now)
        # The admins' per-kind routing as committed now, whichever replica changed it.
        auto_dispatch(session, case, now, effective_policy(session, self._policy).dispatch)


class DeadlineWorker(Periodic):
    """Runs the job every `poll_s` in a thread of the console replica."""

    def __init__(self, job: DeadlineJob, clock: Clock, *, poll_s: float = 1.0) -> None:
        super().__init__(job.run_once, clock, poll_s=poll_s, name="console-deadlines",
                         what="deadline job", logger=logger)  # fmt: skip


def _assignees(session: Session, case: Case) -> list[Person]:
    names = active_assignees(session, case.id)
    if case.assignee and case.assignee not in names:
        names.append(case.assignee)
    if not names:
        return []
    return list(session.execute(select(Person).where(Person.username.in_(names))).scalars())


def _audit(
    session: Session,
    case: Case,
    now: datetime,
    action: str,
    *,
    note: str,
    detail: dict[str, object],
) -> None:
    session.add(
        CaseEvent(
            case_id=case.id,
            at=now,
            actor=SYSTEM,
            action=action,
            from_state=case.state,
            to_state=case.state,
            note=note,
            source="system",
            detail=detail,
        )
    )
