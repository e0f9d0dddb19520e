"""The command outbox: a command is a row before it is a message, so an outage loses nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from grid_console.db.base import Base
from grid_console.db.types import UtcDateTime, json_type


class OutboxCommand(Base):
    """A command to a node. The body is stored unsigned: it is signed when sent, because the
    node refuses a signature older than its max_age_s, and an outage may last longer."""

    __tablename__ = "command_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    command: Mapped[str] = mapped_column(String(32))
    topic: Mapped[str] = mapped_column(String(1024))
    body: Mapped[dict[str, Any]] = mapped_column(json_type())
    by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # A sender claims a row until `claimed_until`; a replica that died releases it by timing out.
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
