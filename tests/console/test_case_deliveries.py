"""A case's notification deliveries on its API and its page (issue 16): who was told, by which
channel, whether it reached them, with real webhooks (one answering, one refusing to connect)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from grid_console.app import Console
from tests.console.conftest import Backend
from tests.console.helpers import api_as, case_of, make_console, seed, started, wait_until
from tests.console.notify_servers import RecordingServer
from tests.console.pagekit import (
    DESKTOP,
    Served,
    assert_translated,
    sign_in,
)
from tests.console.payloads import PREFIX, alert, encode, new_alert_id
from tests.integration.broker import HOST, MosquittoBroker, free_port

pytestmark = pytest.mark.integration

PASSWORD = "patrol-password-1"
TIMEOUT_MS = 15_000


def _dispatched_case(console: Console, broker: MosquittoBroker, hook: str) -> int:
    """A parking case dispatched by the operator to 李巡查, who has two webhooks: one that
    answers and one on a port where nobody listens."""
    from tests.console.helpers import NodeStandIn  # noqa: PLC0415

    seed(console, grids=[("A-05", None)],
         people=[("zhaoop", "operator", []), ("lipatrol", "patrol", ["A-05"])],
         password=PASSWORD)  # fmt: skip
    admin = api_as(console)
    dead = f"http://{HOST}:{free_port()}/nobody"
    reply = admin.patch("/api/people/lipatrol", json={
        "display_name": "李巡查",
        "channels": [{"kind": "webhook", "target": hook, "secret": "k" * 32},
                     {"kind": "webhook", "target": dead, "secret": "k" * 32}]})  # fmt: skip
    assert reply.status_code == 200, reply.text
    alert_id = new_alert_id()
    node = NodeStandIn(broker, client_id="node-deliveries")
    try:
        body = alert(alert_id, 1, "raised", kind="illegal_parking", severity="warning")
        node.publish(f"{PREFIX}/alerts/illegal_parking", encode(body))
    finally:
        node.close()
    case = wait_until(lambda: case_of(console, alert_id), what="the case")
    assert case is not None
    operator = api_as(console, "zhaoop", PASSWORD)
    for action in ({"action": "register"}, {"action": "dispatch", "to": "lipatrol"}):
        assert operator.post(f"/api/cases/{case.id}/actions", json=action).status_code == 200
    return case.id


def _deliveries(console: Console, case: int) -> list[dict[str, Any]]:
    reply = api_as(console, "zhaoop", PASSWORD).get(f"/api/cases/{case}")
    assert reply.status_code == 200, reply.text
    return list(reply.json()["deliveries"])


def test_the_case_api_lists_its_deliveries(
    tmp_path: Path, broker: MosquittoBroker, backend: Backend
) -> None:
    server = RecordingServer()
    console = started(make_console(tmp_path, broker, backend))
    try:
        case = _dispatched_case(console, broker, server.url("/li"))

        def both_tried() -> list[dict[str, Any]] | None:
            found = _deliveries(console, case)
            return found if len(found) == 2 and all(d["attempts"] >= 1 for d in found) else None

        found = wait_until(both_tried, 30, "both deliveries tried")
        by_state = {d["state"]: d for d in found}
        assert set(by_state) == {"sent", "pending"}, found
        sent, waiting = by_state["sent"], by_state["pending"]
        assert (sent["name"], sent["recipient"], sent["channel"]) == (
            "李巡查",
            "lipatrol",
            "webhook",
        )
        assert sent["attempts"] == 1 and sent["sent_at"] and sent["last_error"] is None
        assert waiting["sent_at"] is None and waiting["last_error"], waiting
        # Each attempt behind the count: when, whether it worked, the endpoint's status.
        assert [(a["attempt"], a["ok"], a["http_status"]) for a in sent["tries"]] == [
            (1, True, 200)
        ]
        failed = waiting["tries"]
        assert len(failed) == waiting["attempts"] and not any(a["ok"] for a in failed)
        assert failed[-1]["detail"] == waiting["last_error"]
        assert len(server.ok()) == 1
        # Nobody's channel address or secret leaves the server on a case page.
        assert all("target" not in d and "secret" not in d for d in found)
        assert "nobody" not in str(found) and "k" * 32 not in str(found)
        # A patrol of the grid reads the same list; a case without deliveries has an empty one.
        patrol = api_as(console, "lipatrol", PASSWORD).get(f"/api/cases/{case}").json()
        assert len(patrol["deliveries"]) == 2
    finally:
        console.stop()
        server.close()


def test_the_case_page_shows_deliveries_in_both_languages(
    tmp_path: Path, broker: MosquittoBroker, open_tab: Callable[..., Any]
) -> None:
    server = RecordingServer()
    console = started(make_console(tmp_path, broker, Backend("sqlite", "")))
    served = Served(console)
    try:
        case = _dispatched_case(console, broker, server.url("/li"))
        wait_until(
            lambda: (
                {d["state"] for d in _deliveries(console, case)} == {"sent", "pending"}
                and all(d["attempts"] for d in _deliveries(console, case))
            ),
            30,
            "attempts",
        )
        desk = open_tab(DESKTOP)
        sign_in(desk, served.base, "zhaoop", PASSWORD, timeout_ms=TIMEOUT_MS)
        desk.goto(f"{served.base}/cases/{case}")
        table = desk.locator("#deliveries")
        table.locator("tr[data-state='sent']").wait_for(timeout=TIMEOUT_MS)
        sent = table.locator("tr[data-state='sent']").inner_text()
        assert "李巡查" in sent and "Webhook 回调" in sent, sent
        assert "已送达" in sent, sent
        waiting = table.locator("tr[data-state='pending']").inner_text()
        assert "待发送" in waiting and "1" in waiting, waiting
        table.locator("tr[data-state='pending'] details summary").click()
        tried = table.locator("tr[data-state='pending'] details li").first
        assert "失败" in tried.inner_text() and tried.get_attribute("data-ok") == "false"
        table.locator("tr[data-state='sent'] details summary").click()
        assert "成功 · HTTP 200" in table.locator("tr[data-state='sent'] details li").inner_text()
        assert "nobody" not in desk.locator("#detail").inner_text(), "no channel address shown"
        assert_translated(desk)
        desk.click("#lang")
        desk.locator("#deliveries tr[data-state='sent']:has-text('Delivered')").wait_for(
            timeout=TIMEOUT_MS
        )
        assert "Notifications" in desk.locator("#detail").inner_text()
    finally:
        served.stop()
        console.stop()
        server.close()
