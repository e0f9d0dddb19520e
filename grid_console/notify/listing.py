"""A case's deliveries as people read them on its page: who, by which channel, where it stands.

Targets and secrets are left out on purpose: a robot's webhook URL carries its key, and a
patrol who may read the case has no business with another person's channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from grid_console.notify.models import Delivery, DeliveryAttempt
from grid_console.people.models import Person

_MAX_ERROR = 300  # an endpoint's answer can be long; the page shows the gist


@dataclass(frozen=True, slots=True)
class AttemptView:
    """One try, as the operator asking "why did the patrol not get it" reads it."""

    attempt: int
    started_at: datetime
    ok: bool
    http_status: int | None
    detail: str  # the endpoint's answer or the error, cut to its gist


@dataclass(frozen=True, slots=True)
class DeliveryView:
    id: int
    recipient: str  # the user name the delivery was addressed to
    name: str  # the person's display name, or the user name when there is none (any more)
    channel: str
    state: str  # pending | sent | failed
    reason: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    tries: list[AttemptView]


def case_deliveries(session: Session, case_id: int) -> list[DeliveryView]:
    """Oldest first, in the order they were owed."""
    rows = session.execute(
        select(Delivery, Person.display_name)
        .outerjoin(Person, Person.username == Delivery.recipient)
        .where(Delivery.case_id == case_id)
        .order_by(Delivery.created_at, Delivery.id)
    ).all()
    tries: dict[int, list[AttemptView]] = {d.id: [] for d, _ in rows}
    for a in session.execute(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id.in_(list(tries)))
        .order_by(DeliveryAttempt.delivery_id, DeliveryAttempt.attempt, DeliveryAttempt.id)
    ).scalars():
        tries[a.delivery_id].append(
            AttemptView(a.attempt, a.started_at, a.ok, a.http_status, a.detail[:_MAX_ERROR])
        )
    return [
        DeliveryView(
            id=d.id,
            recipient=d.recipient,
            name=display or d.recipient,
            channel=d.channel_kind,
            state=d.status,
            reason=d.reason,
            attempts=d.attempts,
            last_error=d.last_error[:_MAX_ERROR] if d.last_error else None,
            created_at=d.created_at,
            sent_at=d.sent_at,
            tries=tries[d.id],
        )
        for d, display in rows
    ]
