"""What nodes publish while the console is down, or dies, arrives when it returns: once."""

from __future__ import annotations

import json
import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grid_console.commands.outbox import enqueue
from grid_console.db.engine import default_url, make_engine
from grid_console.ingest.models import AlertEvent
from tests.console.conftest import Backend
from tests.console.helpers import (
    ConsoleProcess,
    NodeStandIn,
    case_of,
    count_events,
    make_console,
    started,
    wait_until,
)
from tests.console.payloads import PREFIX, alert, encode, new_alert_id
from tests.integration.broker import MosquittoBroker, Subscriber

pytestmark = pytest.mark.integration


def test_events_published_while_the_console_is_stopped_arrive_after_restart(
    tmp_path: Path, broker: MosquittoBroker, backend: Backend
) -> None:
    first = started(make_console(tmp_path, broker, backend))
    node = NodeStandIn(broker)
    try:
        before = new_alert_id()
        node.publish(f"{PREFIX}/alerts/smoke", encode(alert(before, 1, "raised")))
        wait_until(lambda: case_of(first, before), what="the first case")
        first.stop()

        during = new_alert_id()
        for seq, event in enumerate(("raised", "updated", "cleared"), start=1):
            node.publish(f"{PREFIX}/alerts/smoke", encode(alert(during, seq, event)))
        node.publish(f"{PREFIX}/alerts/smoke", encode(alert(before, 2, "cleared")))

        second = started(make_console(tmp_path, broker, backend))
        try:
            wait_until(lambda: count_events(second) == 5, what="the five events")
            case = case_of(second, during)
            assert case is not None and case.latest_seq == 3 and case.problem_gone
            earlier = case_of(second, before)
            assert earlier is not None and earlier.latest_seq == 2
        finally:
            second.stop()
        # A third start: the broker has nothing more for it, and nothing was applied twice.
        third = started(make_console(tmp_path, broker, backend))
        try:
            assert count_events(third) == 5
            assert third.stats.snapshot()["outcomes"] == {}
        finally:
            third.stop()
    finally:
        node.close()


def test_a_killed_console_loses_and_duplicates_nothing(
    tmp_path: Path, broker: MosquittoBroker, backend: Backend
) -> None:
    console = ConsoleProcess(tmp_path, broker, backend, name="first")
    console.wait_ready()
    engine = make_engine(backend.url or default_url(tmp_path / "console"))
    node = NodeStandIn(broker)
    alerts = [new_alert_id() for _ in range(150)]
    done = threading.Event()

    def publish_all() -> None:
        for n, alert_id in enumerate(alerts):
            for seq, event in enumerate(("raised", "cleared"), start=1):
                body = alert(alert_id, seq, event, source=f"smoke-{n}")  # no joining here
                node.publish(f"{PREFIX}/alerts/smoke", encode(body))
        done.set()

    def applied() -> int:
        with Session(engine) as session:
            return int(session.execute(select(func.count()).select_from(AlertEvent)).scalar_one())

    try:
        publisher = threading.Thread(target=publish_all)
        publisher.start()
        wait_until(lambda: applied() >= 60, 60, "the first events")
        console.end(signal.SIGKILL)  # mid-stream: some received, not all acknowledged
        killed_at = applied()
        publisher.join(60)
        assert done.is_set()
        assert killed_at < len(alerts) * 2, "the console finished before it was killed"

        again = ConsoleProcess(tmp_path, broker, backend, name="second")
        try:
            again.wait_ready()
            wait_until(lambda: applied() == len(alerts) * 2, 60, "every event")
            cases = again.get("/api/cases?limit=1000")["cases"]
            assert sorted(c["alert_id"] for c in cases) == sorted(alerts)
            assert all(c["problem_gone"] and c["latest_seq"] == 2 for c in cases)
        finally:
            assert again.end() == 0, again.text()
    finally:
        node.close()
        console.end()
        engine.dispose()


def test_a_command_claimed_before_a_kill_is_sent_as_soon_as_the_console_returns(
    tmp_path: Path, broker: MosquittoBroker, backend: Backend, key_file: Path
) -> None:
    """A console killed between claiming a command and the broker's PUBACK left the claim in
    the database; the same replica starting again must send it now, not when the lease ends
    (a false alarm's `release` that waits keeps a lift door held)."""
    first = started(make_console(tmp_path, broker, backend, key_file=key_file))
    first.stop()  # the schema is in place; now the row a killed console would have left
    engine = make_engine(backend.url or default_url(tmp_path / "console"))
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        row = enqueue(session, prefix=PREFIX, command="release", by="admin", now=now,
                      case_id=None, body={"id": new_alert_id(), "note": "误报"})  # fmt: skip
        row.claimed_by, row.claimed_until = "console-1", now + timedelta(hours=1)
    engine.dispose()
    watcher = Subscriber(broker.port, f"{PREFIX}/cmd/#", client_id="cmd-watcher")
    again = started(make_console(tmp_path, broker, backend, key_file=key_file))
    try:
        assert watcher.wait_for(lambda m: len(m) == 1, 10), "the claimed command stayed unsent"
        sent = json.loads(watcher.messages[0].payload)
        assert sent["by"] == "admin" and sent["note"] == "误报" and "sig" in sent
    finally:
        again.stop()
        watcher.close()
