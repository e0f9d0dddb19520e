"""The database half of the metrics: counted at each scrape, so every replica says the same."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grid_console.cases.colour import colour_of, is_overdue
from grid_console.cases.machine import State
from grid_console.cases.models import Case
from grid_console.commands.models import OutboxCommand
from grid_console.ingest.models import Quarantined
from grid_console.notify.models import Delivery

_CLOSED = (State.CLOSED.value, State.FALSE_ALARM.value)
_TICK = timedelta(seconds=1)


@dataclass(slots=True)
class DbFigures:
    open_cases: Counter[tuple[str, str]] = field(default_factory=Counter)  # (state, colour)
    overdue: Counter[str] = field(default_factory=Counter)  # kind
    deliveries: Counter[tuple[str, str]] = field(default_factory=Counter)  # (state, channel)
    quarantine: Counter[str] = field(default_factory=Counter)  # reason
    outbox_pending: int = 0


def db_figures(session: Session, now: datetime) -> DbFigures:
    """A handful of GROUP BY counts; none reads more than a column or two per row."""
    figures = DbFigures()
    response_past = Case.response_due_at <= now
    handle_past = Case.handle_due_at <= now
    rows = session.execute(
        select(Case.state, Case.kind, response_past, handle_past, func.count())
        .where(Case.state.not_in(_CLOSED))
        .group_by(Case.state, Case.kind, response_past, handle_past)
    ).all()
    for state_code, kind, r_past, h_past, count in rows:
        # The colour and "overdue" come from the one definition the API uses (cases/colour.py),
        # fed a deadline just before or after `now` as the database found it.
        state = State(state_code)
        due_r = now - _TICK if r_past else now + _TICK
        due_h = now - _TICK if h_past else now + _TICK
        figures.open_cases[(state.value, colour_of(state, due_r, due_h, now).value)] += count
        if is_overdue(state, due_r, due_h, now):
            figures.overdue[kind] += count
    for status, channel, count in session.execute(
        select(Delivery.status, Delivery.channel_kind, func.count()).group_by(
            Delivery.status, Delivery.channel_kind
        )
    ):
        figures.deliveries[(status, channel)] = count
    for reason, count in session.execute(
        select(Quarantined.reason, func.count()).group_by(Quarantined.reason)
    ):
        figures.quarantine[reason] = count
    figures.outbox_pending = session.execute(
        select(func.count()).select_from(OutboxCommand).where(OutboxCommand.sent_at.is_(None))
    ).scalar_one()
    return figures
