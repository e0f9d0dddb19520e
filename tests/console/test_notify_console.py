"""Notifications inside a running console: a `serve` process killed with SIGKILL between two
attempts, and started again, still gets each message to each recipient exactly once; the
snapshot link of a message opens without signing in; the figures are behind the login."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from grid_console.auth.roles import Role
from grid_console.cases.models import CaseEvent
from grid_console.db.session import transaction
from grid_console.notify import Channel, ChannelKind, Recipient, enqueue
from grid_console.notify.models import Delivery, DeliveryAttempt
from grid_console.notify.webhook import verify
from grid_console.people.models import Grid, Shift
from grid_console.people.service import ChannelSpec, add_person, set_channels
from grid_console.snapshots.service import store_snapshot
from tests.console.casefactory import insert_case, migrated_engine
from tests.console.conftest import Backend
from tests.console.helpers import (
    ConsoleProcess,
    NodeStandIn,
    api_as,
    make_console,
    wait_until,
)
from tests.console.notify_servers import Behaviour, RecordingServer
from tests.console.payloads import PREFIX, alert, encode, new_alert_id
from tests.integration.broker import MosquittoBroker

pytestmark = pytest.mark.integration

JPEG = b"\xff\xd8console-snapshot\xff\xd9"


@pytest.fixture
def engine(backend: Backend, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(backend, tmp_path) as engine:
        yield engine


def statuses(engine: Engine) -> list[tuple[str, int]]:
    with Session(engine) as session:
        stmt = select(Delivery.status, Delivery.attempts).order_by(Delivery.id)
        return [(s, a) for s, a in session.execute(stmt)]


def test_a_console_restarted_mid_retry_delivers_exactly_once(
    tmp_path: Path, broker: MosquittoBroker, backend: Backend, engine: Engine
) -> None:
    server = RecordingServer(Behaviour(fail_first=2))  # two of the three fail at first
    paths = ["/wang", "/li", "/zhang"]
    with Session(engine) as session, session.begin():
        case = insert_case(session, datetime.now(UTC))
        people = [Recipient(p[1:], (Channel(ChannelKind.WEBHOOK, server.url(p), "k" * 32),))
                  for p in paths]  # fmt: skip
        enqueue(session, case.id, people, "dispatch:auto", datetime.now(UTC))
    extra = ["--notify-retry-s", "4", "--public-url", "https://console.example.org"]
    first = ConsoleProcess(tmp_path, broker, backend, name="first", extra=extra)
    try:
        first.wait_ready()
        # One sent, two failed once and waiting 4 s for their next attempt: kill it now.
        expected = [("pending", 1), ("pending", 1), ("sent", 1)]
        wait_until(lambda: sorted(statuses(engine)) == expected, 30, "the first attempts")
        first.end(signal.SIGKILL)
    finally:
        first.end()
    assert len(server.all()) == 3
    second = ConsoleProcess(tmp_path, broker, backend, name="second", extra=extra)
    try:
        second.wait_ready()
        wait_until(lambda: [s for s, _ in statuses(engine)] == ["sent"] * 3, 30, "all sent")
    finally:
        assert second.end() == 0, second.text()
    ok_paths = sorted(r.path for r in server.ok())
    assert ok_paths == sorted(paths)  # each recipient once
    assert len(server.all()) == 5  # 2 failures + 3 successes, nothing more
    with Session(engine) as session:
        notified = (
            session.execute(select(CaseEvent.note).where(CaseEvent.action == "notified"))
            .scalars()
            .all()
        )
        workers = set(session.execute(select(DeliveryAttempt.worker)).scalars())
    assert sorted(n or "" for n in notified) == sorted(
        f"{p[1:]} · webhook · dispatch:auto" for p in paths
    )
    assert workers == {"console-1"}  # both processes ran as the same replica id
    server.close()


def test_snapshot_link_is_public_and_the_figures_are_not(
    tmp_path: Path, broker: MosquittoBroker, backend: Backend
) -> None:
    console = make_console(tmp_path, broker, backend)
    console.start()
    try:
        with Session(console.engine) as session, session.begin():
            case = insert_case(session, datetime.now(UTC))
            digest = store_snapshot(session, case.alert_id, JPEG, datetime.now(UTC))
        anonymous = TestClient(console.app)
        reply = anonymous.get(f"/api/snapshots/{digest}")
        assert reply.status_code == 200 and reply.content == JPEG
        assert reply.headers["content-type"] == "image/jpeg"
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert anonymous.get(f"/api/snapshots/{'0' * 64}").status_code == 404
        assert anonymous.get("/api/snapshots/..%2f..%2fetc").status_code == 404
        assert anonymous.get("/api/stats").status_code == 401
        admin = api_as(console)
        reply = admin.get("/api/stats")
        assert reply.status_code == 200 and reply.json()["total"]["reported"] == 1
        assert admin.get("/api/stats.xlsx").status_code == 200
    finally:
        console.stop()


def test_serve_refuses_bad_notification_options(tmp_path: Path) -> None:
    for args, message in (
        (["--public-url", "console.example.org"], "--public-url 'console.example.org' is not"),
        (["--smtp-url", "smtp://mail"], "use mailto://HOST"),
        (["--smtp-url", "mailto://mail:25"], "needs from=ADDRESS"),
        (["--notify-attempts", "0"], "max_attempts must be at least 1"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "grid_console", "serve", "--data-dir", str(tmp_path), *args],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 2 and message in done.stderr, done.stderr


def test_an_alert_reaches_the_on_duty_patrols_webhook_signed(
    tmp_path: Path, broker: MosquittoBroker, backend: Backend
) -> None:
    # The whole path: a node's smoke alarm -> case (auto-registered) -> auto-dispatched to the
    # patrol on duty in its grid -> a signed webhook at a local server, within seconds.
    server = RecordingServer()
    console = make_console(tmp_path, broker, backend)
    console.start()
    node = NodeStandIn(broker)
    try:
        assert console.mqtt.wait_subscribed(10)

        def people(session: Session) -> None:
            session.add(Grid(id="A-05", name="五网格"))
            session.flush()
            li = add_person(session, username="li", role=Role.PATROL, now=datetime.now(UTC),
                            grids=["A-05"])  # fmt: skip
            set_channels(session, li, [ChannelSpec("webhook", server.url("/li"), "k" * 32)])
            for weekday in range(7):  # on duty around the clock, whenever the test runs
                session.add(Shift(person_id=li.id, grid_id="A-05", weekday=weekday,
                                  start_minute=0, end_minute=0))  # fmt: skip

        transaction(console.engine, people)
        alert_id = new_alert_id()
        node.publish(f"{PREFIX}/alerts/smoke", encode(alert(alert_id, 1, "raised")))
        received = wait_until(server.ok, 15, "the patrol's webhook")
        (request,) = received
        verify("k" * 32, request.headers, request.body, datetime.now(UTC))
        body = request.json()
        assert body["case"]["alert_id"] == alert_id and body["recipient"] == "li"
        assert body["reason"].startswith("dispatch") and "烟雾报警" in body["message"]["title"]
    finally:
        node.close()
        console.stop()
        server.close()
