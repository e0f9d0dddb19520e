"""Alert manager: stable ids, sequence numbers, full state, evidence, schema-valid payloads."""

from __future__ import annotations

import errno
import hashlib
import itertools
import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from jsonschema import ValidationError

from edge.alerts.evidence import SnapshotStore
from edge.alerts.ids import UlidFactory, encode_ulid
from edge.alerts.lifecycle import LifecyclePolicy
from edge.alerts.manager import AlertManager, NodeIdentity, Place
from edge.alerts.store import Actor, AlertStore
from edge.clock import FakeClock
from edge.messages import (
    AlertEvent,
    AlertKind,
    AlertObject,
    Box,
    Category,
    Frame,
    Severity,
    Transition,
)
from edge.mqtt.topics import Topics
from edge.parts import can_hold_clips
from tests.schemas import validate


class ListSink:
    def __init__(self) -> None:
        self.delivered: list[tuple[str, dict[str, object]]] = []

    def deliver(self, topic: str, payload: bytes) -> None:
        self.delivered.append((topic, json.loads(payload)))


CAR = AlertObject(Category.VEHICLE, "car", 0.81, Box(0.2, 0.6, 0.35, 0.72), 7)
ZONE = [(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)]


def event(transition: Transition, ts: float, key: str = "cam/z/1") -> AlertEvent:
    return AlertEvent(
        key,
        AlertKind.ILLEGAL_PARKING,
        transition,
        Severity.WARNING,
        started=10.0,
        ts=ts,
        camera_id="cam",
        zone_id="z",
        objects=(CAR,),
        detail={"grace_s": 300.0},
    )


def frame(ts: float) -> Frame:
    return Frame("cam", int(ts), ts, ts, np.full((120, 160, 3), 90, dtype=np.uint8))


@pytest.fixture
def setup(tmp_path: Path) -> tuple[AlertManager, ListSink, FakeClock]:
    clock = FakeClock(start=310.0)
    counter = itertools.count(1)
    sink = ListSink()
    manager = AlertManager(
        NodeIdentity("xizhen", "西镇社区", "gate-1"),
        {"cam": Place(grid="A-03", text="3号楼 北侧", building="3号楼", zones={"z": ZONE})},
        topics=Topics("grid/xizhen/gate-1"),
        clock=clock,
        sink=sink,
        snapshots=SnapshotStore(tmp_path / "snaps"),
        new_id=UlidFactory(clock, random_bytes=lambda n: next(counter).to_bytes(n, "big")),
    )
    return manager, sink, clock


def test_lifecycle_keeps_one_id_and_counts_sequence(
    setup: tuple[AlertManager, ListSink, FakeClock], tmp_path: Path
) -> None:
    manager, sink, clock = setup
    manager.handle([event(Transition.RAISED, 310.0)], frame(310.0))
    clock.advance(60)
    manager.handle([event(Transition.UPDATED, 370.0)], frame(370.0))
    clock.advance(60)
    manager.handle([event(Transition.CLEARED, 430.0)], frame(430.0))
    topics = {t for t, _ in sink.delivered}
    assert topics == {"grid/xizhen/gate-1/alerts/illegal_parking"}
    payloads = [p for _, p in sink.delivered]
    for p in payloads:
        validate("alert", p)
    assert len({p["id"] for p in payloads}) == 1
    assert [p["seq"] for p in payloads] == [1, 2, 3]
    assert [p["event"] for p in payloads] == ["raised", "updated", "cleared"]
    assert [p["state"] for p in payloads] == ["open", "open", "cleared"]
    assert [p["dwell_s"] for p in payloads] == [300.0, 360.0, 420.0]
    # Started 300 s before the raise, on the wall clock of the fake (epoch 2026-01-01).
    assert payloads[0]["started_at"] == "2026-01-01T00:00:10.000Z"
    assert payloads[2]["cleared_at"] == "2026-01-01T00:07:10.000Z"
    assert payloads[0]["grid"] == "A-03" and payloads[0]["location"]["building"] == "3号楼"
    assert manager.open_count == 0


def test_evidence_is_stored_and_hashed(setup: tuple[AlertManager, ListSink, FakeClock]) -> None:
    manager, sink, _ = setup
    manager.handle([event(Transition.RAISED, 310.0)], frame(310.0))
    evidence = sink.delivered[0][1]["evidence"]
    assert isinstance(evidence, dict)
    path = manager._snapshots.path_of(evidence["snapshot_id"])  # type: ignore[union-attr]
    data = path.read_bytes()
    assert data[:2] == b"\xff\xd8"
    assert hashlib.sha256(data).hexdigest() == evidence["sha256"]
    assert (evidence["width"], evidence["height"], evidence["bytes"]) == (160, 120, len(data))
    assert evidence["url"] == f"/api/alerts/{sink.delivered[0][1]['id']}/snapshots/{path.stem}.jpg"


@pytest.mark.parametrize(
    ("source", "named"),
    [("rtsp://10.0.0.7/main", True), ("clips/gate.mp4", True), ("0", False),
     ("/dev/video0", False), ("clips/forecourt.JPG", False)],
)  # fmt: skip
def test_a_clip_is_named_only_where_the_camera_can_hold_one(
    tmp_path: Path, source: str, named: bool
) -> None:
    """A capture device or a still picture keeps no packets: its alert must not promise a clip
    URL that can only answer 404."""
    clock, sink, counter = FakeClock(start=310.0), ListSink(), itertools.count(1)
    manager = AlertManager(
        NodeIdentity("xizhen", "西镇社区", "gate-1", clip_url="/api/alerts/{alert_id}/clip.mp4"),
        {"cam": Place(zones={"z": ZONE}, clips=can_hold_clips(source))},
        topics=Topics("grid/xizhen/gate-1"), clock=clock, sink=sink,
        snapshots=SnapshotStore(tmp_path / "snaps"),
        new_id=UlidFactory(clock, random_bytes=lambda n: next(counter).to_bytes(n, "big")),
    )  # fmt: skip
    manager.handle([event(Transition.RAISED, 310.0)], frame(310.0))
    payload = sink.delivered[0][1]
    validate("alert", payload)
    evidence = payload["evidence"]
    assert isinstance(evidence, dict)
    assert ("clip" in evidence) is named, evidence


class BytesSink:
    def __init__(self) -> None:
        self.delivered: list[tuple[str, bytes]] = []

    def deliver(self, topic: str, payload: bytes) -> None:
        self.delivered.append((topic, payload))


@pytest.mark.parametrize(("cap", "published"), [(512 * 1024, True), (100, False)])
def test_the_evidence_jpeg_follows_its_event_on_the_snapshot_topic(
    tmp_path: Path, cap: int, published: bool
) -> None:
    clock = FakeClock(start=310.0)
    sink = BytesSink()
    manager = AlertManager(
        NodeIdentity("xizhen", "西镇社区", "gate-1", evidence_url="http://10.8.0.12:8080"
                     "/api/alerts/{alert_id}/snapshots/{snapshot_id}.jpg"),
        {"cam": Place(grid="A-03", zones={"z": ZONE})},
        topics=Topics("grid/xizhen/gate-1"), clock=clock, sink=sink,
        snapshots=SnapshotStore(tmp_path / "snaps"), new_id=UlidFactory(clock),
        snapshot_mqtt_max_bytes=cap,
    )  # fmt: skip
    manager.handle([event(Transition.RAISED, 310.0)], frame(310.0))
    manager.handle([event(Transition.UPDATED, 370.0)], frame(370.0))  # keeps the raise's picture
    raised = json.loads(sink.delivered[0][1])
    validate("alert", raised)
    assert raised["evidence"]["url"].startswith("http://10.8.0.12:8080/api/alerts/")
    jpegs = [(t, b) for t, b in sink.delivered if t.endswith("/snapshot")]
    if not published:
        assert jpegs == [] and manager.snapshots_too_large == 1
        return
    ((topic, data),) = jpegs
    assert sink.delivered[1] == (topic, data)  # right after its event, before the update
    assert topic == f"grid/xizhen/gate-1/alerts/illegal_parking/{raised['id']}/snapshot"
    assert hashlib.sha256(data).hexdigest() == raised["evidence"]["sha256"]
    assert manager.snapshots_published == 1


def test_updates_keep_the_raise_snapshot(setup: tuple[AlertManager, ListSink, FakeClock]) -> None:
    manager, sink, _ = setup
    manager.handle([event(Transition.RAISED, 310.0)], frame(310.0))
    manager.handle([event(Transition.UPDATED, 370.0)], frame(370.0))
    first, second = (p["evidence"] for _, p in sink.delivered)
    assert first == second


def test_two_conditions_get_two_ids(setup: tuple[AlertManager, ListSink, FakeClock]) -> None:
    manager, sink, _ = setup
    manager.handle([event(Transition.RAISED, 310.0, "a"), event(Transition.RAISED, 310.0, "b")])
    ids = [p["id"] for _, p in sink.delivered]
    assert len(set(ids)) == 2


def test_events_for_unknown_conditions_are_ignored(
    setup: tuple[AlertManager, ListSink, FakeClock],
) -> None:
    manager, sink, _ = setup
    assert manager.handle([event(Transition.CLEARED, 310.0, "never-raised")]) == []
    assert sink.delivered == []


def test_schema_rejects_a_broken_payload(setup: tuple[AlertManager, ListSink, FakeClock]) -> None:
    manager, sink, _ = setup
    manager.handle([event(Transition.RAISED, 310.0)])
    payload = dict(sink.delivered[0][1])
    payload["seq"] = 0
    with pytest.raises(ValidationError):
        validate("alert", payload)


@pytest.mark.parametrize(
    ("millis", "rand", "expected"),
    [
        (0, bytes(10), "0" * 26),
        (2**48 - 1, b"\xff" * 10, "7" + "Z" * 25),
        # The ULID spec's own example: 01ARZ3NDEK is 1469922850259 ms.
        (1_469_922_850_259, bytes(10), "01ARZ3NDEK0000000000000000"),
    ],
)
def test_ulid_encoding(millis: int, rand: bytes, expected: str) -> None:
    assert encode_ulid(millis, rand) == expected


def test_snapshot_ids_cannot_leave_the_directory(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    for bad in ("../etc/passwd", "a/b", "..", ""):
        with pytest.raises(ValueError):
            store.path_of(bad)


def test_snapshots_beyond_the_budget_delete_the_oldest_first(tmp_path: Path) -> None:
    image = np.random.default_rng(3).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    one = len(SnapshotStore(tmp_path / "probe").save("probe", 1, image, None, []).path.read_bytes())
    # A file left by an earlier run counts, and is the first to go.
    old = SnapshotStore(tmp_path / "snaps").save("old", 1, image, None, [])
    os.utime(old.path, (1.0, 1.0))
    store = SnapshotStore(tmp_path / "snaps", max_bytes=3 * one + one // 2)
    saved = [store.save(f"a{i}", 1, image, None, []) for i in range(5)]
    left = sorted(p.name for p in (tmp_path / "snaps").glob("*.jpg"))
    assert left == ["a2-1.jpg", "a3-1.jpg", "a4-1.jpg"]
    assert store.pruned == 3
    assert not old.path.exists() and saved[-1].path.exists()
    # The newest is kept even when it alone is over the budget.
    tiny = SnapshotStore(tmp_path / "tiny", max_bytes=1)
    assert tiny.save("b", 1, image, None, []).path.exists()
    assert tiny.save("c", 1, image, None, []).path.exists()
    assert sorted(p.name for p in (tmp_path / "tiny").glob("*.jpg")) == ["c-1.jpg"]


# --- a full disk (issue 12, item 5): the real disk is filled in test_full_disk.py -------------


class FillingSink(ListSink):
    """An outbox whose disk can be full: `put` then fails as SQLite's would."""

    def __init__(self) -> None:
        super().__init__()
        self.full = False
        self.raw: list[bytes] = []

    def deliver(self, topic: str, payload: bytes) -> None:
        if self.full:
            raise OSError(errno.ENOSPC, "database or disk is full")
        self.raw.append(payload)
        super().deliver(topic, payload)


def stored_manager(
    tmp_path: Path,
    sink: ListSink,
    clock: FakeClock,
    *,
    max_pending: int = 10_000,
    policy: LifecyclePolicy | None = None,
) -> tuple[AlertManager, AlertStore]:
    store = AlertStore(tmp_path / "alerts.sqlite3", reserve_bytes=4096)
    counter = itertools.count(1)
    manager = AlertManager(
        NodeIdentity("xizhen", "西镇社区", "gate-1"), {"cam": Place(zones={"z": ZONE})},
        topics=Topics("grid/xizhen/gate-1"), clock=clock, sink=sink, snapshots=None,
        new_id=UlidFactory(clock, random_bytes=lambda n: next(counter).to_bytes(n, "big")),
        store=store, max_pending=max_pending, policy=policy,
    )  # fmt: skip
    return manager, store


def trail(sink: ListSink) -> list[tuple[str, str, int]]:
    return [(str(p["kind"]), str(p["event"]), int(str(p["seq"]))) for _, p in sink.delivered]


def test_a_failed_write_changes_nothing_and_is_written_later_in_order(tmp_path: Path) -> None:
    clock, sink = FakeClock(start=310.0), FillingSink()
    manager, store = stored_manager(tmp_path, sink, clock)
    manager.handle([event(Transition.RAISED, 310.0, "a")])
    sink.full = True
    assert manager.handle([event(Transition.UPDATED, 320.0, "a")]) == []
    assert manager.handle([event(Transition.RAISED, 330.0, "b")]) == []
    assert manager.handle([event(Transition.CLEARED, 340.0, "a")]) == []
    assert manager.tick() == []
    (a,) = manager.open_alerts()
    assert (a.key, a.seq, a.state) == ("a", 1, "open")  # nothing advanced in memory
    assert manager.storage_faulted and manager.pending_count == 4  # the fault, then a, b, a
    assert not store.reserve.present  # deleted to make room for the fault
    assert trail(sink) == [("illegal_parking", "raised", 1)]

    sink.full = False
    manager.tick()
    assert trail(sink) == [
        ("illegal_parking", "raised", 1),
        ("storage_fault", "raised", 1),
        ("illegal_parking", "updated", 2),
        ("illegal_parking", "raised", 1),
        ("illegal_parking", "cleared", 3),
        ("storage_fault", "cleared", 2),
    ]
    for _, payload in sink.delivered:
        validate("alert", payload)
    fault = sink.delivered[1][1]
    assert fault["detail"] == {
        "reason": "write_failed",
        "error": "[Errno 28] database or disk is full",
    }
    assert fault["source"] == {"camera": None, "zone": None, "sensor": None}
    assert not manager.storage_faulted and manager.pending_count == 0
    assert store.reserve.present and store.unqueued() == []
    assert [r.key for r in manager.open_alerts()] == ["b"]


def test_a_crash_between_the_store_and_the_outbox_is_repaired_at_start(tmp_path: Path) -> None:
    clock, sink = FakeClock(start=310.0), FillingSink()
    before, store = stored_manager(tmp_path, sink, clock)
    sink.full = True
    before.handle([event(Transition.RAISED, 310.0)])  # stored, then the outbox refused it
    saved = store.unqueued()  # the raise, and the storage_fault raised about it
    assert sorted(kind for _, kind, _ in saved) == ["illegal_parking", "storage_fault"]
    store.close()  # the process dies here

    after_sink = FillingSink()
    after, store = stored_manager(tmp_path, after_sink, FakeClock(start=5.0))
    # The very payloads the store kept, in the order they were saved, before anything else.
    assert after_sink.raw == [text.encode() for _, _, text in saved]
    assert [p["event"] for _, p in after_sink.delivered] == ["raised", "raised"]
    assert sorted(r.id for r in after.open_alerts()) == sorted(i for i, _, _ in saved)
    assert store.unqueued() == []


def test_held_back_updates_merge_and_the_queue_is_bounded(tmp_path: Path) -> None:
    clock, sink = FakeClock(start=310.0), FillingSink()
    manager, _ = stored_manager(tmp_path, sink, clock, max_pending=4)
    manager.handle([event(Transition.RAISED, 310.0, "a")])
    sink.full = True
    for ts in range(320, 400, 10):  # eight updates of a: one waits, the newest
        update = replace(event(Transition.UPDATED, float(ts), "a"), detail={"ts": float(ts)})
        manager.handle([update])
    manager.handle([event(Transition.RAISED, 400.0, "b")])
    manager.handle([event(Transition.RAISED, 400.0, "c")])
    assert (manager.pending_count, manager.dropped) == (4, 0)  # the fault, a, b, c
    # Full: c's clear takes its waiting raise with it (the platform never heard of c)...
    manager.handle([event(Transition.CLEARED, 410.0, "c")])
    assert (manager.pending_count, manager.dropped) == (3, 2)
    manager.handle([event(Transition.RAISED, 410.0, "d")])
    manager.handle([event(Transition.RAISED, 410.0, "e")])  # dropped: no room
    manager.handle([event(Transition.UPDATED, 420.0, "e")])  # dropped, and ignored anyway
    assert (manager.pending_count, manager.dropped) == (4, 4)
    # ...and the clear of an open alert is kept beyond the bound, or a would stay open.
    manager.handle([event(Transition.CLEARED, 430.0, "a")])
    assert manager.pending_count == 5
    sink.full = False
    manager.tick()
    assert trail(sink) == [
        ("illegal_parking", "raised", 1),
        ("storage_fault", "raised", 1),
        ("illegal_parking", "updated", 2),
        ("illegal_parking", "raised", 1),  # b
        ("illegal_parking", "raised", 1),  # d
        ("illegal_parking", "cleared", 3),  # a
        ("storage_fault", "cleared", 2),
    ]
    assert sink.delivered[2][1]["detail"] == {"ts": 390.0}  # the newest update's state
    # e was dropped whole: its later events are ignored, never a cleared without a raised.
    assert manager.handle([event(Transition.CLEARED, 440.0, "e")]) == []
    assert sorted(r.key for r in manager.open_alerts()) == ["b", "d"]


def test_a_command_that_cannot_be_stored_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    clock, sink = FakeClock(start=310.0), FillingSink()
    manager, _ = stored_manager(tmp_path, sink, clock)
    (raised,) = manager.handle([event(Transition.RAISED, 310.0)])
    sink.full = True
    result = manager.command("ack", str(raised["id"]), Actor("op-7", clock.now()))
    assert not result.ok and "cannot store" in result.message
    (a,) = manager.open_alerts()
    assert (a.state, a.seq, a.actor) == ("open", 1, None)
    sink.full = False
    manager.tick()
    assert manager.command("ack", str(raised["id"]), Actor("op-7", clock.now())).ok
    assert trail(sink)[-2:] == [
        ("storage_fault", "cleared", 2),
        ("illegal_parking", "acknowledged", 2),
    ]


def test_escalation_waits_for_the_disk_and_happens_once(tmp_path: Path) -> None:
    clock, sink = FakeClock(start=310.0), FillingSink()
    manager, _ = stored_manager(tmp_path, sink, clock, policy=LifecyclePolicy(escalate_after_s=60))
    manager.handle([event(Transition.RAISED, 310.0)])
    clock.advance(61)
    sink.full = True
    manager.tick()
    manager.tick()
    assert manager.open_alerts()[0].escalated is False
    sink.full = False
    manager.tick()
    assert [e for e in trail(sink) if e[0] == "illegal_parking"] == [
        ("illegal_parking", "raised", 1),
        ("illegal_parking", "escalated", 2),
    ]


def test_resync_resends_the_open_alerts_as_sent_and_stops_on_a_full_disk(tmp_path: Path) -> None:
    clock, sink = FakeClock(start=310.0), FillingSink()
    manager, _ = stored_manager(tmp_path, sink, clock)
    manager.handle([event(Transition.RAISED, 310.0, "a")])
    manager.handle([event(Transition.RAISED, 320.0, "b")])
    clock.advance(10.0)
    manager.handle([event(Transition.CLEARED, 330.0, "b")])
    closed_at = clock.now()
    clock.advance(10.0)
    manager.handle([event(Transition.UPDATED, 340.0, "a")])
    first = list(sink.raw)

    assert manager.resync(None) == (1, None)  # only "a" is open: its last event, same bytes
    assert sink.raw[len(first) :] == [first[3]]
    assert manager.resync(closed_at) == (2, None)  # "b" closed then: oldest update first
    assert sink.raw[len(first) + 1 :] == [first[2], first[3]]
    assert manager.resync(closed_at + 1.0) == (1, None)

    sink.full = True
    sent, error = manager.resync(closed_at)
    assert sent == 0 and error is not None and "disk is full" in error
    assert [r.key for r in manager.open_alerts()] == ["a"]  # nothing else changed
