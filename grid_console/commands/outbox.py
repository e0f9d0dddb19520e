"""Writing a command to the outbox, inside the caller's transaction.

The case's new state and the command it implies commit together or not at all: a false alarm
recorded is a `release` that will be sent, even if the broker is down for an hour.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from grid_console.commands.models import OutboxCommand
from grid_contract.topics import Topics


def enqueue(
    session: Session,
    *,
    prefix: str,
    command: str,
    body: dict[str, object],
    by: str,
    now: datetime,
    case_id: int | None,
) -> OutboxCommand:
    row = OutboxCommand(
        case_id=case_id,
        command=command,
        topic=Topics(prefix).cmd(command),
        body=body,
        by=by,
        created_at=now,
        attempts=0,
    )
    session.add(row)
    session.flush()
    return row
