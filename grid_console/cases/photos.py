"""A patrol's photo for a case: stored once by sha256 (beside the node's snapshots), linked to
the case, and noted in its audit trail."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from grid_console.cases.models import Case, CaseEvent, CasePhoto
from grid_console.cases.service import Actor, CaseNotFoundError, InvalidInputError
from grid_console.db.session import transaction
from grid_console.snapshots.models import Snapshot
from grid_console.snapshots.service import keep_picture

MAX_PHOTO_BYTES = 8 * 1024 * 1024
_MAGIC = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


def photo_type(content: bytes) -> str:
    if not content:
        raise InvalidInputError("file", "empty file")
    if len(content) > MAX_PHOTO_BYTES:
        raise InvalidInputError("file", f"{len(content)} bytes; at most {MAX_PHOTO_BYTES}")
    for magic, kind in _MAGIC.items():
        if content.startswith(magic):
            return kind
    raise InvalidInputError("file", "照片须为 JPEG 或 PNG / a photo must be JPEG or PNG")


def add_photo(engine: Engine, case_id: int, content: bytes, actor: Actor, now: datetime) -> str:
    content_type = photo_type(content)
    digest = hashlib.sha256(content).hexdigest()

    def work(session: Session) -> str:
        case = session.execute(
            select(Case).where(Case.id == case_id).with_for_update()
        ).scalar_one_or_none()
        if case is None or not actor.sees(case.grid):
            raise CaseNotFoundError(f"no case {case_id}")
        keep_picture(session, content, content_type, now)
        linked = session.execute(
            select(CasePhoto.id).where(CasePhoto.case_id == case_id, CasePhoto.sha256 == digest)
        ).first()
        if linked is None:
            session.add(
                CasePhoto(
                    case_id=case_id, sha256=digest, uploaded_by=actor.username, uploaded_at=now
                )
            )
            session.add(
                CaseEvent(
                    case_id=case_id,
                    at=now,
                    actor=actor.username,
                    action="photo",
                    from_state=case.state,
                    to_state=case.state,
                    note=None,
                    source="api",
                    detail={"sha256": digest, "size": len(content)},
                )
            )
        return digest

    return transaction(engine, work)


def read_photo(engine: Engine, case_id: int, digest: str, actor: Actor) -> tuple[bytes, str]:
    with Session(engine) as session:
        case = session.get(Case, case_id)
        linked = session.execute(
            select(CasePhoto.id).where(CasePhoto.case_id == case_id, CasePhoto.sha256 == digest)
        ).first()
        if case is None or not actor.sees(case.grid) or linked is None:
            raise CaseNotFoundError(f"no photo {digest} on case {case_id}")
        snap = session.get(Snapshot, digest)
        assert snap is not None  # the foreign key
        return snap.content, snap.content_type
