"""A deadline is a row: it survives restarts, and exactly one replica acts on it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from grid_console.db.base import Base
from grid_console.db.types import UtcDateTime


class Deadline(Base):
    """`kind`: response, handle or defer_due. `step` counts how far it has escalated.

    A pending row has `done_at` NULL. The job sets `outcome` (met, breached, escalated,
    returned) and either moves `due_at` on to the next escalation step or sets `done_at`.
    """

    __tablename__ = "deadlines"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    step: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    outcome: Mapped[str | None] = mapped_column(String(16))
    acted_by: Mapped[str | None] = mapped_column(String(128))
