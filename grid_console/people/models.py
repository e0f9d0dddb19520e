"""Sites, grids, people, their grids and channels, and duty shifts.

A person is one row whether or not they can log in: a volunteer imported from a roster has no
password hash until someone sets one. Nothing here is deleted: a person who leaves is made
inactive, so the audit trail's names keep pointing at someone.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grid_console.db.base import Base
from grid_console.db.types import UtcDateTime


class Site(Base):
    """A community (小区): the nodes' `site.id`."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))


class Grid(Base):
    """A grid (网格); a micro-grid (微网格) names its parent. `id` is the nodes' `grid` field."""

    __tablename__ = "grids"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"), index=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("grids.id"), index=True)


class Person(Base):
    """Someone with a role: an account if `password_hash` is set."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PersonGrid(Base):
    """That a person works in (patrol) or answers for (head, leader) a grid."""

    __tablename__ = "person_grids"
    __table_args__ = (UniqueConstraint("person_id", "grid_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    grid_id: Mapped[str] = mapped_column(ForeignKey("grids.id"), index=True)


class PersonChannel(Base):
    """Where a person is told: kind in wecom, dingtalk, feishu, email, webhook.

    The console's notification senders (grid_console/notify) read these; this module only keeps
    them. `secret` is DingTalk's signing secret or the webhook's HMAC key.
    """

    __tablename__ = "person_channels"
    __table_args__ = (UniqueConstraint("person_id", "kind", "target"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(1024))
    secret: Mapped[str | None] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean)


class Shift(Base):
    """One weekly duty shift: weekday 0 (Monday) to 6, minutes from local midnight.

    `end_minute <= start_minute` is an overnight shift that ends the next day. Times are local
    to the roster's time zone (Asia/Shanghai by default), not UTC: a shift is "20:00-08:00".
    """

    __tablename__ = "shifts"
    __table_args__ = (UniqueConstraint("person_id", "grid_id", "weekday", "start_minute"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    grid_id: Mapped[str] = mapped_column(ForeignKey("grids.id"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)
    start_minute: Mapped[int] = mapped_column(Integer)
    end_minute: Mapped[int] = mapped_column(Integer)


class DutyChange(Base):
    """A one-off change to the weekly roster, between two instants.

    `leave` (请假): the person is on duty nowhere; with a `substitute` (顶班), the substitute
    covers the person's weekly shifts for that time. `extra` (加班): the person is on duty in
    `grid_id`. A cancelled change is kept (`cancelled_at`) so that who was on duty when a case
    was dispatched can still be told afterwards.
    """

    __tablename__ = "duty_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    substitute_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    grid_id: Mapped[str | None] = mapped_column(ForeignKey("grids.id"))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    note: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    cancelled_by: Mapped[str | None] = mapped_column(String(128))
