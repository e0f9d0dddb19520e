"""What an alert event does to its case (called by the ingest, inside its transaction).

One case per alert id. The first event seen opens it (normally `raised`; if the console missed
that, whichever came first, since every event carries the alert's full state). A newer event
updates the case; an older one (seq below the case's latest) is history only and never moves
the case backwards. `cleared` marks the problem gone but leaves the case open: a person still
closes it. The node's echoes of our commands (acknowledged, released, resolved) update the
alert's state on the case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grid_console.cases.machine import STATE_COLOURS, Action, State
from grid_console.cases.models import Case, CaseEvent
from grid_console.cases.policy import CasePolicy
from grid_console.ingest.payloads import AlertPayload

SYSTEM = "system"
# Node events worth a line in the case's audit trail; `updated` and `escalated` are in the
# alert's own history (alert_events) and would drown the people's actions.
_AUDITED_NODE_EVENTS = frozenset({"cleared", "acknowledged", "released", "resolved"})


class CaseChange(StrEnum):
    OPENED = "opened"
    UPDATED = "updated"
    HISTORY = "history"


@dataclass(frozen=True, slots=True)
class FlowResult:
    case_id: int
    change: CaseChange


def apply_alert_event(
    session: Session,
    alert: AlertPayload,
    *,
    prefix: str,
    received_at: datetime,
    policy: CasePolicy,
) -> FlowResult:
    case = _locked_case(session, alert.id)
    if case is None:
        case = _open(session, alert, prefix, received_at, policy)
        if case is not None:
            return FlowResult(case.id, CaseChange.OPENED)
        # Another replica opened it between our look and our insert: update theirs.
        case = _locked_case(session, alert.id)
        if case is None:
            raise RuntimeError(f"case for alert {alert.id} vanished")
    if alert.seq <= case.latest_seq:
        _adopt_earlier_start(case, alert, received_at, policy)
        return FlowResult(case.id, CaseChange.HISTORY)
    _update(session, case, alert, received_at)
    return FlowResult(case.id, CaseChange.UPDATED)


def _locked_case(session: Session, alert_id: str) -> Case | None:
    # FOR UPDATE on PostgreSQL: two replicas applying two events of one alert take turns.
    # SQLite ignores it; its BEGIN IMMEDIATE already lets one writer in at a time.
    stmt = select(Case).where(Case.alert_id == alert_id).with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def _open(
    session: Session, alert: AlertPayload, prefix: str, received_at: datetime, policy: CasePolicy
) -> Case | None:
    # The clock starts when the node raised it; but a node whose clock runs ahead must not
    # buy itself time, so never later than we received it.
    opened_at = min(alert.updated_at, received_at)
    case = Case(
        alert_id=alert.id,
        kind=alert.kind,
        severity=alert.severity,
        grid=alert.grid,
        location=alert.location,
        building=alert.building,
        floor=alert.floor,
        lon=alert.lon,
        lat=alert.lat,
        site=alert.site,
        node=alert.node,
        node_prefix=prefix,
        camera=alert.camera,
        zone=alert.zone,
        sensor=alert.sensor,
        state=State.REPORTED.value,
        colour=STATE_COLOURS[State.REPORTED].value,
        alert_state=alert.state,
        latest_seq=alert.seq,
        escalated=alert.escalated,
        problem_gone=alert.state == "cleared",
        opened_at=opened_at,
        updated_at=received_at,
        response_due_at=opened_at + policy.response_deadline(alert.kind),
        handle_due_at=opened_at + policy.handle_deadline(alert.kind),
    )
    try:
        with session.begin_nested():
            session.add(case)
            session.flush()
    except IntegrityError:
        return None
    session.add(
        _node_event(case, alert, received_at, "open", from_state=None, to_state=State.REPORTED)
    )
    if alert.kind in policy.auto_register:
        case.state = State.REGISTERED.value
        case.colour = STATE_COLOURS[State.REGISTERED].value
        session.add(
            CaseEvent(
                case_id=case.id,
                at=received_at,
                actor=SYSTEM,
                action=Action.REGISTER.value,
                from_state=State.REPORTED.value,
                to_state=State.REGISTERED.value,
                note=f"registered automatically: {alert.kind} is an auto-register kind",
                source="system",
                detail={},
            )
        )
    return case


def _adopt_earlier_start(
    case: Case, alert: AlertPayload, received_at: datetime, policy: CasePolicy
) -> None:
    """An older event (a replica applied a later one first) may show the alert started
    earlier than the case thinks: the deadlines count from the earliest, never from later."""
    started = min(alert.updated_at, received_at)
    if started < case.opened_at:
        case.opened_at = started
        case.response_due_at = started + policy.response_deadline(case.kind)
        case.handle_due_at = started + policy.handle_deadline(case.kind)


def _update(session: Session, case: Case, alert: AlertPayload, received_at: datetime) -> None:
    case.latest_seq = alert.seq
    case.severity = alert.severity
    case.escalated = alert.escalated
    case.alert_state = alert.state
    case.updated_at = received_at
    if alert.event == "cleared":
        case.problem_gone = True
    if alert.event in _AUDITED_NODE_EVENTS:
        state = State(case.state)
        session.add(
            _node_event(
                case,
                alert,
                received_at,
                f"alert_{alert.event}",
                from_state=state,
                to_state=state,
            )
        )


def _node_event(
    case: Case,
    alert: AlertPayload,
    at: datetime,
    action: str,
    *,
    from_state: State | None,
    to_state: State,
) -> CaseEvent:
    actor = alert.raw.get("actor")
    detail: dict[str, object] = {"seq": alert.seq, "event": alert.event, "alert_state": alert.state}
    if isinstance(actor, dict):
        detail["actor"] = actor
    return CaseEvent(
        case_id=case.id,
        at=at,
        actor=f"node:{alert.site}/{alert.node}",
        action=action,
        from_state=from_state.value if from_state else None,
        to_state=to_state.value,
        note=None,
        source="node",
        detail=detail,
    )
