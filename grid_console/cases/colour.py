"""Red, yellow, green (红黄绿) and "overdue", from the state and the stored deadlines.

The stored `colour` column is the state's colour. A deadline passing changes nothing in the
database until the deadline job (a later slice) acts on it, so the colour people see is worked
out here at read time: red as soon as a deadline has passed, whoever reads it and whichever
replica serves them.
"""

from __future__ import annotations

from datetime import datetime

from grid_console.cases.machine import (
    AWAITING_HANDLING,
    AWAITING_RESPONSE,
    STATE_COLOURS,
    Colour,
    State,
)


def is_overdue(
    state: State, response_due_at: datetime, handle_due_at: datetime, now: datetime
) -> bool:
    if state in AWAITING_RESPONSE and now >= response_due_at:
        return True
    return state in AWAITING_HANDLING and now >= handle_due_at


def colour_of(
    state: State, response_due_at: datetime, handle_due_at: datetime, now: datetime
) -> Colour:
    if is_overdue(state, response_due_at, handle_due_at, now):
        return Colour.RED
    return STATE_COLOURS[state]
