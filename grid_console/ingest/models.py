"""Every alert event as received (the history), and what failed validation (quarantine)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grid_console.db.base import Base
from grid_console.db.types import UtcDateTime, json_type


class AlertEvent(Base):
    """One (alert id, seq) exactly once: the unique constraint is how replicas deduplicate."""

    __tablename__ = "alert_events"
    __table_args__ = (UniqueConstraint("alert_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(26), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(1024))
    payload: Mapped[dict[str, Any]] = mapped_column(json_type())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Quarantined(Base):
    """A message that broke the contract, kept byte for byte with the reason."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(1024))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)  # of the message; `payload` may be cut short
    reason: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
