"""The database goes away under a running console (a PostgreSQL restart, a cut network): what
nodes publish meanwhile waits in the broker, unacknowledged, and is applied once, in full,
when the database is back. The console keeps running and says what is wrong."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grid_console.db.engine import make_engine
from grid_console.ingest.models import AlertEvent
from tests.console.conftest import Backend
from tests.console.helpers import ConsoleProcess, NodeStandIn, wait_until
from tests.console.payloads import PREFIX, alert, encode, new_alert_id
from tests.console.pg import PostgresCluster, find_bindir
from tests.integration.broker import MosquittoBroker

pytestmark = pytest.mark.integration

# The background loops that retry forever while the database is gone.
LOOPS = (
    "grid_console.ingest.mqtt",
    "grid_console.deadlines.job",
    "grid_console.notify.worker",
    "grid_console.commands.sender",
)
_HEADER = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ([A-Z]+) (\S+): (.*)$")


def log_records(text: str) -> list[tuple[str, str, str, bool]]:
    """The console's log as (level, logger, message, has a traceback) records.

    One logged exception is one traceback here, even when Python prints its chain (the
    driver's error, then SQLAlchemy's) as two "Traceback" blocks."""
    records: list[tuple[str, str, str, bool]] = []
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            records.append((header[1], header[2], header[3], False))
        elif records and line.startswith("Traceback (most recent call last)"):
            records[-1] = (*records[-1][:3], True)
    return records


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A cluster of this test's own: stopping the session's would break the other tests."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql); CI installs it")
    cluster = PostgresCluster(bindir, durable=True)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def test_events_published_while_postgresql_is_down_are_applied_once_when_it_returns(
    tmp_path: Path, broker: MosquittoBroker, own_cluster: PostgresCluster
) -> None:
    backend = Backend("postgresql", own_cluster.create_database("outage"))
    console = ConsoleProcess(tmp_path, broker, backend)
    console.wait_ready()
    engine = make_engine(backend.url)
    node = NodeStandIn(broker)

    def applied() -> int:
        with Session(engine) as session:
            return int(session.execute(select(func.count()).select_from(AlertEvent)).scalar_one())

    def publish(alerts: list[str]) -> None:
        for n, alert_id in enumerate(alerts):
            for seq, event in enumerate(("raised", "cleared"), start=1):
                body = alert(alert_id, seq, event, source=f"smoke-{alert_id[-6:]}-{n}")
                node.publish(f"{PREFIX}/alerts/smoke", encode(body))

    before = [new_alert_id() for _ in range(5)]
    during = [new_alert_id() for _ in range(40)]
    try:
        publish(before)
        wait_until(lambda: applied() == 10, 30, "the events before the outage")
        engine.dispose()  # our own connections would hold the old server's sockets
        own_cluster.pause()
        publish(during)
        assert console.proc.poll() is None
        wait_until(
            lambda: "cannot apply a message on" in console.text(), 30, "the console to notice"
        )
        # An outage of seconds, not a blip: the ingest, the deadline job, the notifier and the
        # command sender all meet it, several times each.
        time.sleep(6)
        assert console.proc.poll() is None, f"the console died:\n{console.text()}"
        health = console.health()
        assert health is not None and health["mqtt"] == "connected"
        assert str(health["database"]).startswith("unavailable"), health
        # Each loop shows its first failure with the traceback; the repeats are counted, not
        # logged again, so an outage of hours does not bury the log.
        records = log_records(console.text())
        failed = {
            name
            for level, name, message, _ in records
            if name in LOOPS and level == "ERROR" and message.endswith("; retrying")
        }
        assert failed == set(LOOPS), console.text()
        tracebacks = [(name, message) for _, name, message, tb in records if tb]
        assert len(tracebacks) <= 5, tracebacks
        assert all(tracebacks.count(t) == 1 for t in tracebacks), tracebacks
        assert not any(name == "grid_console.db.session" for _, name, _, _ in records), (
            "the retries inside one transaction while the database is unreachable are the "
            "loop's to report"
        )

        own_cluster.resume()
        wait_until(lambda: applied() == 2 * (len(before) + len(during)), 90, "every event")
        cases = console.get("/api/cases?limit=1000")["cases"]
        assert sorted(c["alert_id"] for c in cases) == sorted(before + during)
        assert all(c["problem_gone"] and c["latest_seq"] == 2 for c in cases)
        assert console.proc.poll() is None
        assert (console.health() or {}).get("database") == "ok"

        def said_works_again() -> set[str]:
            return {
                name
                for level, name, message, _ in log_records(console.text())
                if level == "INFO" and " works again after " in message
            }

        wait_until(lambda: said_works_again() >= failed, 30, "every loop to say it works again")
        tracebacks = [(name, message) for _, name, message, tb in log_records(console.text()) if tb]
        assert len(tracebacks) <= 5, tracebacks
    finally:
        node.close()
        assert console.end() == 0, console.text()
        engine.dispose()
