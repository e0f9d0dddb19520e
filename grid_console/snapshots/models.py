"""Snapshot bytes stored once by content hash, and which alert each belongs to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grid_console.db.base import Base
from grid_console.db.types import UtcDateTime


class Snapshot(Base):
    """The bytes of one picture. A node resending it, or two alerts sharing it, store it once."""

    __tablename__ = "snapshots"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(64))
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime())


class AlertSnapshot(Base):
    """That alert `alert_id` showed snapshot `sha256` (from the snapshot topic)."""

    __tablename__ = "alert_snapshots"
    __table_args__ = (UniqueConstraint("alert_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(26), index=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("snapshots.sha256"))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
