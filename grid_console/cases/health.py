"""Health cases: the console opens a case of its own when a node goes offline (its last will),
or a camera or sensor reports offline, and marks it "problem gone" when it is back.

Kinds: node_offline, camera_offline, sensor_offline. A camera or sensor offline is also raised
by the node itself as an alert of the same kind (mqtt/topics.md); whichever comes first opens
the case, and the other joins it (cases/flows.py joins an alert to an open console case of its
kind and device), so one outage is one case. Retained states repeat on every reconnect: an
open case for the same thing makes a repeat a no-op. A health case has no alert on a node, so
closing it sends no command.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from grid_console.cases.machine import STATE_COLOURS, TERMINAL, Action, State
from grid_console.cases.models import Case, CaseAlert, CaseEvent
from grid_console.cases.policy import CasePolicy
from grid_console.deadlines.schedule import schedule_case
from grid_console.dispatch.auto import auto_dispatch
from grid_console.kinds.overlay import effective_policy

CONSOLE = "console"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
KIND_OF = {"node": "node_offline", "camera": "camera_offline", "sensor": "sensor_offline"}
SEVERITY_OF = {"node": "major", "camera": "warning", "sensor": "major"}


def apply_health(
    session: Session,
    *,
    site: str,
    node: str,
    prefix: str,
    subject: str,
    device_id: str | None,
    state: str,
    at: datetime,
    policy: CasePolicy,
) -> int | None:
    """Open, re-open or mark gone the health case of `subject` (node, camera, sensor)."""
    kind = KIND_OF[subject]
    camera = device_id if subject == "camera" else None
    sensor = device_id if subject == "sensor" else None
    stmt = (
        select(Case)
        .where(
            Case.site == site,
            Case.node == node,
            Case.kind == kind,
            Case.camera.is_(None) if camera is None else Case.camera == camera,
            Case.sensor.is_(None) if sensor is None else Case.sensor == sensor,
            Case.state.not_in([s.value for s in TERMINAL]),
        )
        .order_by(Case.id.desc())
        .limit(1)
        .with_for_update()
    )
    case = session.execute(stmt).scalar_one_or_none()
    if state == "online":
        if case is not None and not case.problem_gone:
            case.problem_gone = True
            case.updated_at = at
            _audit(session, case, at, "problem_gone", "已恢复在线 / back online")
        return case.id if case is not None else None
    if case is not None:
        if case.problem_gone:  # back, then offline again before anyone closed the case
            case.problem_gone = False
            case.updated_at = at
            _audit(session, case, at, "offline_again", "再次离线 / offline again")
        return case.id
    return _open(
        session,
        site=site,
        node=node,
        prefix=prefix,
        subject=subject,
        camera=camera,
        sensor=sensor,
        at=at,
        policy=policy,
    ).id


def _open(
    session: Session,
    *,
    site: str,
    node: str,
    prefix: str,
    subject: str,
    camera: str | None,
    sensor: str | None,
    at: datetime,
    policy: CasePolicy,
) -> Case:
    kind = KIND_OF[subject]
    policy = effective_policy(session, policy)  # the admins' per-kind settings, as of now
    grid, location = _whereabouts(session, site, node, camera, sensor)
    case_id = "C" + "".join(secrets.choice(_CROCKFORD) for _ in range(25))
    case = Case(
        alert_id=case_id,
        kind=kind,
        severity=SEVERITY_OF[subject],
        grid=grid,
        location=location,
        building=None,
        floor=None,
        lon=None,
        lat=None,
        site=site,
        node=node,
        node_prefix=prefix,
        camera=camera,
        zone=None,
        sensor=sensor,
        state=State.REPORTED.value,
        colour=STATE_COLOURS[State.REPORTED].value,
        assignee=None,
        alert_state="open",
        latest_seq=0,
        escalated=False,
        problem_gone=False,
        opened_at=at,
        updated_at=at,
        response_due_at=at + policy.response_deadline(kind),
        handle_due_at=at + policy.handle_deadline(kind),
        origin=CONSOLE,
        escalation_level=0,
    )
    session.add(case)
    session.flush()
    session.add(CaseAlert(alert_id=case_id, case_id=case.id, latest_seq=0, joined_at=at))
    what = {
        "node": f"节点 {site}/{node} 离线 / node offline",
        "camera": f"摄像头 {camera} 离线 / camera offline",
        "sensor": f"传感器 {sensor} 离线 / sensor offline",
    }[subject]
    session.add(
        CaseEvent(
            case_id=case.id,
            at=at,
            actor=CONSOLE,
            action="open",
            from_state=None,
            to_state=State.REPORTED.value,
            note=what,
            source="system",
            detail={"subject": subject, "device": camera or sensor},
        )
    )
    schedule_case(session, case, at)
    if kind in policy.auto_register:
        case.state = State.REGISTERED.value
        case.colour = STATE_COLOURS[State.REGISTERED].value
        _audit(
            session,
            case,
            at,
            Action.REGISTER.value,
            "自动立案 / registered automatically",
            from_state=State.REPORTED.value,
        )
        auto_dispatch(session, case, at, policy.dispatch)
    return case


def _whereabouts(
    session: Session, site: str, node: str, camera: str | None, sensor: str | None
) -> tuple[str | None, str | None]:
    """The grid and place of the thing, from the newest alert case that named it: the status
    and state messages carry neither."""
    stmt = select(Case.grid, Case.location).where(
        Case.site == site, Case.node == node, Case.origin == "node"
    )
    if camera is not None:
        stmt = stmt.where(Case.camera == camera)
    if sensor is not None:
        stmt = stmt.where(Case.sensor == sensor)
    row = session.execute(stmt.order_by(Case.id.desc()).limit(1)).tuples().first()
    return (row[0], row[1]) if row is not None else (None, None)


def _audit(
    session: Session,
    case: Case,
    at: datetime,
    action: str,
    note: str,
    *,
    from_state: str | None = None,
) -> None:
    session.add(
        CaseEvent(
            case_id=case.id,
            at=at,
            actor=CONSOLE,
            action=action,
            from_state=from_state or case.state,
            to_state=case.state,
            note=note,
            source="system",
            detail={},
        )
    )
