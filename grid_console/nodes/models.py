"""What the console knows of each node and each of its cameras and sensors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grid_console.db.base import Base
from grid_console.db.types import UtcDateTime, json_type


class Node(Base):
    """One edge node, from its retained `{prefix}/status` (online, or offline by last will)."""

    __tablename__ = "nodes"
    __table_args__ = (UniqueConstraint("site", "node"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site: Mapped[str] = mapped_column(String(128))
    node: Mapped[str] = mapped_column(String(128))
    site_name: Mapped[str | None] = mapped_column(String(256))
    prefix: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[str | None] = mapped_column(String(64))
    # When the console last heard the status (the offline will's own `ts` is stale by design).
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime())


class Device(Base):
    """A camera or sensor of a node, from its retained `.../state` topic."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("site", "node", "device_kind", "device_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site: Mapped[str] = mapped_column(String(128))
    node: Mapped[str] = mapped_column(String(128))
    device_kind: Mapped[str] = mapped_column(String(16))  # camera | sensor
    device_id: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(json_type())
