"""Storing evidence once by sha256 (a node's snapshot or clip, a patrol's photo), and linking
it to its alert. Clips share the table with pictures; `is_picture` keeps them apart."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grid_console.snapshots.models import AlertSnapshot, Snapshot


def keep_picture(session: Session, content: bytes, content_type: str, at: datetime) -> str:
    """Keep `content` once, by its sha256 (a node's snapshot, a patrol's photo); return it."""
    digest = hashlib.sha256(content).hexdigest()
    if session.get(Snapshot, digest) is None:
        _insert(session, Snapshot(sha256=digest, content=content, size=len(content),
                                  content_type=content_type, first_seen=at))  # fmt: skip
    return digest


CLIP_TYPE = "video/mp4"


def is_picture() -> ColumnElement[bool]:
    """Rows of `snapshots` that are pictures, not clips (for queries joined with Snapshot)."""
    return Snapshot.content_type.like("image/%")


def store_snapshot(session: Session, alert_id: str, content: bytes, at: datetime) -> str:
    """Keep `content` (once) and note that `alert_id` showed it; return its sha256."""
    return _store_linked(session, alert_id, content, "image/jpeg", at)


def store_clip(session: Session, alert_id: str, content: bytes, at: datetime) -> str:
    """Keep an alert's MP4 clip (once) beside its pictures; return its sha256."""
    return _store_linked(session, alert_id, content, CLIP_TYPE, at)


def _store_linked(
    session: Session, alert_id: str, content: bytes, content_type: str, at: datetime
) -> str:
    digest = keep_picture(session, content, content_type, at)
    link = select(AlertSnapshot.id).where(
        AlertSnapshot.alert_id == alert_id, AlertSnapshot.sha256 == digest
    )
    if session.execute(link).first() is None:
        _insert(session, AlertSnapshot(alert_id=alert_id, sha256=digest, received_at=at))
    return digest


def _insert(session: Session, row: Snapshot | AlertSnapshot) -> None:
    # Two replicas storing the same picture at once: the second insert loses, harmlessly.
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        pass
