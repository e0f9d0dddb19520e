"""Per-kind timers and routing set by an admin (issue 16), on SQLite and PostgreSQL: the API,
its refusals, the audit trail, new cases following a change while open cases keep their
deadlines, and two `serve` processes on one database agreeing without a restart."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from grid_console.app import Console
from grid_console.auth.models import AdminAudit
from grid_console.cases.models import Case, CaseEvent
from grid_console.cases.policy import CasePolicy
from grid_console.db.engine import default_url, make_engine
from grid_console.deadlines.models import Deadline
from grid_console.kinds.models import KindSetting
from grid_console.kinds.service import KindSettingsService
from tests.console.conftest import Backend
from tests.console.helpers import (
    ConsoleProcess,
    NodeStandIn,
    api_as,
    case_of,
    make_console,
    seed,
    started,
    wait_until,
)
from tests.console.payloads import PREFIX, alert, encode, new_alert_id
from tests.integration.broker import MosquittoBroker

pytestmark = pytest.mark.integration

PASSWORD = "people-password-1"


@pytest.fixture
def console(tmp_path: Path, broker: MosquittoBroker, backend: Backend) -> Iterator[Console]:
    instance = started(make_console(tmp_path, broker, backend))
    seed(instance, grids=[("A-05", None)],
         people=[("zhaoop", "operator", []), ("lipatrol", "patrol", ["A-05"])],
         password=PASSWORD)  # fmt: skip
    yield instance
    instance.stop()


@pytest.fixture
def node(broker: MosquittoBroker) -> Iterator[NodeStandIn]:
    stand_in = NodeStandIn(broker)
    yield stand_in
    stand_in.close()


def raise_alert(node: NodeStandIn, kind: str, source: str, severity: str = "critical") -> str:
    alert_id = new_alert_id()
    body = alert(alert_id, 1, "raised", kind=kind, severity=severity, source=source)
    node.publish(f"{PREFIX}/alerts/{kind}", encode(body))
    return alert_id


def opened(console: Console, alert_id: str) -> Case:
    found = wait_until(lambda: case_of(console, alert_id), 15, f"the case of {alert_id}")
    assert found is not None
    return found


def trail(console: Console, case_id: int) -> list[str]:
    with Session(console.engine) as session:
        stmt = select(CaseEvent.action).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
        return list(session.execute(stmt).scalars())


def by_kind(reply: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k["kind"]: k for k in reply["kinds"]}


def test_an_admin_sets_a_kind_and_new_cases_follow_while_open_ones_keep_theirs(
    console: Console, node: NodeStandIn
) -> None:
    api = api_as(console)
    kinds = by_kind(api.get("/api/admin/kinds").json())
    # Every kind of the contract and the console's health kinds, with the flags' values.
    assert {"smoke", "illegal_parking", "storage_fault", "node_offline"} <= set(kinds)
    smoke = kinds["smoke"]
    assert (smoke["response_s"], smoke["handle_s"], smoke["auto_register"]) == (60, 3600, True)
    assert smoke["dispatch"] == "all_on_duty"
    assert smoke["source"] == "default" and smoke["updated_by"] is None
    assert smoke["name_zh"] == "烟雾报警"
    assert kinds["illegal_parking"]["dispatch"] == "by_severity"
    assert kinds["illegal_parking"]["auto_register"] is False

    before = opened(console, raise_alert(node, "smoke", "smoke-1"))
    assert before.response_due_at - before.opened_at == timedelta(seconds=60)

    reply = api.patch("/api/admin/kinds/smoke", json={"response_s": 45, "dispatch": "manual"})
    assert reply.status_code == 200, reply.text
    changed = reply.json()
    assert (changed["response_s"], changed["dispatch"], changed["handle_s"]) == (45, "manual", 3600)
    assert changed["sources"] == {"response_s": "admin", "handle_s": "default",
                                  "auto_register": "default", "dispatch": "admin"}  # fmt: skip
    assert changed["defaults"]["response_s"] == 60
    assert changed["source"] == "admin" and changed["updated_by"] == "admin"
    reply = api.patch("/api/admin/kinds/illegal_parking",
                      json={"auto_register": True, "handle_s": 7200})  # fmt: skip
    assert reply.status_code == 200, reply.text

    after = opened(console, raise_alert(node, "smoke", "smoke-2"))
    assert after.response_due_at - after.opened_at == timedelta(seconds=45)
    # manual: registered and left for the operator; the flags' all_on_duty would have tried
    # the roster and written dispatch_none.
    assert trail(console, after.id) == ["open", "register"]
    assert trail(console, before.id) == ["open", "register", "dispatch_none"]
    # The open case keeps the deadline it was given, in the case and in its deadline row.
    kept = case_of(console, before.alert_id)
    assert kept is not None and kept.response_due_at == before.response_due_at
    with Session(console.engine) as session:
        rows = session.execute(
            select(Deadline.due_at).where(
                Deadline.case_id == before.id, Deadline.kind == "response"
            )
        ).scalars()
        assert list(rows) == [before.response_due_at]

    parking = opened(console, raise_alert(node, "illegal_parking", "gate-cam", "warning"))
    assert parking.state == "registered"  # auto-register by the admin's setting
    assert parking.handle_due_at - parking.opened_at == timedelta(seconds=7200)

    # One field back to the flag's value; the other stays the admin's.
    reply = api.patch("/api/admin/kinds/illegal_parking", json={"handle_s": None})
    assert reply.json()["handle_s"] == 3600 and reply.json()["sources"]["handle_s"] == "default"
    assert reply.json()["sources"]["auto_register"] == "admin"
    # The same value again changes nothing and records nothing.
    assert api.patch("/api/admin/kinds/illegal_parking", json={"auto_register": True}).is_success
    # Reset: every field from the flags again, and new cases follow.
    reply = api.delete("/api/admin/kinds/smoke")
    assert reply.status_code == 200
    assert (reply.json()["response_s"], reply.json()["source"]) == (60, "default")
    again = opened(console, raise_alert(node, "smoke", "smoke-3"))
    assert again.response_due_at - again.opened_at == timedelta(seconds=60)

    _check_audit(console, api)


def _check_audit(console: Console, api: Any) -> None:
    """Every change in admin_audit with who, when, before and after; newest first in the API."""
    with Session(console.engine) as session:
        audit = session.execute(select(AdminAudit).order_by(AdminAudit.id)).scalars().all()
        assert session.get(KindSetting, "smoke") is None
    mine = [(a.actor, a.action, a.detail["kind"]) for a in audit if "kind" in a.detail]
    assert mine == [
        ("admin", "set_kind_settings", "smoke"),
        ("admin", "set_kind_settings", "illegal_parking"),
        ("admin", "set_kind_settings", "illegal_parking"),
        ("admin", "reset_kind_settings", "smoke"),
    ]
    first = next(a for a in audit if a.action == "set_kind_settings")
    assert first.detail["before"]["response_s"] is None
    assert first.detail["after"] == {"response_s": 45, "handle_s": None, "auto_register": None,
                                     "dispatch": "manual"}  # fmt: skip
    changes = api.get("/api/admin/kinds").json()["changes"]
    assert (changes[0]["action"], changes[0]["kind"], changes[0]["actor"]) == (
        "reset_kind_settings", "smoke", "admin"
    )  # fmt: skip
    assert changes[0]["at"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"response_s": 0}, "response_s", "must be whole seconds from 10 to 86400"),
        ({"response_s": 86401}, "response_s", "must be whole seconds from 10 to 86400"),
        ({"response_s": 12.5}, "response_s", "must be whole seconds"),
        ({"response_s": "60"}, "response_s", "must be whole seconds"),
        ({"response_s": True}, "response_s", "must be whole seconds"),
        ({"handle_s": 30}, "handle_s", "must be whole seconds from 60 to 2592000"),
        ({"auto_register": "yes"}, "auto_register", "must be true or false"),
        ({"dispatch": "everyone"}, "dispatch", "must be one of on_duty, all_on_duty, manual"),
        ({"colour": "red"}, "colour", "not a setting"),
        ([1, 2], "body", "must be a JSON object"),
        # Against the kind's other deadline (3600 s, 300 s): the field just set is named.
        ({"response_s": 7200}, "response_s", "cannot be shorter than the response deadline"),
        ({"handle_s": 120}, "handle_s", "cannot be shorter than the response deadline"),
    ],
)
def test_bad_values_are_refused_naming_the_field_and_change_nothing(
    console: Console, body: object, field: str, words: str
) -> None:
    api = api_as(console)
    # illegal_parking: response 300 s, handling 3600 s from the flags
    reply = api.patch("/api/admin/kinds/illegal_parking", json=body)
    assert reply.status_code == 422, reply.text
    detail = reply.json()["detail"]
    assert detail["field"] == field
    zh, en = detail["message"].split(" / ")
    assert f" {field}：" in zh and en.startswith(f"{field}: ") and words in en
    parking = by_kind(api.get("/api/admin/kinds").json())["illegal_parking"]
    assert parking["source"] == "default" and parking["response_s"] == 300
    with Session(console.engine) as session:
        assert session.execute(select(AdminAudit.id)).first() is None


def test_only_admins_may_read_or_change_the_kinds(console: Console) -> None:
    api = api_as(console)
    reply = api.patch("/api/admin/kinds/Smoke!", json={"response_s": 60})
    assert reply.status_code == 422 and reply.json()["detail"]["field"] == "kind"
    # A kind the contract may add later can be set before its first case.
    assert api.patch("/api/admin/kinds/water_leak", json={"response_s": 120}).status_code == 200
    assert "water_leak" in by_kind(api.get("/api/admin/kinds").json())
    for name in ("zhaoop", "lipatrol"):
        other = api_as(console, name, PASSWORD)
        assert other.get("/api/admin/kinds").status_code == 403
        assert other.patch("/api/admin/kinds/smoke", json={"response_s": 90}).status_code == 403
        assert other.delete("/api/admin/kinds/water_leak").status_code == 403
    assert api.get("/api/admin/kinds/water_leak").json()["response_s"] == 120
    assert TestClient(console.app).get("/api/admin/kinds").status_code == 401


def _call(proc: ConsoleProcess, method: str, path: str, body: object = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{proc.base}{path}", data=data, method=method,
        headers={"Authorization": f"Bearer {proc.token()}", "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_a_change_on_one_replica_holds_on_the_other_without_a_restart(
    tmp_path: Path, broker: MosquittoBroker, backend: Backend
) -> None:
    # Two `serve` processes on one database whose flags disagree: the admin's row settles it.
    first = ConsoleProcess(tmp_path, broker, backend, client_id="console-a", name="a",
                           extra=["--response-s", "smoke=90"])  # fmt: skip
    second: ConsoleProcess | None = None
    node = NodeStandIn(broker)
    engine = make_engine(backend.url or default_url(tmp_path / "console"))
    try:
        first.wait_ready()
        second = ConsoleProcess(tmp_path, broker, backend, client_id="console-b", name="b")
        second.wait_ready()
        smoke_on = [by_kind(p.get("/api/admin/kinds"))["smoke"] for p in (first, second)]
        assert [s["response_s"] for s in smoke_on] == [90, 60]

        status, _ = _call(first, "PATCH", "/api/admin/kinds/smoke", {"response_s": 45})
        assert status == 200
        status, _ = _call(first, "PATCH", "/api/admin/kinds/illegal_parking",
                          {"auto_register": True, "dispatch": "manual"})  # fmt: skip
        assert status == 200
        seen = by_kind(second.get("/api/admin/kinds"))
        assert (seen["smoke"]["response_s"], seen["smoke"]["source"]) == (45, "admin")
        assert seen["illegal_parking"]["auto_register"] is True

        # Only the second replica is left to take the node's alerts (no share group: a shared
        # subscription would queue a stopped replica's share for it): it applies the change
        # the first one made, without having restarted.
        assert first.end() == 0
        smoke = raise_alert(node, "smoke", "smoke-9")
        parking = raise_alert(node, "illegal_parking", "gate-cam", "warning")

        def case(alert_id: str) -> Case | None:
            with Session(engine) as session:
                stmt = select(Case).where(Case.alert_id == alert_id)
                return session.execute(stmt).scalar_one_or_none()

        found = wait_until(lambda: case(smoke), 20, "the smoke case on the second replica")
        assert found is not None
        assert found.response_due_at - found.opened_at == timedelta(seconds=45)
        found = wait_until(lambda: case(parking), 20, "the parking case")
        assert found is not None
        assert found.state == "registered"

        # And back: a reset on the second gives the second's own flag again.
        status, reply = _call(second, "DELETE", "/api/admin/kinds/smoke")
        assert (status, reply["response_s"], reply["source"]) == (200, 60, "default")
    finally:
        node.close()
        engine.dispose()
        for proc in (first, second):
            if proc is not None:
                proc.end()


def test_admins_saving_one_new_kind_at_once_each_get_through(console: Console) -> None:
    # The first row of a kind inserted by several requests at the same moment (on PostgreSQL
    # the losers' inserts meet the primary key and update the winner's row instead).
    service = KindSettingsService(console.engine, CasePolicy(), lambda: datetime.now(UTC))
    values = [60 + 10 * n for n in range(8)]
    barrier = threading.Barrier(len(values))

    def save(seconds: int) -> int:
        barrier.wait(10)
        view = service.update("water_leak", {"response_s": seconds}, f"admin{seconds}")
        return int(str(view.effective.values["response_s"]))

    with ThreadPoolExecutor(len(values)) as pool:
        saved = list(pool.map(save, values))
    assert sorted(saved) == values
    with Session(console.engine) as session:
        rows = session.execute(select(KindSetting)).scalars().all()
        audited = (
            session.execute(
                select(AdminAudit)
                .where(AdminAudit.action == "set_kind_settings")
                .order_by(AdminAudit.id)
            )
            .scalars()
            .all()
        )
    assert [r.kind for r in rows] == ["water_leak"]
    assert rows[0].response_s in values
    assert len(audited) == len(values)
    # Each waited for the row's lock before writing its audit row: the newest audit row is the
    # change the row holds.
    assert audited[-1].detail["after"]["response_s"] == rows[0].response_s
