"""Every table, imported in one place, so that the metadata Alembic compares with is complete."""

from __future__ import annotations

from grid_console.cases.models import Case, CaseEvent
from grid_console.commands.models import OutboxCommand
from grid_console.db.base import Base
from grid_console.ingest.models import AlertEvent, Quarantined
from grid_console.nodes.models import Device, Node
from grid_console.snapshots.models import AlertSnapshot, Snapshot

metadata = Base.metadata

__all__ = [
    "AlertEvent",
    "AlertSnapshot",
    "Case",
    "CaseEvent",
    "Device",
    "Node",
    "OutboxCommand",
    "Quarantined",
    "Snapshot",
    "metadata",
]
