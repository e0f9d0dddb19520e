"""The one place where the case code says "these people must be told".

Everything that owes a notification (a dispatch, a critical kind telling the grid head, a
deadline passing, an escalation, a deferred case coming back) calls `notification_due` inside
its own transaction. It records the debt in the case's audit trail (action `notify_due`, the
recipients and their channels in `detail`) and hands it to the notification senders
(grid_console/notify), whose deliveries commit in the same transaction: a case dispatched is a
notification owed, even if every endpoint is down. A stored channel the senders refuse (a
target that is no longer a valid URL) is named in the audit row and skipped, never fatal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from grid_console.cases.models import Case, CaseEvent
from grid_console.notify import Channel, Recipient, enqueue
from grid_console.people.models import Person
from grid_console.people.service import channels_of

SYSTEM = "system"


def notification_due(
    session: Session,
    case: Case,
    recipients: Sequence[Person],
    reason: str,
    now: datetime,
) -> CaseEvent | None:
    """Owe `recipients` a notification about `case` for `reason`; None if nobody to tell."""
    if not recipients:
        return None
    people: list[dict[str, object]] = []
    handed: list[Recipient] = []
    for person in recipients:
        listed: list[dict[str, object]] = []
        usable: list[Channel] = []
        for row in channels_of(session, person.id):
            entry: dict[str, object] = {"kind": row.kind, "target": row.target,
                                        "has_secret": row.secret is not None}  # fmt: skip
            try:
                usable.append(Channel(row.kind, row.target, row.secret))  # type: ignore[arg-type]
            except ValueError as exc:
                entry["refused"] = str(exc)
            listed.append(entry)
        people.append({"username": person.username, "role": person.role, "channels": listed})
        handed.append(Recipient(person.username, tuple(usable)))
    event = CaseEvent(
        case_id=case.id,
        at=now,
        actor=SYSTEM,
        action="notify_due",
        from_state=case.state,
        to_state=case.state,
        note=reason,
        source="system",
        detail={"reason": reason, "recipients": people},
    )
    session.add(event)
    enqueue(session, case.id, handed, reason, now)
    return event
