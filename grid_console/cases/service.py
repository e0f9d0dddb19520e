"""People's actions on cases, and reading cases: each action one transaction.

`apply_action` checks who may act (the actor's role and grids, auth/roles.py), then the action
against the transition table (cases/machine.py), then writes the new state, the audit row (with
the acting user), the deadlines it implies and, for a false alarm or a close, the node commands
to the outbox (one per alert the case carries, `by` = the acting user), all in one transaction:
either the whole change happened or none of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from grid_console.auth.roles import CASE_ACTIONS, DISPATCHABLE, SEES_ALL_GRIDS, Role
from grid_console.cases.listing import MAX_LIST, CaseFilter, list_statement
from grid_console.cases.machine import (
    STATE_COLOURS,
    TERMINAL,
    Action,
    State,
    transition_for,
)
from grid_console.cases.models import Case, CaseAlert, CaseAssignee, CaseEvent, CasePhoto
from grid_console.cases.policy import CasePolicy
from grid_console.commands.outbox import enqueue
from grid_console.db.session import transaction
from grid_console.deadlines.schedule import (
    DeadlineKind,
    cancel_pending,
    schedule,
)
from grid_console.dispatch.auto import active_assignees, auto_dispatch, dispatch_to
from grid_console.dispatch.notify_hook import notification_due
from grid_console.kinds.overlay import effective_policy
from grid_console.people.models import Person


class CaseNotFoundError(LookupError):
    pass


class ForbiddenError(PermissionError):
    """The actor's role may not take this action."""


class InvalidInputError(ValueError):
    """A field of the request is wrong; `field` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a user name, their role, and the grids they may see (None: all of them)."""

    username: str
    role: Role
    grids: frozenset[str] | None = None

    def sees(self, grid: str | None) -> bool:
        return self.grids is None or (grid is not None and grid in self.grids)


def actor_for(username: str, role: Role, grids: frozenset[str]) -> Actor:
    return Actor(username, role, None if role in SEES_ALL_GRIDS else grids)


@dataclass(frozen=True, slots=True)
class ActionInput:
    action: str
    note: str | None = None
    to: Sequence[str] = ()
    photos: Sequence[str] = ()
    due: datetime | None = None


@dataclass(frozen=True, slots=True)
class ActionResult:
    case: Case
    event: CaseEvent
    command_ids: list[int] = field(default_factory=list)

    @property
    def command_id(self) -> int | None:
        return self.command_ids[0] if self.command_ids else None


@dataclass(frozen=True, slots=True)
class CaseView:
    case: Case
    assignees: list[str]
    alert_ids: list[str]
    photos: list[str]


class CaseService:
    def __init__(self, engine: Engine, policy: CasePolicy | None = None) -> None:
        self._engine = engine
        self._policy = policy or CasePolicy()

    @property
    def engine(self) -> Engine:
        return self._engine

    def apply_action(
        self,
        case_id: int,
        action: str,
        actor: str | Actor,
        note: str | None,
        now: datetime,
        *,
        to: str | Sequence[str] | None = None,
        photos: Sequence[str] = (),
        due: datetime | None = None,
    ) -> ActionResult:
        """Move case `case_id` by `action`, or raise InvalidTransitionError, NoteRequiredError,
        ForbiddenError, InvalidInputError or CaseNotFoundError (nothing is written then)."""
        who = actor if isinstance(actor, Actor) else Actor(actor, Role.OPERATOR)
        targets = [to] if isinstance(to, str) else list(to or ())
        request = ActionInput(action, note, targets, list(photos), due)
        return transaction(self._engine, lambda s: self._apply(s, case_id, request, who, now))

    def list_cases(self, flt: CaseFilter, now: datetime) -> tuple[list[Case], int | None]:
        """One page of cases (cases/listing.py), and the `before` of the next page (None: this
        was the last)."""
        with Session(self._engine) as session:
            found = list(session.execute(list_statement(flt, now)).scalars())
        page = found[: min(max(flt.limit, 1), MAX_LIST)]
        return page, (page[-1].id if len(found) > len(page) else None)

    def assignees(self, case_ids: Sequence[int]) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {i: [] for i in case_ids}
        if not case_ids:
            return found
        stmt = (
            select(CaseAssignee.case_id, CaseAssignee.username)
            .where(CaseAssignee.case_id.in_(case_ids), CaseAssignee.active.is_(True))
            .order_by(CaseAssignee.id)
        )
        with Session(self._engine) as session:
            for case_id, username in session.execute(stmt).tuples():
                found[case_id].append(username)
        return found

    def get_case(self, case_id: int, actor: Actor | None = None) -> tuple[Case, list[CaseEvent]]:
        with Session(self._engine) as session:
            case = session.get(Case, case_id)
            if case is None or (actor is not None and not actor.sees(case.grid)):
                raise CaseNotFoundError(f"no case {case_id}")
            events = session.execute(
                select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
            ).scalars()
            return case, list(events)

    def view(self, case_id: int, actor: Actor | None = None) -> CaseView:
        case, _ = self.get_case(case_id, actor)
        with Session(self._engine) as session:
            alerts = session.execute(
                select(CaseAlert.alert_id)
                .where(CaseAlert.case_id == case_id)
                .order_by(CaseAlert.id)
            ).scalars()
            photos = session.execute(
                select(CasePhoto.sha256).where(CasePhoto.case_id == case_id).order_by(CasePhoto.id)
            ).scalars()
            return CaseView(case, active_assignees(session, case_id), list(alerts), list(photos))

    def _apply(
        self, session: Session, case_id: int, req: ActionInput, actor: Actor, now: datetime
    ) -> ActionResult:
        case = session.execute(
            select(Case).where(Case.id == case_id).with_for_update()
        ).scalar_one_or_none()
        if case is None or not actor.sees(case.grid):
            # A case outside the actor's grids does not exist for them.
            raise CaseNotFoundError(f"no case {case_id}")
        before = State(case.state)
        row = transition_for(before, req.action, req.note)
        if row.action not in CASE_ACTIONS[actor.role]:
            raise ForbiddenError(
                f"角色 {actor.role.value} 不能执行 {row.action.value} / "
                f"role {actor.role.value} may not {row.action.value}"
            )
        if row.action is Action.DISPATCH:
            people = _dispatchable(session, req.to)
            event = dispatch_to(
                session, case, people, actor=actor.username, source="api", note=req.note, now=now
            )
            notification_due(session, case, people, f"dispatch#{event.id}", now)
            return ActionResult(case=case, event=event)
        detail: dict[str, object] = {}
        # The deadline in force when the work was done, so that a later reopen (fresh
        # deadlines) does not change how last week's figures judge it.
        if row.action is Action.ACCEPT:
            detail["response_due_at"] = case.response_due_at.isoformat()
        if row.action is Action.HANDLE:
            detail["handle_due_at"] = case.handle_due_at.isoformat()
        if row.action in (Action.REOPEN, Action.RETURN):
            # They move the deadlines; the ones they replace judge the case up to this row
            # (a past week's overdue count: stats/queries.py).
            detail["replaced_due"] = {
                "response_due_at": case.response_due_at.isoformat(),
                "handle_due_at": case.handle_due_at.isoformat(),
            }
        if row.action is Action.HANDLE and req.photos:
            detail["photos"] = _own_photos(session, case.id, req.photos)
        if row.action is Action.DEFER:
            if req.due is None:
                raise InvalidInputError("due", "挂账需要到期日 / defer needs a due date")
            if req.due <= now:
                raise InvalidInputError("due", "must be in the future")
            detail["due"] = req.due.isoformat()
        case.state = row.target.value
        case.colour = STATE_COLOURS[row.target].value
        case.updated_at = now
        if row.action is Action.ACCEPT:
            case.accepted_at = now
            case.assignee = actor.username
        case.closed_at = now if row.target in TERMINAL else None
        # The admins' per-kind settings as committed now, whichever replica changed them.
        policy = effective_policy(session, self._policy)
        event = CaseEvent(
            case_id=case.id,
            at=now,
            actor=actor.username,
            action=row.action.value,
            from_state=before.value,
            to_state=row.target.value,
            note=req.note,
            source="api",
            detail=detail,
        )
        session.add(event)
        session.flush()
        self._deadlines_after(session, case, row.action, req, now, policy=policy)
        command_ids = self._commands(
            session, case, event, command=row.node_command, actor=actor, note=req.note, now=now
        )
        if row.action is Action.REGISTER or (
            row.action is Action.REOPEN and case.state == State.REGISTERED.value
        ):
            auto_dispatch(session, case, now, policy.dispatch)
        return ActionResult(case=case, event=event, command_ids=command_ids)

    def _deadlines_after(
        self,
        session: Session,
        case: Case,
        action: Action,
        req: ActionInput,
        now: datetime,
        *,
        policy: CasePolicy,
    ) -> None:
        if action is Action.DEFER:
            assert req.due is not None
            cancel_pending(session, case, now, "deferred")
            case.deferred_until = req.due
            schedule(session, case, DeadlineKind.DEFER_DUE, req.due, now)
        elif action is Action.REOPEN:
            # Back in the cycle: fresh deadlines from now, as for a new case.
            cancel_pending(session, case, now, "reopened")
            case.deferred_until = None
            case.response_due_at = now + policy.response_deadline(case.kind)
            case.handle_due_at = now + policy.handle_deadline(case.kind)
            schedule(session, case, DeadlineKind.RESPONSE, case.response_due_at, now)
            schedule(session, case, DeadlineKind.HANDLE, case.handle_due_at, now)
        elif action is Action.RETURN:
            # Someone must take it again within the response time.
            case.response_due_at = max(
                case.response_due_at, now + policy.response_deadline(case.kind)
            )
            schedule(session, case, DeadlineKind.RESPONSE, case.response_due_at, now)

    def _commands(
        self,
        session: Session,
        case: Case,
        event: CaseEvent,
        *,
        command: str | None,
        actor: Actor,
        note: str | None,
        now: datetime,
    ) -> list[int]:
        if command is None:
            return []
        stmt = select(CaseAlert.alert_id).where(CaseAlert.case_id == case.id)
        if case.origin != "node":
            # A console health case's own id is no alert of the node's; node alerts that
            # joined it (the node's camera_offline) still get the command.
            stmt = stmt.where(CaseAlert.alert_id != case.alert_id)
        alerts = session.execute(stmt.order_by(CaseAlert.id)).scalars()
        ids = []
        for index, alert_id in enumerate(alerts):
            body: dict[str, object] = {
                "request_id": f"case-{case.id}-{event.id}" + (f"-{index}" if index else ""),
                "alert_id": alert_id,
            }
            if note:
                body["note"] = note
            row = enqueue(
                session,
                prefix=case.node_prefix,
                command=command,
                body=body,
                by=actor.username,
                now=now,
                case_id=case.id,
            )
            ids.append(row.id)
        return ids


def _dispatchable(session: Session, names: Sequence[str]) -> list[Person]:
    if not names:
        raise InvalidInputError("to", "派遣需要指定人员 / dispatch needs a person")
    people = list(session.execute(select(Person).where(Person.username.in_(list(names)))).scalars())
    by_name = {p.username: p for p in people}
    for name in names:
        person = by_name.get(name)
        if person is None or not person.active:
            raise InvalidInputError("to", f"没有这个人员 / no such person: {name!r}")
        if Role(person.role) not in DISPATCHABLE:
            raise InvalidInputError(
                "to",
                f"{name!r} is a {person.role}; a case goes to a patrol, volunteer or grid head",
            )
    return [by_name[n] for n in dict.fromkeys(names)]


def _own_photos(session: Session, case_id: int, photos: Sequence[str]) -> list[str]:
    have = set(
        session.execute(select(CasePhoto.sha256).where(CasePhoto.case_id == case_id)).scalars()
    )
    missing = [p for p in photos if p not in have]
    if missing:
        raise InvalidInputError("photos", f"not uploaded to this case: {', '.join(missing)}")
    return list(dict.fromkeys(photos))
