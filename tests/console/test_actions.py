"""Acting on a case through the API: the table decides, the audit trail records, and a false
alarm or a close reaches the node as a signed command, even across a broker outage."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grid_console.app import Console
from grid_console.commands.models import OutboxCommand
from grid_contract.signing import MemoryNonces, Verifier
from tests.console.conftest import Backend
from tests.console.helpers import (
    NodeStandIn,
    api_as,
    case_of,
    make_console,
    seed,
    started,
    wait_until,
)
from tests.console.payloads import PREFIX, alert, encode, new_alert_id
from tests.integration.broker import MosquittoBroker, Subscriber
from tests.schemas import validate

pytestmark = pytest.mark.integration


@pytest.fixture
def console(
    tmp_path: Path, broker: MosquittoBroker, backend: Backend, key_file: Path
) -> Iterator[Console]:
    instance = started(make_console(tmp_path, broker, backend, key_file=key_file))
    yield instance
    instance.stop()


@pytest.fixture
def commands(broker: MosquittoBroker) -> Iterator[Subscriber]:
    sub = Subscriber(broker.port, f"{PREFIX}/cmd/#", client_id="the-node", persistent=True)
    yield sub
    sub.close()


def open_case(console: Console, broker: MosquittoBroker, kind: str = "illegal_parking") -> int:
    alert_id = new_alert_id()
    node = NodeStandIn(broker)
    try:
        node.publish(f"{PREFIX}/alerts/{kind}", encode(alert(alert_id, 1, "raised", kind=kind)))
    finally:
        node.close()
    case = wait_until(lambda: case_of(console, alert_id), what="the case")
    return case.id


def verified(key_file: Path, topic: str, body: dict[str, Any]) -> str:
    verifier = Verifier(key_file.read_text().strip(), MemoryNonces(time.time), max_age_s=120)
    return verifier.verify(topic, body, time.time()).by


def test_the_whole_path_and_a_signed_resolve(
    console: Console, broker: MosquittoBroker, commands: Subscriber, key_file: Path
) -> None:
    seed(console, grids=[("A-05", None)], people=[("patrol-7", "patrol", ["A-05"])])
    case_id = open_case(console, broker)
    api = api_as(console)
    patrol = api_as(console, "patrol-7", "patrol-password-1")
    steps = [
        (api, "register", None),
        (api, "dispatch", "patrol-7"),
        (patrol, "accept", None),
        (patrol, "arrive", None),
        (patrol, "handle", None),
        (api, "close", None),
    ]
    photo = b"\xff\xd8\xff\xe0" + b"site-photo" * 100 + b"\xff\xd9"
    for client, action, to in steps:
        body: dict[str, Any] = {"action": action, "to": to, "note": f"{action} done"}
        if action == "handle":
            # The patrol's photo, uploaded twice (a retry on a bad network): stored once.
            for _ in range(2):
                up = patrol.post(
                    f"/api/cases/{case_id}/photos", files={"file": ("p.jpg", photo, "image/jpeg")}
                )
                assert up.status_code == 200, up.text
            body["photos"] = [up.json()["sha256"]]
            html = {"file": ("x.jpg", b"<html>", "image/jpeg")}
            not_a_photo = patrol.post(f"/api/cases/{case_id}/photos", files=html)
            assert not_a_photo.status_code == 422
            unknown = patrol.post(
                f"/api/cases/{case_id}/actions", json={**body, "photos": ["0" * 64]}
            )
            assert unknown.status_code == 422 and unknown.json()["detail"].startswith("photos:")
        reply = client.post(f"/api/cases/{case_id}/actions", json=body)
        assert reply.status_code == 200, reply.text
    detail = api.get(f"/api/cases/{case_id}").json()
    assert detail["photos"] == [hashlib.sha256(photo).hexdigest()]
    fetched = patrol.get(f"/api/cases/{case_id}/photos/{detail['photos'][0]}")
    assert fetched.content == photo and fetched.headers["content-type"] == "image/jpeg"
    body = reply.json()
    assert body["case"]["state"] == "closed"
    assert body["case"]["colour"] == "green"
    assert body["case"]["assignee"] == "patrol-7"
    assert body["command_id"] is not None

    trail = api.get(f"/api/cases/{case_id}").json()["events"]
    moves = [(e["action"], e["from_state"], e["to_state"]) for e in trail if e["source"] == "api"]
    assert moves == [
        ("register", "reported", "registered"),
        ("dispatch", "registered", "dispatched"),
        ("accept", "dispatched", "accepted"),
        ("arrive", "accepted", "on_site"),
        ("photo", "on_site", "on_site"),
        ("handle", "on_site", "handled"),
        ("close", "handled", "closed"),
    ]
    actors = [e["actor"] for e in trail if e["source"] == "api"]
    assert actors == ["admin", "admin", "patrol-7", "patrol-7", "patrol-7", "patrol-7", "admin"]

    assert commands.wait_for(lambda m: len(m) == 1, 10), "no resolve command arrived"
    (message,) = commands.messages
    assert message.topic == f"{PREFIX}/cmd/resolve" and not message.retain
    command = json.loads(message.payload)
    validate("command", command)
    assert verified(key_file, message.topic, command) == "admin"
    assert command["note"] == "close done"


def test_invalid_actions_are_refused_and_change_nothing(
    console: Console, broker: MosquittoBroker
) -> None:
    case_id = open_case(console, broker)
    api = api_as(console)
    refused = api.post(f"/api/cases/{case_id}/actions", json={"action": "close"})
    assert refused.status_code == 409
    assert "cannot close a case that is reported" in refused.json()["detail"]
    assert api.post(f"/api/cases/{case_id}/actions", json={"action": "fly"}).status_code == 409
    no_note = api.post(f"/api/cases/{case_id}/actions", json={"action": "defer"})
    assert no_note.status_code == 409  # defer is not allowed from reported either
    api.post(f"/api/cases/{case_id}/actions", json={"action": "register"})
    no_note = api.post(f"/api/cases/{case_id}/actions", json={"action": "defer"})
    assert no_note.status_code == 422 and "needs a note" in no_note.json()["detail"]
    assert api.post("/api/cases/999999/actions", json={"action": "register"}).status_code == 404
    # Hostile or careless bodies: named, refused, nothing written.
    crowd = api.post(
        f"/api/cases/{case_id}/actions",
        json={"action": "dispatch", "to": [f"p{n}" for n in range(51)]},
    )
    assert crowd.status_code == 422 and crowd.json()["detail"].startswith("to:")
    past = api.post(
        f"/api/cases/{case_id}/actions", json={"action": "defer", "note": "x", "due": "2020-01-01"}
    )
    assert past.status_code == 422 and past.json()["detail"].startswith("due:")
    naive = api.post(
        f"/api/cases/{case_id}/actions",
        json={"action": "defer", "note": "x", "due": "2099-01-01T09:00:00"},
    )
    assert naive.status_code == 422 and "zone" in naive.json()["detail"]
    extra = api.post(f"/api/cases/{case_id}/actions", json={"action": "close", "by": "someone"})
    assert extra.status_code == 422  # nobody names the actor but the session

    detail = api.get(f"/api/cases/{case_id}").json()
    assert detail["case"]["state"] == "registered"
    assert [e["action"] for e in detail["events"]] == ["open", "register", "dispatch_none"]
    with Session(console.engine) as session:
        assert session.execute(select(OutboxCommand)).first() is None
    # A bare date is that day's start in the console's zone (it was read as a zone-less time
    # and refused, so the inbox had to send midnight with an offset).
    later = api.post(
        f"/api/cases/{case_id}/actions", json={"action": "defer", "note": "x", "due": "2099-01-01"}
    )
    assert later.status_code == 200, later.text
    assert later.json()["case"]["state"] == "deferred"


def test_a_false_alarm_during_a_broker_outage_is_sent_when_it_returns(
    console: Console, broker: MosquittoBroker, commands: Subscriber, key_file: Path
) -> None:
    case_id = open_case(console, broker, kind="smoke")
    case = console.cases.get_case(case_id)[0]
    broker.stop()
    wait_until(lambda: not console.mqtt.connected, what="the console to notice")
    api = api_as(console)
    reply = api.post(
        f"/api/cases/{case_id}/actions", json={"action": "false_alarm", "note": "误报 测试"}
    )
    assert reply.status_code == 200
    assert reply.json()["case"]["colour"] == "green"
    time.sleep(1.0)
    with Session(console.engine) as session:
        row = session.execute(select(OutboxCommand)).scalar_one()
        assert row.sent_at is None and row.command == "release"

    broker.start()
    assert commands.wait_for(lambda m: len(m) == 1, 30), "the release never arrived"
    (message,) = commands.messages
    assert message.topic == f"{PREFIX}/cmd/release"
    command = json.loads(message.payload)
    assert command["alert_id"] == case.alert_id
    assert command["note"] == "误报 测试"
    assert verified(key_file, message.topic, command) == "admin"

    def marked_sent() -> bool:
        with Session(console.engine) as session:
            return session.execute(select(OutboxCommand.sent_at)).scalar_one() is not None

    wait_until(marked_sent, what="the row marked sent")
