"""The case state machine, as one table (GB/T 30428.8: 上报 → 立案 → 派遣 → 处置 → 核查 → 结案).

Every allowed move is a row of TRANSITIONS: the action, the states it may start from, the state
it leads to, whether it needs a note, and the command it sends to the node. Nothing else in the
console decides what may follow what, so the table is the whole truth, readable at a glance and
printed as such in docs/console.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    REPORTED = "reported"  # 信息采集: the alert arrived
    REGISTERED = "registered"  # 案卷建立: an operator (or a rule) confirmed it is a case
    DISPATCHED = "dispatched"  # 任务派遣: sent to a patrol
    ACCEPTED = "accepted"  # the patrol took it
    ON_SITE = "on_site"  # the patrol is there
    HANDLED = "handled"  # 处理反馈: the patrol reports it done
    CLOSED = "closed"  # 核查结案: verified and closed
    FALSE_ALARM = "false_alarm"  # 误报 (作废)
    RETURNED = "returned"  # 退回: the patrol refused it, back to the dispatcher
    DEFERRED = "deferred"  # 挂账: parked with a reason until a date


class Action(StrEnum):
    REGISTER = "register"
    DISPATCH = "dispatch"
    ACCEPT = "accept"
    ARRIVE = "arrive"
    HANDLE = "handle"
    CLOSE = "close"
    FALSE_ALARM = "false_alarm"
    RETURN = "return"
    DEFER = "defer"
    REOPEN = "reopen"


class Colour(StrEnum):
    RED = "red"
    YELLOW = "yellow"
    GREEN = "green"


@dataclass(frozen=True, slots=True)
class Transition:
    action: Action
    sources: frozenset[State]
    target: State
    needs_note: bool = False
    # The command the node gets (mqtt/topics.md): false alarm releases, a close resolves.
    node_command: str | None = None


def _t(
    action: Action,
    sources: set[State],
    target: State,
    *,
    needs_note: bool = False,
    node_command: str | None = None,
) -> Transition:
    return Transition(action, frozenset(sources), target, needs_note, node_command)


S = State
_OPEN_BEFORE_HANDLING = {S.REPORTED, S.REGISTERED, S.DISPATCHED, S.ACCEPTED, S.ON_SITE}

TRANSITIONS: tuple[Transition, ...] = (
    _t(Action.REGISTER, {S.REPORTED}, S.REGISTERED),
    # A re-dispatch (another patrol) is a dispatch from dispatched.
    _t(Action.DISPATCH, {S.REGISTERED, S.RETURNED, S.DISPATCHED}, S.DISPATCHED),
    _t(Action.ACCEPT, {S.DISPATCHED}, S.ACCEPTED),
    _t(Action.ARRIVE, {S.ACCEPTED}, S.ON_SITE),
    # A patrol may report it handled without marking the arrival first.
    _t(Action.HANDLE, {S.ACCEPTED, S.ON_SITE}, S.HANDLED),
    _t(Action.CLOSE, {S.HANDLED}, S.CLOSED, node_command="resolve"),
    _t(
        Action.FALSE_ALARM,
        _OPEN_BEFORE_HANDLING | {S.RETURNED, S.DEFERRED},
        S.FALSE_ALARM,
        node_command="release",
    ),
    # Refused by the patrol, or the handling rejected at verification (rework, 返工).
    _t(
        Action.RETURN, {S.DISPATCHED, S.ACCEPTED, S.ON_SITE, S.HANDLED}, S.RETURNED, needs_note=True
    ),
    _t(Action.DEFER, {S.REGISTERED, S.DISPATCHED, S.RETURNED}, S.DEFERRED, needs_note=True),
    _t(Action.REOPEN, {S.CLOSED, S.FALSE_ALARM, S.DEFERRED}, S.REGISTERED, needs_note=True),
)

_BY_ACTION: dict[Action, Transition] = {t.action: t for t in TRANSITIONS}

STATE_COLOURS: dict[State, Colour] = {
    S.REPORTED: Colour.RED,
    S.REGISTERED: Colour.RED,
    S.RETURNED: Colour.RED,
    S.DISPATCHED: Colour.YELLOW,
    S.ACCEPTED: Colour.YELLOW,
    S.ON_SITE: Colour.YELLOW,
    S.HANDLED: Colour.YELLOW,
    S.DEFERRED: Colour.YELLOW,
    S.CLOSED: Colour.GREEN,
    S.FALSE_ALARM: Colour.GREEN,
}

TERMINAL: frozenset[State] = frozenset({S.CLOSED, S.FALSE_ALARM})
# States in which nobody has taken the case yet: the response deadline applies.
AWAITING_RESPONSE: frozenset[State] = frozenset(
    {S.REPORTED, S.REGISTERED, S.DISPATCHED, S.RETURNED}
)
# States in which the work is not done yet: the handling deadline applies.
AWAITING_HANDLING: frozenset[State] = AWAITING_RESPONSE | {S.ACCEPTED, S.ON_SITE}


class InvalidTransitionError(ValueError):
    """An action the table does not allow from the case's state (or an unknown one)."""


class NoteRequiredError(ValueError):
    """An action that must say why (return, defer, reopen) came without a note."""


def transition_for(state: State, action: str, note: str | None) -> Transition:
    """The row that allows `action` from `state`, or an error that says what is allowed."""
    try:
        known = Action(action)
    except ValueError:
        names = ", ".join(a.value for a in Action)
        raise InvalidTransitionError(f"unknown action {action!r}; actions are: {names}") from None
    row = _BY_ACTION[known]
    if state not in row.sources:
        allowed = ", ".join(sorted(a.value for a in allowed_actions(state))) or "none"
        raise InvalidTransitionError(
            f"cannot {known.value} a case that is {state.value}; allowed from {state.value}: "
            f"{allowed}"
        )
    if row.needs_note and not (note and note.strip()):
        raise NoteRequiredError(f"{known.value} needs a note saying why")
    return row


def allowed_actions(state: State) -> frozenset[Action]:
    return frozenset(t.action for t in TRANSITIONS if state in t.sources)
