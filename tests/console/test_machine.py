"""The transition table and the colours, as tables (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from grid_console.cases.colour import colour_of
from grid_console.cases.machine import (
    STATE_COLOURS,
    TRANSITIONS,
    Action,
    Colour,
    InvalidTransitionError,
    NoteRequiredError,
    State,
    allowed_actions,
    transition_for,
)

S = State

ALLOWED = [
    (S.REPORTED, "register", S.REGISTERED),
    (S.REGISTERED, "dispatch", S.DISPATCHED),
    (S.RETURNED, "dispatch", S.DISPATCHED),
    (S.DISPATCHED, "dispatch", S.DISPATCHED),
    (S.DISPATCHED, "accept", S.ACCEPTED),
    (S.ACCEPTED, "arrive", S.ON_SITE),
    (S.ON_SITE, "handle", S.HANDLED),
    (S.ACCEPTED, "handle", S.HANDLED),
    (S.HANDLED, "close", S.CLOSED),
    (S.REPORTED, "false_alarm", S.FALSE_ALARM),
    (S.ON_SITE, "false_alarm", S.FALSE_ALARM),
    (S.DISPATCHED, "return", S.RETURNED),
    (S.HANDLED, "return", S.RETURNED),
    (S.REGISTERED, "defer", S.DEFERRED),
    (S.CLOSED, "reopen", S.REGISTERED),
    (S.FALSE_ALARM, "reopen", S.REGISTERED),
    (S.DEFERRED, "reopen", S.REGISTERED),
]

REFUSED = [
    (S.REPORTED, "dispatch"),  # register first
    (S.REPORTED, "close"),
    (S.REGISTERED, "accept"),
    (S.DISPATCHED, "handle"),  # accept first
    (S.CLOSED, "false_alarm"),
    (S.CLOSED, "close"),
    (S.FALSE_ALARM, "dispatch"),
    (S.HANDLED, "false_alarm"),  # handled means it was real
    (S.REPORTED, "reopen"),
]


@pytest.mark.parametrize(("state", "action", "target"), ALLOWED)
def test_allowed(state: State, action: str, target: State) -> None:
    assert transition_for(state, action, note="why").target is target


@pytest.mark.parametrize(("state", "action"), REFUSED)
def test_refused_with_what_is_allowed(state: State, action: str) -> None:
    with pytest.raises(InvalidTransitionError, match=f"cannot {action} a case that is {state}"):
        transition_for(state, action, note="why")


def test_unknown_action() -> None:
    with pytest.raises(InvalidTransitionError, match="unknown action 'explode'"):
        transition_for(S.REPORTED, "explode", note=None)


@pytest.mark.parametrize(("state", "action"), [(S.DISPATCHED, "return"), (S.REGISTERED, "defer"),
                                               (S.CLOSED, "reopen")])  # fmt: skip
def test_note_required(state: State, action: str) -> None:
    for note in (None, "", "   "):
        with pytest.raises(NoteRequiredError):
            transition_for(state, action, note=note)


def test_every_action_and_state_is_in_the_table() -> None:
    assert {t.action for t in TRANSITIONS} == set(Action)
    reachable = {t.target for t in TRANSITIONS} | {S.REPORTED}
    assert reachable == set(State)
    assert set(STATE_COLOURS) == set(State)
    assert allowed_actions(S.CLOSED) == {Action.REOPEN}


def test_only_false_alarm_and_close_command_the_node() -> None:
    commands = {t.action: t.node_command for t in TRANSITIONS if t.node_command}
    assert commands == {Action.FALSE_ALARM: "release", Action.CLOSE: "resolve"}


T0 = datetime(2026, 11, 23, 14, 20, tzinfo=UTC)
RESPONSE_DUE, HANDLE_DUE = T0 + timedelta(seconds=60), T0 + timedelta(hours=1)


@pytest.mark.parametrize(
    ("state", "now", "colour"),
    [
        (S.REPORTED, T0, Colour.RED),
        (S.REGISTERED, T0, Colour.RED),
        (S.RETURNED, T0, Colour.RED),
        (S.DISPATCHED, T0, Colour.YELLOW),
        (S.DISPATCHED, RESPONSE_DUE, Colour.RED),  # nobody accepted in time
        (S.ACCEPTED, RESPONSE_DUE, Colour.YELLOW),  # accepted: the response deadline is met
        (S.ON_SITE, HANDLE_DUE, Colour.RED),  # not handled in time
        (S.HANDLED, HANDLE_DUE, Colour.YELLOW),
        (S.DEFERRED, HANDLE_DUE, Colour.YELLOW),
        (S.CLOSED, HANDLE_DUE, Colour.GREEN),
        (S.FALSE_ALARM, T0, Colour.GREEN),
    ],
)
def test_colour(state: State, now: datetime, colour: Colour) -> None:
    assert colour_of(state, RESPONSE_DUE, HANDLE_DUE, now) is colour
