"""Every table, imported in one place, so that the metadata Alembic compares with is complete."""

from __future__ import annotations

from grid_console.auth.models import AdminAudit, AuthSession, LoginAttempt
from grid_console.cases.models import Case, CaseAlert, CaseAssignee, CaseEvent, CasePhoto
from grid_console.commands.models import OutboxCommand
from grid_console.db.base import Base
from grid_console.deadlines.models import Deadline
from grid_console.ingest.models import AlertEvent, Quarantined
from grid_console.kinds.models import KindSetting
from grid_console.nodes.models import Device, Node
from grid_console.notify.models import Delivery, DeliveryAttempt
from grid_console.people.models import (
    DutyChange,
    Grid,
    Person,
    PersonChannel,
    PersonGrid,
    Shift,
    Site,
)
from grid_console.snapshots.models import AlertSnapshot, Snapshot
from grid_console.stats import models as stats_models  # noqa: F401  (indexes)

metadata = Base.metadata

__all__ = [
    "AdminAudit",
    "AlertEvent",
    "AlertSnapshot",
    "AuthSession",
    "Case",
    "CaseAlert",
    "CaseAssignee",
    "CaseEvent",
    "CasePhoto",
    "Deadline",
    "Delivery",
    "DeliveryAttempt",
    "Device",
    "DutyChange",
    "Grid",
    "KindSetting",
    "LoginAttempt",
    "Node",
    "OutboxCommand",
    "Person",
    "PersonChannel",
    "PersonGrid",
    "Quarantined",
    "Shift",
    "Site",
    "Snapshot",
    "metadata",
]
