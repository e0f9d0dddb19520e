"""Writing deadline rows, inside the transaction that changes the case."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.orm import Session

from grid_console.cases.models import Case
from grid_console.deadlines.models import Deadline


class DeadlineKind(StrEnum):
    RESPONSE = "response"  # from the alert to a patrol accepting
    HANDLE = "handle"  # from the alert to the patrol reporting it handled
    DEFER_DUE = "defer_due"  # a deferred (挂账) case comes back


def schedule(
    session: Session, case: Case, kind: DeadlineKind, due_at: datetime, now: datetime
) -> None:
    session.add(Deadline(case_id=case.id, kind=kind.value, due_at=due_at, step=0, created_at=now))


def schedule_case(session: Session, case: Case, now: datetime) -> None:
    """The response and handling deadlines of a case, from its stored due times."""
    schedule(session, case, DeadlineKind.RESPONSE, case.response_due_at, now)
    schedule(session, case, DeadlineKind.HANDLE, case.handle_due_at, now)


def move_case_deadlines(session: Session, case: Case) -> None:
    """The case's due times moved earlier (an older event showed an earlier start)."""
    for kind, due in (
        (DeadlineKind.RESPONSE, case.response_due_at),
        (DeadlineKind.HANDLE, case.handle_due_at),
    ):
        session.execute(
            update(Deadline)
            .where(
                Deadline.case_id == case.id,
                Deadline.kind == kind.value,
                Deadline.done_at.is_(None),
                Deadline.step == 0,
            )
            .values(due_at=due)
        )


def cancel_pending(session: Session, case: Case, now: datetime, outcome: str) -> None:
    """End every pending deadline of the case (it was deferred, or came back with new ones)."""
    session.execute(
        update(Deadline)
        .where(Deadline.case_id == case.id, Deadline.done_at.is_(None))
        .values(done_at=now, outcome=outcome)
    )
