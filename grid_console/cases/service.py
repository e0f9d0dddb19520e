"""People's actions on cases, and reading cases: each action one transaction.

`apply_action` checks the action against the transition table (cases/machine.py), then writes
the new state, the audit row and, for a false alarm or a close, the node command to the outbox,
all in one transaction: either the whole change happened or none of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from grid_console.cases.machine import (
    STATE_COLOURS,
    TERMINAL,
    Action,
    State,
    transition_for,
)
from grid_console.cases.models import Case, CaseEvent
from grid_console.commands.outbox import enqueue
from grid_console.db.session import transaction

MAX_LIST = 1000


class CaseNotFoundError(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class CaseFilter:
    state: str | None = None
    grid: str | None = None
    kind: str | None = None
    limit: int = 200


@dataclass(frozen=True, slots=True)
class ActionResult:
    case: Case
    event: CaseEvent
    command_id: int | None


class CaseService:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def apply_action(
        self,
        case_id: int,
        action: str,
        actor: str,
        note: str | None,
        now: datetime,
        *,
        to: str | None = None,
    ) -> ActionResult:
        """Move case `case_id` by `action`, or raise InvalidTransitionError, NoteRequiredError
        or CaseNotFoundError (nothing is written then)."""
        return transaction(
            self._engine,
            lambda s: _apply(s, case_id, action=action, actor=actor, note=note, now=now, to=to),
        )

    def list_cases(self, flt: CaseFilter) -> list[Case]:
        stmt = select(Case).order_by(Case.id.desc()).limit(min(max(flt.limit, 1), MAX_LIST))
        if flt.state:
            stmt = stmt.where(Case.state == flt.state)
        if flt.grid:
            stmt = stmt.where(Case.grid == flt.grid)
        if flt.kind:
            stmt = stmt.where(Case.kind == flt.kind)
        with Session(self._engine) as session:
            return list(session.execute(stmt).scalars())

    def get_case(self, case_id: int) -> tuple[Case, list[CaseEvent]]:
        with Session(self._engine) as session:
            case = session.get(Case, case_id)
            if case is None:
                raise CaseNotFoundError(f"no case {case_id}")
            events = session.execute(
                select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
            ).scalars()
            return case, list(events)


def _apply(
    session: Session,
    case_id: int,
    *,
    action: str,
    actor: str,
    note: str | None,
    now: datetime,
    to: str | None,
) -> ActionResult:
    case = session.execute(
        select(Case).where(Case.id == case_id).with_for_update()
    ).scalar_one_or_none()
    if case is None:
        raise CaseNotFoundError(f"no case {case_id}")
    before = State(case.state)
    row = transition_for(before, action, note)
    case.state = row.target.value
    case.colour = STATE_COLOURS[row.target].value
    case.updated_at = now
    if row.action is Action.DISPATCH:
        case.assignee = to
    if row.action is Action.ACCEPT:
        case.accepted_at = now
    case.closed_at = now if row.target in TERMINAL else None
    event = CaseEvent(
        case_id=case.id,
        at=now,
        actor=actor,
        action=row.action.value,
        from_state=before.value,
        to_state=row.target.value,
        note=note,
        source="api",
        detail={"to": to} if to else {},
    )
    session.add(event)
    session.flush()
    command_id = None
    if row.node_command is not None:
        body: dict[str, object] = {
            "request_id": f"case-{case.id}-{event.id}",
            "alert_id": case.alert_id,
        }
        if note:
            body["note"] = note
        command = enqueue(
            session,
            prefix=case.node_prefix,
            command=row.node_command,
            body=body,
            by=actor,
            now=now,
            case_id=case.id,
        )
        command_id = command.id
    return ActionResult(case=case, event=event, command_id=command_id)
