"""`GET /metrics` (issue 16): the figures a Prometheus server scrapes, read from the ingest's
counters and counted from the database at scrape time, and who may read them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from grid_console.app import Console
from grid_console.ingest.broker import parse_broker_url
from grid_console.settings import Settings
from tests.console.conftest import Backend
from tests.console.fakeclock import FakeClock
from tests.console.helpers import (
    ADMIN_PASSWORD,
    NodeStandIn,
    api_as,
    case_of,
    seed,
    started,
    wait_until,
)
from tests.console.notify_servers import RecordingServer
from tests.console.payloads import PREFIX, alert, encode, new_alert_id
from tests.integration.broker import MosquittoBroker

pytestmark = pytest.mark.integration

PASSWORD = "patrol-password-1"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _console(
    tmp_path: Path,
    broker: MosquittoBroker,
    backend: Backend,
    clock: FakeClock | None = None,
    **extra: object,
) -> Console:
    settings = Settings(
        data_dir=tmp_path / "console",
        broker=parse_broker_url(broker.url),
        db_url=backend.url,
        admin_password=ADMIN_PASSWORD,
        cookie_secure=False,
        deadline_poll_s=0.2,
        **extra,  # type: ignore[arg-type]
    )
    if clock is None:
        return Console(settings, announce=lambda _: None)
    return Console(settings, clock, announce=lambda _: None)


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def scrape(client: TestClient) -> Samples:
    reply = client.get("/metrics")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(reply.text)


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def webhook() -> Iterator[RecordingServer]:
    server = RecordingServer()
    yield server
    server.close()


def _parking_and_smoke(console: Console, node: NodeStandIn, now: datetime) -> Any:
    """A parking case and a smoke case (sent twice), and one message that is not JSON."""
    parking, smoke = new_alert_id(), new_alert_id()
    body = alert(parking, 1, "raised", kind="illegal_parking", severity="warning", at=now)
    node.publish(f"{PREFIX}/alerts/illegal_parking", encode(body))
    node.publish(f"{PREFIX}/alerts/smoke", encode(alert(smoke, 1, "raised", at=now)))
    node.publish(f"{PREFIX}/alerts/smoke", b"{not json")
    node.publish(f"{PREFIX}/alerts/smoke", encode(alert(smoke, 1, "raised", at=now)))
    wait_until(lambda: case_of(console, smoke), what="the smoke case")
    return wait_until(lambda: case_of(console, parking), what="the parking case")


def test_metrics_count_ingest_cases_deadlines_deliveries_and_the_outbox(
    tmp_path: Path, broker: MosquittoBroker, backend: Backend, webhook: RecordingServer
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    clock = FakeClock(now)
    console = started(_console(tmp_path, broker, backend, clock))
    node = NodeStandIn(broker, client_id="node-metrics")
    try:
        seed(console, grids=[("A-05", None)],
             people=[("zhaoop", "operator", []), ("lipatrol", "patrol", ["A-05"])],
             password=PASSWORD)  # fmt: skip
        admin = api_as(console)
        reply = admin.patch(
            "/api/people/lipatrol",
            json={
                "channels": [{"kind": "webhook", "target": webhook.url("/li"), "secret": "k" * 32}]
            },
        )
        assert reply.status_code == 200, reply.text
        parking_case = _parking_and_smoke(console, node, now)
        operator = api_as(console, "zhaoop", PASSWORD)
        dispatch = {"action": "dispatch", "to": "lipatrol"}
        for body in ({"action": "register"}, dispatch):
            reply = operator.post(f"/api/cases/{parking_case.id}/actions", json=body)
            assert reply.status_code == 200, reply.text

        def delivered() -> Samples | None:
            found = scrape(operator)
            sent = value(found, "gs_console_notify_deliveries", state="sent", channel="webhook")
            return found if sent == 1 else None

        found = wait_until(delivered, 20, "the webhook delivery counted as sent")
        assert value(found, "gs_console_ingest_messages_total", outcome="applied") == 2
        assert value(found, "gs_console_ingest_messages_total", outcome="duplicate") == 1
        assert value(found, "gs_console_ingest_messages_total", outcome="quarantined") == 1
        assert value(found, "gs_console_ingest_quarantined_total", reason="not_json") == 1
        assert value(found, "gs_console_quarantine_rows", reason="not_json") == 1
        assert value(found, "gs_console_mqtt_connected") == 1
        assert value(found, "gs_console_database_up") == 1
        # The smoke case is registered (auto) with nobody on duty: red; the parking case is
        # dispatched: yellow. Nothing is overdue yet.
        assert value(found, "gs_console_cases_open", state="registered", colour="red") == 1
        assert value(found, "gs_console_cases_open", state="dispatched", colour="yellow") == 1
        assert value(found, "gs_console_cases_open", state="dispatched", colour="red") == 0
        assert not [k for k in found if k[0] == "gs_console_cases_overdue"]
        assert value(found, "gs_console_command_outbox_pending") == 0

        # Past both response deadlines (smoke 60 s, parking 300 s): the dispatched case is red
        # now, counted from the stored deadlines at scrape time.
        clock.advance(301)
        found = scrape(operator)
        assert value(found, "gs_console_cases_open", state="dispatched", colour="red") == 1
        assert value(found, "gs_console_cases_open", state="dispatched", colour="yellow") == 0
        assert value(found, "gs_console_cases_overdue", kind="illegal_parking") == 1
        assert value(found, "gs_console_cases_overdue", kind="smoke") == 1

        # A false alarm without a command key: the release waits in the outbox; the case
        # leaves the open counts.
        reply = operator.post(f"/api/cases/{parking_case.id}/actions",
                              json={"action": "false_alarm"})  # fmt: skip
        assert reply.status_code == 200, reply.text
        found = scrape(operator)
        assert value(found, "gs_console_command_outbox_pending") == 1
        assert value(found, "gs_console_cases_open", state="dispatched", colour="red") == 0
        assert value(found, "gs_console_cases_overdue", kind="illegal_parking") == 0
    finally:
        node.close()
        console.stop()


def test_who_may_read_the_metrics(tmp_path: Path, broker: MosquittoBroker) -> None:
    sqlite = Backend("sqlite", "")
    token_file = tmp_path / "metrics.token"
    token_file.write_text("prometheus-scrape-token-0123456789\n", encoding="utf-8")
    local = started(_console(tmp_path / "a", broker, sqlite))
    protected = started(
        _console(tmp_path / "b", broker, sqlite, client_id="c2", metrics_token_file=token_file)
    )
    wide = started(_console(tmp_path / "c", broker, sqlite, client_id="c3", host="0.0.0.0"))
    try:
        seed(local, people=[("lipatrol", "patrol", [])], password=PASSWORD)
        loopback = ("127.0.0.1", 50000)
        # Listening on loopback, no token: a scraper on the same host reads it as it is ...
        assert TestClient(local.app, client=loopback).get("/metrics").status_code == 200
        assert TestClient(local.app, client=("::1", 1)).get("/metrics").status_code == 200
        # ... a caller from elsewhere must sign in, as admin or operator.
        remote = TestClient(local.app, client=("10.1.2.3", 50000))
        refused = remote.get("/metrics")
        assert refused.status_code == 401 and "gs_console" not in refused.text
        assert api_as(local, "lipatrol", PASSWORD).get("/metrics").status_code == 403
        assert api_as(local).get("/metrics").status_code == 200
        # Listening beyond loopback: nobody anonymous, even from loopback.
        assert TestClient(wide.app, client=loopback).get("/metrics").status_code == 401
        assert api_as(wide).get("/metrics").status_code == 200
        # A metrics token: the scraper's bearer works from anywhere, a wrong one does not, and
        # the loopback door is closed.
        right = {"Authorization": "Bearer prometheus-scrape-token-0123456789"}
        wrong = {"Authorization": "Bearer prometheus-scrape-token-0123456780"}
        far = TestClient(protected.app, client=("10.1.2.3", 50000))
        assert far.get("/metrics", headers=right).status_code == 200
        assert far.get("/metrics", headers=wrong).status_code == 401
        near = TestClient(protected.app, client=loopback)
        assert near.get("/metrics").status_code == 401
        # Rotated on disk: the new token works at once, the old one no longer.
        token_file.write_text("rotated-scrape-token-0123456789abc\n", encoding="utf-8")
        assert far.get("/metrics", headers=right).status_code == 401
        rotated = {"Authorization": "Bearer rotated-scrape-token-0123456789abc"}
        assert far.get("/metrics", headers=rotated).status_code == 200
    finally:
        for console in (local, protected, wide):
            console.stop()


def test_each_console_has_its_own_registry_and_a_dead_database_still_scrapes(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    sqlite = Backend("sqlite", "")
    first = started(_console(tmp_path / "a", broker, sqlite))
    node = NodeStandIn(broker, client_id="node-registry")
    # Built but never started: its database was never migrated, so every query fails.
    second = _console(tmp_path / "b", broker, sqlite, client_id="c2")
    try:
        alert_id = new_alert_id()
        node.publish(f"{PREFIX}/alerts/smoke", encode(alert(alert_id, 1, "raised")))
        wait_until(lambda: case_of(first, alert_id), what="the case")
        assert first.metrics is not second.metrics
        loopback = ("127.0.0.1", 50000)
        mine = scrape(TestClient(first.app, client=loopback))
        theirs = scrape(TestClient(second.app, client=loopback))
        assert value(mine, "gs_console_ingest_messages_total", outcome="applied") == 1
        assert value(theirs, "gs_console_ingest_messages_total", outcome="applied") == 0
        assert value(theirs, "gs_console_database_up") == 0
        assert value(theirs, "gs_console_mqtt_connected") == 0
        assert value(mine, "gs_console_cases_open", state="registered", colour="red") == 1
    finally:
        node.close()
        first.stop()
        second.engine.dispose()
