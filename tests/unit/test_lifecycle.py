"""The alert lifecycle: commands, escalation, suppression after release/resolve, restarts."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from edge.alerts.ids import UlidFactory
from edge.alerts.lifecycle import LifecyclePolicy
from edge.alerts.manager import AlertManager, NodeIdentity, Place
from edge.alerts.store import Actor, AlertStore
from edge.clock import FakeClock
from edge.messages import AlertEvent, AlertKind, AlertObject, Box, Category, Severity, Transition
from edge.mqtt.topics import Topics
from tests.schemas import validate

CAR = AlertObject(Category.VEHICLE, "car", 0.8, Box(0.2, 0.6, 0.35, 0.72), 3)
ELSEWHERE = AlertObject(Category.VEHICLE, "car", 0.8, Box(0.6, 0.6, 0.75, 0.72), 9)


class ListSink:
    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []

    def deliver(self, topic: str, payload: bytes) -> None:
        self.events.append(json.loads(payload))


def ev(t: Transition, key: str, at: float, obj: AlertObject = CAR) -> AlertEvent:
    return AlertEvent(key, AlertKind.FIRE_LANE_BLOCKED, t, Severity.MAJOR, started=at - 60, ts=at,
                      camera_id="cam", zone_id="lane", objects=(obj,))  # fmt: skip


class World:
    """A manager with a real store on disk, a fake clock and a sink that keeps payloads."""

    def __init__(
        self, tmp: Path, clock: FakeClock | None = None, hold_s: float = 0.0, **policy: float
    ) -> None:
        self.tmp = tmp
        self.clock = clock or FakeClock(start=100.0)
        self.sink = ListSink()
        self.store = AlertStore(tmp / "alerts.sqlite3")
        counter = itertools.count(1)
        self.manager = AlertManager(
            NodeIdentity("s", "Site", "n"), {"cam": Place(grid="A-1")}, topics=Topics("g/s/n"),
            clock=self.clock, sink=self.sink, snapshots=None,
            new_id=UlidFactory(self.clock, lambda n: next(counter).to_bytes(n, "big")),
            store=self.store,
            policy=LifecyclePolicy(release_hold=lambda _r: hold_s, **policy),  # type: ignore[arg-type]
        )  # fmt: skip

    def trail(self) -> list[tuple[str, str, int]]:
        return [(str(e["event"]), str(e["state"]), int(str(e["seq"]))) for e in self.sink.events]

    def cmd(self, action: str, alert_id: str) -> tuple[bool, str]:
        r = self.manager.command(action, alert_id, Actor("op-7", self.clock.now(), "on it"))
        return r.ok, r.message


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def first_id(w: World) -> str:
    return str(w.sink.events[0]["id"])


def test_acknowledge_then_clear(world: World) -> None:
    world.manager.handle([ev(Transition.RAISED, "k1", 100)])
    assert world.cmd("ack", first_id(world)) == (True, "acknowledged")
    world.manager.handle([ev(Transition.UPDATED, "k1", 160)])
    world.manager.handle([ev(Transition.CLEARED, "k1", 200)])
    assert world.trail() == [
        ("raised", "open", 1), ("acknowledged", "acknowledged", 2),
        ("updated", "acknowledged", 3), ("cleared", "cleared", 4),
    ]  # fmt: skip
    assert world.sink.events[1]["actor"] == {
        "by": "op-7", "at": "2026-01-01T00:01:40.000Z", "note": "on it", "command_id": None,
    }  # fmt: skip
    for e in world.sink.events:
        validate("alert", e)


def test_escalates_once_when_nobody_acknowledges(world: World) -> None:
    world.manager.handle([ev(Transition.RAISED, "k1", 100)])
    world.clock.advance(299)
    assert world.manager.tick() == []
    world.clock.advance(1)
    (escalated,) = world.manager.tick()
    assert (escalated["event"], escalated["escalated"], escalated["severity"]) == (
        "escalated", True, "critical",
    )  # fmt: skip
    world.clock.advance(600)
    assert world.manager.tick() == []
    validate("alert", escalated)


def test_an_acknowledged_alert_does_not_escalate(world: World) -> None:
    world.manager.handle([ev(Transition.RAISED, "k1", 100)])
    world.cmd("ack", first_id(world))
    world.clock.advance(1000)
    assert world.manager.tick() == []


def test_release_silences_the_condition_until_it_clears(world: World) -> None:
    world.manager.handle([ev(Transition.RAISED, "k1", 100)])
    assert world.cmd("release", first_id(world)) == (True, "released")
    world.clock.advance(400)
    assert world.manager.handle([ev(Transition.UPDATED, "k1", 500)]) == []
    assert world.manager.handle([ev(Transition.CLEARED, "k1", 600)]) == []
    again = world.manager.handle([ev(Transition.RAISED, "k2", 700)])
    assert again[0]["event"] == "raised" and again[0]["id"] != first_id(world)
    assert world.trail()[:2] == [("raised", "open", 1), ("released", "released", 2)]


def test_resolved_but_still_there_raises_a_new_alert_later(world: World) -> None:
    world.manager.handle([ev(Transition.RAISED, "k1", 100)])
    world.cmd("resolve", first_id(world))
    world.clock.advance(200)
    assert world.manager.handle([ev(Transition.UPDATED, "k1", 300)]) == []
    world.clock.advance(100)  # 300 s after the resolve (reraise_after_resolve_s)
    (new,) = world.manager.handle([ev(Transition.UPDATED, "k1", 400)])
    assert (new["event"], new["seq"]) == ("raised", 1) and new["id"] != first_id(world)
    assert new["started_at"] == "2026-01-01T00:06:40.000Z"  # a fresh start, not the old one


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("release", "release", (True, "already released")),
        ("resolve", "release", (False, "alert is already resolved")),
        ("release", "ack", (False, "alert is already released")),
    ],
)
def test_repeated_or_conflicting_commands(
    world: World, first: str, second: str, expected: tuple[bool, str]
) -> None:
    world.manager.handle([ev(Transition.RAISED, "k1", 100)])
    world.cmd(first, first_id(world))
    assert world.cmd(second, first_id(world)) == expected


def test_commands_on_unknown_alerts_and_actions(world: World) -> None:
    assert world.cmd("ack", "01NOSUCHALERT0000000000000") == (
        False, "no alert with id '01NOSUCHALERT0000000000000'",
    )  # fmt: skip
    world.manager.handle([ev(Transition.RAISED, "k1", 100)])
    ok, message = world.cmd("explode", first_id(world))
    assert not ok and "unknown command" in message


def test_late_acknowledge_of_a_cleared_alert_is_recorded(world: World) -> None:
    world.manager.handle([ev(Transition.RAISED, "k1", 100)])
    world.manager.handle([ev(Transition.CLEARED, "k1", 160)])
    assert world.cmd("ack", first_id(world)) == (True, "acknowledged")
    assert world.trail()[-1] == ("acknowledged", "cleared", 3)
    validate("alert", world.sink.events[-1])


def test_an_open_alert_survives_a_restart_and_is_adopted(tmp_path: Path) -> None:
    before = World(tmp_path)
    before.manager.handle([ev(Transition.RAISED, "cam/lane/1", 100)])
    alert_id = first_id(before)
    before.store.close()  # the process dies; the store file remains

    after = World(tmp_path, FakeClock(start=5.0))  # a new process, its own monotonic clock
    assert [r.id for r in after.manager.open_alerts()] == [alert_id]
    # The new rules count from 1 again; the same car in the same place is the same alert.
    # seq skips one number across the restart: the event after the last one saved may have
    # reached the outbox before the crash, and (id, seq) must never name two events.
    (adopted,) = after.manager.handle([ev(Transition.RAISED, "cam/lane/1", 70)])
    assert (adopted["id"], adopted["event"], adopted["seq"]) == (alert_id, "updated", 3)
    assert adopted["started_at"] == before.sink.events[0]["started_at"]
    (cleared,) = after.manager.handle([ev(Transition.CLEARED, "cam/lane/1", 90)])
    assert (cleared["id"], cleared["seq"]) == (alert_id, 4)


def test_a_restored_alert_nobody_confirms_clears_at_its_deadline(tmp_path: Path) -> None:
    before = World(tmp_path)
    before.manager.handle([ev(Transition.RAISED, "cam/lane/1", 100)])
    before.store.close()
    after = World(tmp_path, FakeClock(start=5.0), escalate_after_s=1e9)
    # A different car elsewhere in the zone is not the restored alert.
    (other,) = after.manager.handle([ev(Transition.RAISED, "cam/lane/1", 50, ELSEWHERE)])
    assert other["event"] == "raised" and other["id"] != first_id(before)
    after.clock.advance(599)
    assert after.manager.tick() == []
    after.clock.advance(1)
    (cleared,) = after.manager.tick()
    assert (cleared["id"], cleared["event"]) == (first_id(before), "cleared")
    assert cleared["detail"] == {"cleared_reason": "not_confirmed_after_restart"}


def test_reload_rebuilds_camera_rules_but_keeps_sensor_alarms(world: World) -> None:
    smoke = AlertEvent("sensor/smoke-1/smoke", AlertKind.SMOKE, Transition.RAISED,
                       Severity.CRITICAL, started=100, ts=100, sensor_id="smoke-1")  # fmt: skip
    world.manager.handle([smoke, ev(Transition.RAISED, "cam/lane/1", 100)])
    world.manager.reconfigure(
        {"cam": Place()}, {}, LifecyclePolicy(restore_deadline=lambda r, s: s + 5)
    )
    world.clock.advance(10)
    # The camera alert was not confirmed by the new rules in time; the smoke alarm carries on.
    assert [(e["kind"], e["event"]) for e in world.manager.tick()] == [
        ("fire_lane_blocked", "cleared")
    ]
    still = world.manager.handle([AlertEvent(
        "sensor/smoke-1/smoke", AlertKind.SMOKE, Transition.UPDATED, Severity.CRITICAL,
        started=100, ts=110, sensor_id="smoke-1")])  # fmt: skip
    assert [(e["event"], e["seq"]) for e in still] == [("updated", 2)]


def test_a_released_car_stays_silent_across_a_restart(tmp_path: Path) -> None:
    before = World(tmp_path)
    before.manager.handle([ev(Transition.RAISED, "cam/lane/1", 100)])
    assert before.cmd("release", first_id(before)) == (True, "released")
    before.store.close()

    after = World(tmp_path, FakeClock(start=5.0), escalate_after_s=1e9)
    # The new rules number from 1 again and see the same car at the same place: still released.
    assert after.manager.handle([ev(Transition.RAISED, "cam/lane/1", 50)]) == []
    assert after.manager.handle([ev(Transition.UPDATED, "cam/lane/1", 60)]) == []
    # Another car elsewhere in the zone is a new alert.
    (other,) = after.manager.handle([ev(Transition.RAISED, "cam/lane/2", 70, ELSEWHERE)])
    assert other["event"] == "raised"
    # The released car leaves: the silence is lifted, on disk too, and the next car there raises.
    assert after.manager.handle([ev(Transition.CLEARED, "cam/lane/1", 80)]) == []
    assert after.store.load_silenced() == []
    (new,) = after.manager.handle([ev(Transition.RAISED, "cam/lane/3", 90)])
    assert new["event"] == "raised" and new["id"] != first_id(before)


def test_a_released_car_gone_during_the_restart_does_not_silence_the_next(
    tmp_path: Path,
) -> None:
    before = World(tmp_path)
    before.manager.handle([ev(Transition.RAISED, "cam/lane/1", 100)])
    before.cmd("release", first_id(before))
    before.store.close()
    after = World(tmp_path, FakeClock(start=5.0), escalate_after_s=1e9)
    after.clock.advance(600)  # the restore window: nobody saw it again
    assert after.manager.tick() == []
    assert after.store.load_silenced() == []
    (new,) = after.manager.handle([ev(Transition.RAISED, "cam/lane/1", 700)])
    assert new["event"] == "raised"


def test_a_released_car_stays_silent_across_a_reload(world: World) -> None:
    world.manager.handle([ev(Transition.RAISED, "cam/lane/1", 100)])
    world.cmd("release", first_id(world))
    world.manager.reconfigure({"cam": Place()}, {}, LifecyclePolicy())
    assert world.manager.handle([ev(Transition.RAISED, "cam/lane/1", 200)]) == []
    assert [e["event"] for e in world.sink.events] == ["raised", "released"]


def test_a_released_smoke_alarm_raises_again_after_a_restart(tmp_path: Path) -> None:
    """A smoke detector that alarms again after a restart may be a new fire: it raises."""
    smoke = AlertEvent("sensor/smoke-1/smoke", AlertKind.SMOKE, Transition.RAISED,
                       Severity.CRITICAL, started=100, ts=100, sensor_id="smoke-1")  # fmt: skip
    before = World(tmp_path, hold_s=60)
    before.manager.handle([smoke])
    before.cmd("release", first_id(before))
    before.store.close()
    after = World(tmp_path, FakeClock(start=5.0), hold_s=60)
    (again,) = after.manager.handle([smoke])
    assert again["event"] == "raised" and again["id"] != first_id(before)


def lift(t: Transition, at: float) -> AlertEvent:
    bike = AlertObject(Category.TWO_WHEELER, "motorcycle", 0.7, Box(0.4, 0.3, 0.7, 0.9), 4)
    return AlertEvent("lift-2/car", AlertKind.EBIKE_IN_LIFT, t, Severity.CRITICAL,
                      started=at, ts=at, camera_id="lift-2", zone_id="car",
                      objects=(bike,))  # fmt: skip


def test_a_released_car_hidden_for_a_while_stays_silent(world: World) -> None:
    """Issue 13: a released car that a passing bus hides long enough for the rule to clear
    comes back under a new key (a new occupant, a new track): still the released car."""
    w = World(world.tmp / "held", hold_s=300, escalate_after_s=1e9)
    w.manager.handle([ev(Transition.RAISED, "cam/lane/1", 100)])
    assert w.cmd("release", first_id(w)) == (True, "released")
    assert w.manager.handle([ev(Transition.CLEARED, "cam/lane/1", 130)]) == []  # the bus
    w.clock.advance(200)
    assert w.manager.tick() == []
    assert w.manager.handle([ev(Transition.RAISED, "cam/lane/2", 330)]) == []  # seen again
    assert w.manager.handle([ev(Transition.UPDATED, "cam/lane/2", 390)]) == []
    # A car at another place in the zone meanwhile is a new alert.
    (other,) = w.manager.handle([ev(Transition.RAISED, "cam/lane/3", 400, ELSEWHERE)])
    assert other["event"] == "raised"
    # It leaves for good: once the hold is over, the next car there raises.
    assert w.manager.handle([ev(Transition.CLEARED, "cam/lane/2", 420)]) == []
    assert [r.id for r in w.store.load_silenced()] == [first_id(w)]  # held, on disk
    w.clock.advance(299)
    w.manager.tick()
    assert [r.id for r in w.store.load_silenced()] == [first_id(w)]
    w.clock.advance(1)
    assert w.manager.tick() == []
    assert w.store.load_silenced() == []
    (new,) = w.manager.handle([ev(Transition.RAISED, "cam/lane/4", 800)])
    assert new["event"] == "raised" and new["id"] != first_id(w)


def test_a_release_while_a_reload_rebuilds_the_rules_sticks(world: World) -> None:
    """Issue 13: released between a zone save's reload and the new rules confirming the car,
    the alert came back as a new one seconds later."""
    world.manager.handle([ev(Transition.RAISED, "cam/lane/1", 100)])
    world.manager.reconfigure({"cam": Place()}, {}, LifecyclePolicy())
    assert world.cmd("release", first_id(world)) == (True, "released")
    assert world.manager.handle([ev(Transition.RAISED, "cam/lane/1", 200)]) == []
    assert world.manager.handle([ev(Transition.UPDATED, "cam/lane/1", 260)]) == []
    assert [e["event"] for e in world.sink.events] == ["raised", "released"]


def test_a_released_lift_alarm_stays_silent_while_the_bike_stays(tmp_path: Path) -> None:
    """A lift car is one place: the rule's next alert while the silence holds is the same
    bicycle, after the verifier lost it for a moment and after a restart."""
    before = World(tmp_path, hold_s=60)
    before.manager.handle([lift(Transition.RAISED, 100)])
    assert before.cmd("release", first_id(before)) == (True, "released")
    assert before.manager.handle([lift(Transition.CLEARED, 115)]) == []
    before.clock.advance(20)
    assert before.manager.handle([lift(Transition.RAISED, 135)]) == []
    before.store.close()

    after = World(tmp_path, FakeClock(start=5.0), hold_s=60)
    assert after.manager.handle([lift(Transition.RAISED, 10)]) == []
    assert after.manager.handle([lift(Transition.CLEARED, 20)]) == []
    after.clock.advance(61)
    assert after.manager.tick() == []
    (new,) = after.manager.handle([lift(Transition.RAISED, 90)])
    assert new["event"] == "raised" and new["id"] != first_id(before)


def test_a_clear_reports_what_the_rule_says_at_the_clear(world: World) -> None:
    """Issue 12: a gas alarm's clear said 60 %LEL, the level while it was open."""

    def gas(t: Transition, at: float, value: float) -> AlertEvent:
        detail: dict[str, object] = {"value": value, "unit": "%LEL"}
        return AlertEvent("sensor/gas-1/gas", AlertKind.GAS, t, Severity.CRITICAL, started=100,
                          ts=at, sensor_id="gas-1", detail=detail)  # fmt: skip

    world.manager.handle([gas(Transition.RAISED, 100, 60.0)])
    world.manager.handle([gas(Transition.CLEARED, 130, 3.0)])
    raised, cleared = world.sink.events
    assert raised["detail"]["value"] == 60.0  # type: ignore[index]
    assert cleared["detail"] == {"value": 3.0, "unit": "%LEL"}
