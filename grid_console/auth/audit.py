"""One row in admin_audit, inside the caller's transaction: the change and its record commit
together or not at all."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from grid_console.auth.models import AdminAudit

CLI_ACTOR = "cli"  # the command line: whoever has the database's credentials


def record(
    session: Session, *, actor: str, action: str, detail: dict[str, object], now: datetime
) -> None:
    session.add(AdminAudit(at=now, actor=actor, action=action, detail=detail))
