"""Cases waiting on people who are now on leave go back to the rules (交接).

A case dispatched to a patrol who then calls in sick would sit unanswered until its response
deadline escalated it. Each pass of the deadline job therefore looks for dispatched cases (not
yet accepted) whose every current assignee is on leave, and dispatches them again by the rules
as they stand now: to the stand-in, someone else on duty, or the grid head. A case whose rules
give nobody who is not on leave stays as it is, and its deadline escalates it as before; it is
never dispatched around in circles. Accepted cases stay with whoever accepted them.

Each case is handed over in its own transaction, its row locked (`FOR UPDATE SKIP LOCKED` on
PostgreSQL) and checked again, so replicas running the pass at once hand a case over once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from grid_console.cases.machine import State
from grid_console.cases.models import Case, CaseAssignee
from grid_console.cases.policy import CasePolicy
from grid_console.dispatch.auto import active_assignees, choose, send
from grid_console.kinds.overlay import effective_policy
from grid_console.people.roster import on_leave

NOTE = "原派遣人员请假，按排班转派 / the people it was sent to are on leave: dispatched again"


def hand_over_one(
    session: Session, now: datetime, policy: CasePolicy, passed: set[int]
) -> int | None:
    """Hand over one case; return its id, or None when no case is left to look at. A case
    looked at and left as it is goes into `passed`, so that one pass looks at it once."""
    away = on_leave(session, now)
    if not away:
        return None
    waiting = (
        select(Case.id)
        .join(CaseAssignee, CaseAssignee.case_id == Case.id)
        .where(
            Case.state == State.DISPATCHED.value,
            CaseAssignee.active.is_(True),
            CaseAssignee.username.in_(away),
        )
        .distinct()
        .order_by(Case.id)
    )
    for case_id in session.execute(waiting).scalars():
        if case_id in passed:
            continue
        case = session.execute(
            select(Case).where(Case.id == case_id).with_for_update(skip_locked=True)
        ).scalar_one_or_none()
        passed.add(case_id)
        if case is None or case.state != State.DISPATCHED.value:
            continue  # another replica has it, or it moved on meanwhile
        if not set(active_assignees(session, case.id)) <= away:
            continue  # someone it was sent to is still out there
        # The admins' per-kind routing as committed now, whichever replica changed it.
        choice = choose(session, case, now, effective_policy(session, policy).dispatch)
        people = [p for p in choice.people if p.username not in away]
        if not people:
            continue
        send(session, case, choice, people, now, note=NOTE)
        return case_id
    return None
