"""Owing a notification: rows written inside the caller's transaction, sent later by the worker.

A case dispatched is a notification owed, even if every endpoint is down for an hour: the row
commits with the dispatch or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grid_console.notify.channels import Recipient
from grid_console.notify.models import Delivery, DeliveryStatus

MAX_REASON = 64


def enqueue(
    session: Session,
    case_id: int,
    recipients: Sequence[Recipient],
    reason: str,
    now: datetime,
) -> list[int]:
    """One delivery per recipient and channel, due now; returns their ids.

    Idempotent per (case, reason, recipient, channel): calling it again returns the existing
    ids and sends nothing twice. To notify the same people again for the same case (a reminder
    each time a deadline passes), give a distinct reason, e.g. `overdue#2`.
    """
    if not reason or len(reason) > MAX_REASON:
        raise ValueError(f"reason must be 1 to {MAX_REASON} characters, got {reason!r}")
    ids: list[int] = []
    for recipient in recipients:
        for channel in recipient.channels:
            key = {
                "case_id": case_id,
                "reason": reason,
                "recipient": recipient.name,
                "channel_kind": channel.kind.value,
                "target": channel.target,
            }
            existing = _existing(session, key)
            if existing is None:
                row = Delivery(**key, secret=channel.secret, status=DeliveryStatus.PENDING,
                               created_at=now, due_at=now, attempts=0)  # fmt: skip
                try:
                    with session.begin_nested():
                        session.add(row)
                        session.flush()
                    existing = row.id
                except IntegrityError:  # another replica ran the same hook at the same moment
                    existing = _existing(session, key)
                    if existing is None:
                        raise
            if existing not in ids:
                ids.append(existing)
    return ids


def _existing(session: Session, key: dict[str, object]) -> int | None:
    stmt = select(Delivery.id).filter_by(**key)
    return session.execute(stmt).scalar_one_or_none()
