"""Alert events over a real Mosquitto into a real database: cases open, repeats and stale
events change nothing, broken messages are quarantined and the ingest carries on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grid_console.app import Console
from grid_console.cases.models import CaseEvent
from grid_console.ingest.models import Quarantined
from grid_console.nodes.models import Device, Node
from grid_console.snapshots.models import AlertSnapshot, Snapshot
from tests.console.conftest import Backend
from tests.console.helpers import (
    NodeStandIn,
    api_as,
    case_of,
    count_events,
    make_console,
    started,
    wait_until,
)
from tests.console.payloads import PREFIX, alert, encode, new_alert_id, status
from tests.integration.broker import MosquittoBroker

pytestmark = pytest.mark.integration


@pytest.fixture
def console(tmp_path: Path, broker: MosquittoBroker, backend: Backend) -> Iterator[Console]:
    instance = started(make_console(tmp_path, broker, backend))
    yield instance
    instance.stop()


@pytest.fixture
def node(broker: MosquittoBroker) -> Iterator[NodeStandIn]:
    stand_in = NodeStandIn(broker)
    yield stand_in
    stand_in.close()


def test_raised_opens_a_case_and_repeats_apply_once(console: Console, node: NodeStandIn) -> None:
    smoke, parking = new_alert_id(), new_alert_id()
    raised = encode(alert(smoke, 1, "raised"))
    node.publish(f"{PREFIX}/alerts/smoke", raised)
    node.publish(f"{PREFIX}/alerts/smoke", raised)  # a redelivery: same (id, seq), same bytes
    parking_raised = alert(parking, 1, "raised", kind="illegal_parking", severity="warning")
    node.publish(f"{PREFIX}/alerts/illegal_parking", encode(parking_raised))
    wait_until(lambda: case_of(console, parking), what="the parking case")
    assert count_events(console) == 2

    api = api_as(console)
    cases = {c["kind"]: c for c in api.get("/api/cases").json()["cases"]}
    # Smoke is an auto-register kind: registered at once, by the system, and red.
    assert cases["smoke"]["alert_id"] == smoke
    assert cases["smoke"]["state"] == "registered"
    assert cases["smoke"]["colour"] == "red"
    assert cases["smoke"]["grid"] == "A-05"
    assert cases["smoke"]["sensor"] == "smoke-1"
    assert cases["illegal_parking"]["state"] == "reported"
    smoke_case = case_of(console, smoke)
    assert smoke_case is not None
    assert smoke_case.response_due_at - smoke_case.opened_at == timedelta(seconds=60)
    parking_case = case_of(console, parking)
    assert parking_case is not None
    assert parking_case.response_due_at - parking_case.opened_at == timedelta(seconds=300)

    trail = api.get(f"/api/cases/{cases['smoke']['id']}").json()["events"]
    assert [(e["action"], e["actor"], e["to_state"]) for e in trail] == [
        ("open", "node:xizhen/gate-1", "reported"),
        ("register", "system", "registered"),
        ("dispatch_none", "system", "registered"),  # no roster here: nobody to send it to
    ]
    assert api.get("/api/cases", params={"kind": "smoke"}).json()["cases"][0]["alert_id"] == smoke
    assert api.get("/api/cases", params={"state": "closed"}).json()["cases"] == []
    assert api.get("/api/cases", params={"grid": "B-01"}).json()["cases"] == []
    health = api.get("/api/health").json()
    assert health["ok"] and health["mqtt"] == "connected" and health["database"] == "ok"
    assert health["ingest"]["outcomes"] == {"applied": 2, "duplicate": 1}


def test_an_older_seq_is_history_and_cleared_keeps_the_case_open(
    console: Console, node: NodeStandIn
) -> None:
    alert_id = new_alert_id()
    topic = f"{PREFIX}/alerts/smoke"
    node.publish(topic, encode(alert(alert_id, 1, "raised")))
    node.publish(topic, encode(alert(alert_id, 3, "cleared")))
    # seq 2 arrives after seq 3 (a resend after a reconnect): kept, but it must not reopen.
    node.publish(topic, encode(alert(alert_id, 2, "updated", severity="major")))
    wait_until(lambda: count_events(console) == 3, what="three events")

    case = case_of(console, alert_id)
    assert case is not None
    assert case.latest_seq == 3
    assert case.alert_state == "cleared"
    assert case.severity == "critical"  # not seq 2's
    assert case.problem_gone is True
    assert case.state == "registered"  # a person still closes it
    with Session(console.engine) as session:
        actions = session.execute(
            select(CaseEvent.action).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
        ).scalars()
        assert list(actions) == ["open", "register", "dispatch_none", "alert_cleared"]
    assert console.stats.snapshot()["outcomes"] == {"applied": 2, "history": 1}


def test_broken_messages_are_quarantined_and_ingest_carries_on(
    console: Console, node: NodeStandIn
) -> None:
    good = alert(new_alert_id(), 1, "raised")
    no_id = {k: v for k, v in good.items() if k != "id"}
    node.publish(f"{PREFIX}/alerts/smoke", b"{not json")
    node.publish(f"{PREFIX}/alerts/smoke", encode(no_id))
    node.publish(f"{PREFIX}/alerts/smoke", b'{"padding": "' + b"x" * 300_000 + b'"}')
    node.publish(f"{PREFIX}/alerts/gas", encode(good))  # a smoke alert on the gas topic
    node.publish(f"{PREFIX}/status", b"\xff\xfe")
    # Valid by the schema, but longer than the column: PostgreSQL would refuse it for ever.
    node.publish(
        f"{PREFIX}/alerts/smoke", encode(alert(new_alert_id(), 1, "raised", grid="A" * 200))
    )
    node.publish(f"{PREFIX}/alerts/smoke", encode(good))
    wait_until(lambda: case_of(console, good["id"]), what="the good alert's case")

    with Session(console.engine) as session:
        rows = session.execute(select(Quarantined).order_by(Quarantined.id)).scalars().all()
        got = [(r.reason, r.topic.rsplit("/", 1)[-1]) for r in rows]
        assert got == [("not_json", "smoke"), ("schema", "smoke"), ("oversized", "smoke"),
                       ("topic_mismatch", "gas"), ("not_json", "status"),
                       ("too_long", "smoke")]  # fmt: skip
        assert rows[0].payload == b"{not json"
        assert "'id' is a required property" in rows[1].detail
        assert rows[2].size > 300_000 and len(rows[2].payload) == 64 * 1024
        assert rows[5].detail == "grid has 200 characters; at most 128 are kept"
    assert console.stats.snapshot()["quarantined"] == {
        "not_json": 2, "schema": 1, "oversized": 1, "topic_mismatch": 1, "too_long": 1}  # fmt: skip
    assert count_events(console) == 1


def test_status_states_and_snapshots_are_recorded(console: Console, node: NodeStandIn) -> None:
    node.publish(f"{PREFIX}/status", encode(status("online")), retain=True)
    camera_state = {"schema": "grid-sentinel.camera_state/1", "camera": "lift-3",
                    "state": "offline", "ts": "2026-11-23T14:21:00.000Z",
                    "last_frame_at": None, "fps": None, "frames_dropped": 0,
                    "reconnects": 0}  # fmt: skip
    node.publish(f"{PREFIX}/cameras/lift-3/state", json.dumps(camera_state).encode(), retain=True)
    alert_id = new_alert_id()
    jpeg = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"
    for _ in range(2):  # resent: stored once
        node.publish(f"{PREFIX}/alerts/lift/{alert_id}/snapshot", jpeg)
    node.publish(f"{PREFIX}/status", encode(status("offline")), retain=True)

    def offline() -> bool:
        with Session(console.engine) as session:
            found = session.execute(select(Node)).scalar_one_or_none()
            return found is not None and found.status == "offline"

    wait_until(offline, what="the node's offline status")
    with Session(console.engine) as session:
        node_row = session.execute(select(Node)).scalar_one()
        assert (node_row.site, node_row.node, node_row.prefix) == ("xizhen", "gate-1", PREFIX)
        assert node_row.site_name == "西镇社区"
        device = session.execute(select(Device)).scalar_one()
        assert (device.device_kind, device.device_id, device.state) == ("camera", "lift-3",
                                                                        "offline")  # fmt: skip
        assert session.execute(select(Snapshot.size)).scalars().all() == [len(jpeg)]
        assert session.execute(select(AlertSnapshot.alert_id)).scalars().all() == [alert_id]
