"""Auto-dispatch: who a registered case goes to, decided inside the caller's transaction.

The case's grid first, then up its parents (a micro-grid with nobody on duty falls back to its
grid's patrols); nobody on duty anywhere: the grid head. Nobody at all: the case stays
registered (red) for the operator, with an audit row that says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from grid_console.auth.roles import Role
from grid_console.cases.machine import STATE_COLOURS, Action, State
from grid_console.cases.models import Case, CaseAssignee, CaseEvent
from grid_console.dispatch.notify_hook import SYSTEM, notification_due
from grid_console.dispatch.policy import DispatchMode, DispatchPolicy
from grid_console.people.models import Person
from grid_console.people.roster import nearest_present, on_duty
from grid_console.people.service import ancestry

_GOERS = frozenset({Role.PATROL})


@dataclass(frozen=True, slots=True)
class Choice:
    """Who the rules send a case to now, and why (the notification's reason)."""

    mode: DispatchMode
    people: list[Person]
    reason: str
    heads: list[Person]


def choose(session: Session, case: Case, now: datetime, policy: DispatchPolicy) -> Choice:
    mode = policy.mode(case.kind, case.severity)
    heads = nearest_present(session, case.grid, Role.GRID_HEAD, now)
    if mode is DispatchMode.MANUAL:
        return Choice(mode, [], "manual", heads)
    roles = None if mode is DispatchMode.ALL_ON_DUTY else _GOERS
    people: list[Person] = []
    for grid_id in ancestry(session, case.grid) if case.grid else []:
        people = on_duty(session, grid_id, now, roles=roles, timezone=policy.timezone)
        if people:
            return Choice(mode, people, f"dispatch:{mode.value}", heads)
    return Choice(mode, heads, "dispatch:grid_head_fallback", heads)


def auto_dispatch(session: Session, case: Case, now: datetime, policy: DispatchPolicy) -> bool:
    """Dispatch a registered case by the rules; return whether it was dispatched."""
    if case.state != State.REGISTERED.value:
        return False
    choice = choose(session, case, now, policy)
    if choice.mode is DispatchMode.MANUAL:
        return False
    if not choice.people:
        session.add(
            CaseEvent(
                case_id=case.id,
                at=now,
                actor=SYSTEM,
                action="dispatch_none",
                from_state=case.state,
                to_state=case.state,
                source="system",
                note="无人值班且无网格长 / nobody on duty and no grid head: dispatch by hand",
                detail={"mode": choice.mode.value, "grid": case.grid},
            )
        )
        return False
    send(session, case, choice, choice.people, now, note=None)
    return True


def send(
    session: Session,
    case: Case,
    choice: Choice,
    people: list[Person],
    now: datetime,
    *,
    note: str | None,
) -> CaseEvent:
    """Dispatch to `people` as the system, and owe them (and, for critical routing, the grid
    head) their notifications."""
    event = dispatch_to(session, case, people, actor=SYSTEM, source="system", note=note, now=now)
    # The event id makes each dispatch its own notification (the senders deduplicate by reason).
    notification_due(session, case, people, f"{choice.reason}#{event.id}", now)
    if choice.mode is DispatchMode.ALL_ON_DUTY:
        told = [h for h in choice.heads if h.id not in {p.id for p in people}]
        notification_due(session, case, told, f"critical:grid_head#{event.id}", now)
    return event


def dispatch_to(
    session: Session,
    case: Case,
    people: list[Person],
    *,
    actor: str,
    source: str,
    note: str | None,
    now: datetime,
) -> CaseEvent:
    """Move the case to dispatched, to `people` (ending any earlier assignment)."""
    before = case.state
    session.execute(
        update(CaseAssignee)
        .where(CaseAssignee.case_id == case.id, CaseAssignee.active.is_(True))
        .values(active=False)
    )
    for person in people:
        session.add(
            CaseAssignee(
                case_id=case.id,
                username=person.username,
                assigned_at=now,
                assigned_by=actor,
                active=True,
            )
        )
    case.state = State.DISPATCHED.value
    case.colour = STATE_COLOURS[State.DISPATCHED].value
    case.assignee = people[0].username if len(people) == 1 else None
    case.updated_at = now
    event = CaseEvent(
        case_id=case.id,
        at=now,
        actor=actor,
        action=Action.DISPATCH.value,
        from_state=before,
        to_state=State.DISPATCHED.value,
        note=note,
        source=source,
        detail={"to": [p.username for p in people]},
    )
    session.add(event)
    session.flush()
    return event


def active_assignees(session: Session, case_id: int) -> list[str]:
    stmt = (
        select(CaseAssignee.username)
        .where(CaseAssignee.case_id == case_id, CaseAssignee.active.is_(True))
        .order_by(CaseAssignee.id)
    )
    return list(session.execute(stmt).scalars())
