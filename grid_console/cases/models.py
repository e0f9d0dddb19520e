"""A case and its audit trail (one row for every change, never updated or deleted)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grid_console.db.base import Base
from grid_console.db.types import UtcDateTime, json_type


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(26), unique=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    grid: Mapped[str | None] = mapped_column(String(128), index=True)
    location: Mapped[str | None] = mapped_column(Text)  # the people's text, e.g. 3号楼 电梯2
    building: Mapped[str | None] = mapped_column(String(128))
    floor: Mapped[str | None] = mapped_column(String(64))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    site: Mapped[str] = mapped_column(String(128))
    node: Mapped[str] = mapped_column(String(128))
    # The topic prefix the alert came under: where commands for it go.
    node_prefix: Mapped[str] = mapped_column(String(512))
    camera: Mapped[str | None] = mapped_column(String(128))
    zone: Mapped[str | None] = mapped_column(String(128))
    sensor: Mapped[str | None] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), index=True)
    # The colour of `state`; a deadline passing turns the case red at read time (cases/colour.py).
    colour: Mapped[str] = mapped_column(String(8))
    assignee: Mapped[str | None] = mapped_column(String(128))
    alert_state: Mapped[str] = mapped_column(String(16))
    latest_seq: Mapped[int] = mapped_column(Integer)
    escalated: Mapped[bool] = mapped_column(Boolean)
    problem_gone: Mapped[bool] = mapped_column(Boolean)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    response_due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    handle_due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # node: opened by an alert; console: a health case the console raised itself (a node's
    # last will, a camera or sensor offline), which has no alert on a node to command.
    origin: Mapped[str] = mapped_column(String(16), server_default="node")
    # 督办 level: 0 none, 1 the grid head was told, 2 the grid leader too.
    escalation_level: Mapped[int] = mapped_column(Integer, server_default="0")
    deferred_until: Mapped[datetime | None] = mapped_column(UtcDateTime())


class CaseEvent(Base):
    """One change of a case: an operator's or patrol's action, the system's, or the node's."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    # Where it came from: api (a person), system (a rule of the console), node (an alert event).
    source: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(json_type())


class CaseAlert(Base):
    """Every alert a case carries: its own first, then re-raised ones of the same zone or sensor
    that joined it. Commands for the case go to each of them."""

    __tablename__ = "case_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(26), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    latest_seq: Mapped[int] = mapped_column(Integer)
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CaseAssignee(Base):
    """Who a case is dispatched to; a re-dispatch ends the earlier rows (`active` false)."""

    __tablename__ = "case_assignees"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    assigned_at: Mapped[datetime] = mapped_column(UtcDateTime())
    assigned_by: Mapped[str] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean)


class CasePhoto(Base):
    """A photo a patrol uploaded for a case; the bytes are in `snapshots`, stored once."""

    __tablename__ = "case_photos"
    __table_args__ = (UniqueConstraint("case_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("snapshots.sha256"))
    uploaded_by: Mapped[str] = mapped_column(String(128))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime())
