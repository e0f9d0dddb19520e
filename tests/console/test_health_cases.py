"""A node's last will, a camera or sensor going offline: console-side cases of their own kind,
one per outage however often the retained state repeats, joined by the node's own alert of the
same kind, and marked "problem gone" when the thing is back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grid_console.app import Console
from grid_console.cases.models import Case, CaseEvent
from grid_console.commands.models import OutboxCommand
from tests.console.conftest import Backend
from tests.console.helpers import NodeStandIn, api_as, make_console, started, wait_until
from tests.console.payloads import PREFIX, alert, encode, new_alert_id, status
from tests.integration.broker import MosquittoBroker

pytestmark = pytest.mark.integration


@pytest.fixture
def console(tmp_path: Path, broker: MosquittoBroker, backend: Backend) -> Iterator[Console]:
    instance = started(make_console(tmp_path, broker, backend))
    yield instance
    instance.stop()


def camera_state(state: str) -> bytes:
    body = {
        "schema": "grid-sentinel.camera_state/1",
        "camera": "lift-3",
        "state": state,
        "ts": "2026-11-23T14:21:00.000Z",
        "last_frame_at": None,
        "fps": None,
        "frames_dropped": 0,
        "reconnects": 0,
    }
    return json.dumps(body).encode()


def cases(console: Console) -> list[Case]:
    with Session(console.engine) as session:
        return list(session.execute(select(Case).order_by(Case.id)).scalars())


def actions(console: Console, case_id: int) -> list[str]:
    with Session(console.engine) as session:
        stmt = select(CaseEvent.action).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
        return list(session.execute(stmt).scalars())


def test_offline_things_raise_their_own_cases(console: Console, broker: MosquittoBroker) -> None:
    node = NodeStandIn(broker)
    try:
        # An alert first, so the console knows which grid the camera is in.
        node.publish(
            f"{PREFIX}/alerts/ebike_in_lift",
            encode(alert(new_alert_id(), 1, "raised", kind="ebike_in_lift")),
        )
        for _ in range(3):  # a retained state repeats on every reconnect
            node.publish(f"{PREFIX}/cameras/lift-3/state", camera_state("offline"), retain=True)
        node.publish(f"{PREFIX}/status", encode(status("offline")), retain=True)
        wait_until(lambda: len(cases(console)) == 3, what="three cases")
        by_kind = {c.kind: c for c in cases(console)}
        camera = by_kind["camera_offline"]
        assert (camera.origin, camera.camera, camera.grid, camera.state) == (
            "console",
            "lift-3",
            "A-05",
            "reported",
        )
        assert by_kind["node_offline"].origin == "console"
        # The node's own camera_offline alert joins the console's case: one outage, one case.
        joined = new_alert_id()
        node.publish(
            f"{PREFIX}/alerts/camera_offline",
            encode(alert(joined, 1, "raised", kind="camera_offline")),
        )
        wait_until(lambda: "alert_joined" in actions(console, camera.id), what="the join")
        assert len(cases(console)) == 3
        # Back online: problem gone, the case stays for a person to close.
        node.publish(f"{PREFIX}/cameras/lift-3/state", camera_state("online"), retain=True)
        node.publish(f"{PREFIX}/status", encode(status("online")), retain=True)
        wait_until(
            lambda: all(c.problem_gone for c in cases(console) if c.origin == "console"),
            what="problem gone",
        )
        assert actions(console, camera.id) == ["open", "alert_joined", "problem_gone"]
    finally:
        node.close()
    # Closing it by hand sends the node a resolve for its joined alert only: the console's
    # own case id is no alert of the node's.
    api = api_as(console)
    reply = api.post(
        f"/api/cases/{by_kind['node_offline'].id}/actions",
        json={"action": "false_alarm", "note": "维护中 / maintenance"},
    )
    assert reply.status_code == 200 and reply.json()["command_ids"] == []
    api.post(f"/api/cases/{camera.id}/actions", json={"action": "false_alarm", "note": "ok"})
    with Session(console.engine) as session:
        sent = session.execute(select(OutboxCommand)).scalars().all()
    # (And the resync the console asks for when it first sees the node online.)
    assert [(c.command, c.body.get("alert_id")) for c in sent] == [
        ("resync", None),
        ("release", joined),
    ]
