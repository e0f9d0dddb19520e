"""The JSON shapes of the API (docs/console.md lists them; keep them stable)."""

from __future__ import annotations

import re
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from grid_console.cases.colour import colour_of, is_overdue
from grid_console.cases.machine import State
from grid_console.cases.models import Case, CaseEvent
from grid_console.notify.listing import DeliveryView


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
    origin: str = Field(description="node: from an alert; console: a health case of the console")
    escalation_level: int = Field(description="督办: 0 none, 1 grid head told, 2 grid leader too")
    deferred_until: datetime | None
    assignees: list[str] = Field(default_factory=list, description="who it is dispatched to")

    @classmethod
    def of(cls, case: Case, now: datetime, assignees: list[str] | None = None) -> CaseOut:
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
            origin=case.origin,
            escalation_level=case.escalation_level,
            deferred_until=case.deferred_until,
            assignees=assignees or [],
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
    # Pass as `before` for the next page; None when this page is the last.
    next_before: int | None = None


class AttemptOut(BaseModel):
    attempt: int
    started_at: datetime
    ok: bool
    http_status: int | None
    detail: str


class DeliveryOut(BaseModel):
    """One notification owed on the case (no target, no secret: see notify/listing.py)."""

    id: int
    recipient: str = Field(description="the user name it was addressed to")
    name: str = Field(description="the person's display name")
    channel: str = Field(description="wecom, dingtalk, feishu, email or webhook")
    state: str = Field(description="pending, sent or failed")
    reason: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    tries: list[AttemptOut] = Field(description="each attempt, oldest first")

    @classmethod
    def of(cls, view: DeliveryView) -> DeliveryOut:
        fields = {name: getattr(view, name) for name in cls.model_fields if name != "tries"}
        tries = [
            AttemptOut(**{n: getattr(a, n) for n in AttemptOut.model_fields}) for a in view.tries
        ]
        return cls(**fields, tries=tries)


class CaseDetail(BaseModel):
    case: CaseOut
    events: list[CaseEventOut]
    alert_ids: list[str]
    photos: list[str]
    deliveries: list[DeliveryOut] = Field(default_factory=list)


_BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_DISPATCH_TO = 50  # a grid's whole duty roster; more is a mistake or an attack


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(max_length=32)
    to: str | list[str] | None = Field(default=None, description="user name(s) for dispatch")
    note: str | None = Field(default=None, max_length=1000)
    photos: list[str] = Field(default_factory=list, max_length=20, description="sha256 of photos")
    due: datetime | date | None = Field(
        default=None, description="defer: the date (or time) the case comes back"
    )

    @field_validator("due", mode="before")
    @classmethod
    def _a_bare_date_is_a_date(cls, value: object) -> object:
        # Pydantic would read "2031-05-20" as a zone-less midnight, which _due refuses; the
        # documented meaning is the start of that day in the console's time zone.
        if isinstance(value, str) and _BARE_DATE.fullmatch(value):
            return date.fromisoformat(value)
        return value

    def targets(self) -> list[str]:
        names = [self.to] if isinstance(self.to, str) else list(self.to or [])
        if len(names) > MAX_DISPATCH_TO:
            raise ValueError(f"to: at most {MAX_DISPATCH_TO} people at once")
        for name in names:
            if not 1 <= len(name) <= 64:
                raise ValueError("to: each user name is 1 to 64 characters")
        return names


class ActionOut(BaseModel):
    case: CaseOut
    event: CaseEventOut
    command_id: int | None
    command_ids: list[int]


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class LoginOut(BaseModel):
    token: str
    csrf_token: str
    username: str
    role: str
    expires_at: datetime


class MeOut(BaseModel):
    username: str
    role: str
    grids: list[str]
    csrf_token: str
