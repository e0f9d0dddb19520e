"""The JSON shapes of the API (docs/console.md lists them; keep them stable)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from grid_console.cases.colour import colour_of, is_overdue
from grid_console.cases.machine import State
from grid_console.cases.models import Case, CaseEvent


class CaseOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    alert_id: str
    kind: str
    severity: str
    grid: str | None
    location: str | None
    building: str | None
    floor: str | None
    lon: float | None
    lat: float | None
    site: str
    node: str
    camera: str | None
    zone: str | None
    sensor: str | None
    state: str
    colour: str = Field(description="red, yellow or green, red as soon as a deadline passed")
    overdue: bool
    assignee: str | None
    alert_state: str
    latest_seq: int
    escalated: bool
    problem_gone: bool
    opened_at: datetime
    updated_at: datetime
    response_due_at: datetime
    handle_due_at: datetime
    accepted_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def of(cls, case: Case, now: datetime) -> CaseOut:
        state = State(case.state)
        due = (case.response_due_at, case.handle_due_at)
        return cls(
            id=case.id,
            alert_id=case.alert_id,
            kind=case.kind,
            severity=case.severity,
            grid=case.grid,
            location=case.location,
            building=case.building,
            floor=case.floor,
            lon=case.lon,
            lat=case.lat,
            site=case.site,
            node=case.node,
            camera=case.camera,
            zone=case.zone,
            sensor=case.sensor,
            state=case.state,
            colour=colour_of(state, *due, now).value,
            overdue=is_overdue(state, *due, now),
            assignee=case.assignee,
            alert_state=case.alert_state,
            latest_seq=case.latest_seq,
            escalated=case.escalated,
            problem_gone=case.problem_gone,
            opened_at=case.opened_at,
            updated_at=case.updated_at,
            response_due_at=case.response_due_at,
            handle_due_at=case.handle_due_at,
            accepted_at=case.accepted_at,
            closed_at=case.closed_at,
        )


class CaseEventOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str
    note: str | None
    source: str
    detail: dict[str, object]

    @classmethod
    def of(cls, event: CaseEvent) -> CaseEventOut:
        return cls(
            id=event.id,
            at=event.at,
            actor=event.actor,
            action=event.action,
            from_state=event.from_state,
            to_state=event.to_state,
            note=event.note,
            source=event.source,
            detail=event.detail,
        )


class CaseList(BaseModel):
    cases: list[CaseOut]


class CaseDetail(BaseModel):
    case: CaseOut
    events: list[CaseEventOut]


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(max_length=32)
    to: str | None = Field(default=None, min_length=1, max_length=128)
    note: str | None = Field(default=None, max_length=1000)


class ActionOut(BaseModel):
    case: CaseOut
    event: CaseEventOut
    command_id: int | None
