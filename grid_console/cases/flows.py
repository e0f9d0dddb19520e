"""What an alert event does to its case (called by the ingest, inside its transaction).

One case per alert id. The first event seen opens it (normally `raised`; if the console missed
that, whichever came first, since every event carries the alert's full state). A newer event
updates the case; an older one (seq below the case's latest) is history only and never moves
the case backwards. `cleared` marks the problem gone but leaves the case open: a person still
closes it. The node's echoes of our commands (acknowledged, released, resolved) update the
alert's state on the case.

A newly raised alert of the same kind, camera zone or sensor as an open case whose alert the
node has cleared, within the join window of that case's last change, joins it (case_alerts)
instead of opening another: a smoke alarm that clears and re-raises is one fire, not two
cases. Each alert keeps its own seq.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grid_console.cases.machine import STATE_COLOURS, TERMINAL, Action, State
from grid_console.cases.models import Case, CaseAlert, CaseEvent
from grid_console.cases.policy import CasePolicy
from grid_console.deadlines.schedule import move_case_deadlines, schedule_case
from grid_console.dispatch.auto import auto_dispatch
from grid_console.ingest.payloads import AlertPayload
from grid_console.kinds.overlay import effective_policy

SYSTEM = "system"
# Node events worth a line in the case's audit trail; `updated` and `escalated` are in the
# alert's own history (alert_events) and would drown the people's actions.
_AUDITED_NODE_EVENTS = frozenset({"cleared", "acknowledged", "released", "resolved"})


class CaseChange(StrEnum):
    OPENED = "opened"
    JOINED = "joined"
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
    # The admins' per-kind settings as committed now, whichever replica changed them.
    policy = effective_policy(session, policy)
    found = _locked_case(session, alert.id)
    if found is None:
        joined = _join(session, alert, received_at, policy)
        if joined is not None:
            return FlowResult(joined.id, CaseChange.JOINED)
        case = _open(session, alert, prefix, received_at, policy)
        if case is not None:
            return FlowResult(case.id, CaseChange.OPENED)
        # Another replica opened it between our look and our insert: update theirs.
        found = _locked_case(session, alert.id)
        if found is None:
            raise RuntimeError(f"case for alert {alert.id} vanished")
    case, link = found
    if alert.seq <= link.latest_seq:
        if link.alert_id == case.alert_id:
            _adopt_earlier_start(session, case, alert, received_at, policy)
        return FlowResult(case.id, CaseChange.HISTORY)
    link.latest_seq = alert.seq
    if link.alert_id == case.alert_id:
        case.latest_seq = alert.seq
    _update(session, case, alert, received_at)
    return FlowResult(case.id, CaseChange.UPDATED)


def _locked_case(session: Session, alert_id: str) -> tuple[Case, CaseAlert] | None:
    # FOR UPDATE on PostgreSQL: two replicas applying two events of one alert take turns.
    # SQLite ignores it; its BEGIN IMMEDIATE already lets one writer in at a time.
    stmt = (
        select(Case, CaseAlert)
        .join(CaseAlert, CaseAlert.case_id == Case.id)
        .where(CaseAlert.alert_id == alert_id)
        .with_for_update()
    )
    row = session.execute(stmt).tuples().one_or_none()
    return (row[0], row[1]) if row is not None else None


def _join(
    session: Session, alert: AlertPayload, received_at: datetime, policy: CasePolicy
) -> Case | None:
    """The open case this alert re-raises, now carrying it too; None to open a new case."""
    if alert.camera is None and alert.sensor is None:
        return None
    since = received_at - timedelta(seconds=policy.join_window_s)
    stmt = (
        select(Case)
        .where(
            Case.site == alert.site,
            Case.node == alert.node,
            Case.kind == alert.kind,
            Case.camera.is_(None) if alert.camera is None else Case.camera == alert.camera,
            # A console health case is about the whole camera, whatever zone the alert names.
            or_(
                Case.zone.is_(None) if alert.zone is None else Case.zone == alert.zone,
                Case.origin == "console",
            ),
            Case.sensor.is_(None) if alert.sensor is None else Case.sensor == alert.sensor,
            Case.state.not_in([s.value for s in TERMINAL]),
            # Re-raised: the node cleared the earlier alert. Two alerts active at once on one
            # zone or sensor are two things, and keep two cases.
            # A console health case (a camera or sensor offline) is the same outage the
            # node's own alert reports, whenever it came.
            or_(
                and_(Case.problem_gone.is_(True), Case.updated_at >= since),
                Case.origin == "console",
            ),
        )
        .order_by(Case.id.desc())
        .limit(1)
        .with_for_update()
    )
    case = session.execute(stmt).scalar_one_or_none()
    if case is None:
        return None
    link = CaseAlert(
        alert_id=alert.id, case_id=case.id, latest_seq=alert.seq, joined_at=received_at
    )
    try:
        with session.begin_nested():
            session.add(link)
            session.flush()
    except IntegrityError:
        return None  # another replica linked it just now; the caller finds it
    state = State(case.state)
    session.add(
        _node_event(case, alert, received_at, "alert_joined", from_state=state, to_state=state)
    )
    case.severity = alert.severity
    case.escalated = alert.escalated
    case.alert_state = alert.state
    case.problem_gone = alert.state == "cleared"
    case.updated_at = received_at
    return case


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
    # The case and its alert link in one savepoint: a replica that opened the same alert, or
    # joined it to another case, at the same moment makes both inserts give way together.
    try:
        with session.begin_nested():
            session.add(case)
            session.flush()
            session.add(
                CaseAlert(
                    alert_id=alert.id, case_id=case.id, latest_seq=alert.seq, joined_at=received_at
                )
            )
            session.flush()
    except IntegrityError:
        return None
    session.add(
        _node_event(case, alert, received_at, "open", from_state=None, to_state=State.REPORTED)
    )
    schedule_case(session, case, received_at)
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
        auto_dispatch(session, case, received_at, policy.dispatch)
    return case


def _adopt_earlier_start(
    session: Session, case: Case, alert: AlertPayload, received_at: datetime, policy: CasePolicy
) -> None:
    """An older event (a replica applied a later one first) may show the alert started
    earlier than the case thinks: the deadlines count from the earliest, never from later."""
    started = min(alert.updated_at, received_at)
    if started < case.opened_at:
        case.opened_at = started
        case.response_due_at = started + policy.response_deadline(case.kind)
        case.handle_due_at = started + policy.handle_deadline(case.kind)
        move_case_deadlines(session, case)


def _update(session: Session, case: Case, alert: AlertPayload, received_at: datetime) -> None:
    case.latest_seq = alert.seq
    case.severity = alert.severity
    case.escalated = alert.escalated
    case.alert_state = alert.state
    case.updated_at = received_at
    if alert.event == "cleared":
        case.problem_gone = True
    elif alert.event == "raised":
        case.problem_gone = False
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
