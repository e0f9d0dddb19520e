"""Recording node status and device states (idempotent upserts: retained messages repeat)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grid_console.commands.models import OutboxCommand
from grid_console.commands.outbox import enqueue
from grid_console.ingest.topics import Route
from grid_console.nodes.models import Device, Node
from grid_contract.topics import Topics

_Row = TypeVar("_Row", Node, Device)


RESYNC_BY = "grid-console"
"""Who signs the console's own `resync` (no person asked for it)."""


def record_status(session: Session, route: Route, doc: dict[str, Any], at: datetime) -> None:
    """Upsert the node's status. The first time this database sees a node online, ask it to
    resend its open alerts (`resync`): what it published before our persistent session existed
    (the console's first connection, a database restored) was queued for nobody. Online, not
    just seen: a command waiting for an offline node would be refused as stale on its return."""

    def find() -> Node | None:
        stmt = select(Node).where(Node.site == route.site, Node.node == route.node)
        return session.execute(stmt.with_for_update()).scalar_one_or_none()

    node = find() or _insert(
        session,
        Node(site=route.site, node=route.node, prefix=route.prefix, status="", last_seen=at),
    )
    if node is None:  # another replica inserted it just now
        node = find()
        if node is None:
            raise RuntimeError(f"node {route.site}/{route.node} vanished")
    if doc["state"] == "online" and not _asked_to_resync(session, route.prefix):
        # The node's row is locked (or just inserted) by this transaction: one replica asks.
        body: dict[str, object] = {"request_id": f"resync-{route.site}-{route.node}"[:128]}
        enqueue(session, prefix=route.prefix, command="resync", body=body, by=RESYNC_BY,
                now=at, case_id=None)  # fmt: skip
    node.status = doc["state"]
    node.site_name = doc["site"]["name"]
    node.version = doc["version"]
    node.prefix = route.prefix
    node.last_seen = at


def _asked_to_resync(session: Session, prefix: str) -> bool:
    topic = Topics(prefix).cmd("resync")
    stmt = select(OutboxCommand.id).where(OutboxCommand.topic == topic).limit(1)
    return session.execute(stmt).first() is not None


def record_device(
    session: Session, route: Route, device_kind: str, doc: dict[str, Any], at: datetime
) -> None:
    device_id = route.subject or ""

    def find() -> Device | None:
        stmt = select(Device).where(
            Device.site == route.site,
            Device.node == route.node,
            Device.device_kind == device_kind,
            Device.device_id == device_id,
        )
        return session.execute(stmt.with_for_update()).scalar_one_or_none()

    fresh = Device(
        site=route.site,
        node=route.node,
        device_kind=device_kind,
        device_id=device_id,
        state="",
        last_seen=at,
        payload={},
    )
    device = find() or _insert(session, fresh) or find()
    if device is None:
        raise RuntimeError(f"device {device_kind} {device_id} vanished")
    device.state = doc["state"]
    device.payload = doc
    device.last_seen = at


def _insert(session: Session, row: _Row) -> _Row | None:
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row
