"""Deliveries (one per case, reason, recipient and channel) and every attempt at sending one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grid_console.db.base import Base
from grid_console.db.types import UtcDateTime


class DeliveryStatus:
    PENDING = "pending"  # waiting for its first or next attempt (due_at)
    SENT = "sent"  # the endpoint accepted it
    FAILED = "failed"  # given up after the last attempt; recorded on the case


class Delivery(Base):
    """A message owed to one recipient on one channel. The secret is kept with it because the
    send may happen after a restart, and the person's channel may have changed meanwhile: the
    delivery goes where it was addressed when it was decided."""

    __tablename__ = "notify_deliveries"
    __table_args__ = (
        # enqueue() is idempotent: the same hook run twice (a redelivered event, a retried
        # transaction) does not notify anyone twice.
        UniqueConstraint(
            "case_id",
            "reason",
            "recipient",
            "channel_kind",
            "target",
            name="uq_notify_deliveries_once",  # generated: over 63 characters, too long for PG
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    reason: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(128))
    channel_kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    due_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    # A worker holds a delivery while it sends; a worker that died loses it at claimed_until.
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


class DeliveryAttempt(Base):
    """One try: when, by which replica, whether it worked and what the endpoint said."""

    __tablename__ = "notify_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("notify_deliveries.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime())
    worker: Mapped[str] = mapped_column(String(128))
    ok: Mapped[bool] = mapped_column(Boolean)
    http_status: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text)
