"""Quarantine on the admin page (issue 16: "counted (metric, admin page)"): the API lists what
the ingest refused, counted by reason, and the page shows it as text in both languages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from grid_console.app import Console
from tests.console.conftest import Backend
from tests.console.helpers import NodeStandIn, api_as, make_console, seed, started, wait_until
from tests.console.pagekit import (
    DESKTOP,
    Served,
    assert_translated,
    sign_in,
)
from tests.console.payloads import PREFIX
from tests.integration.broker import MosquittoBroker

pytestmark = pytest.mark.integration

PASSWORD = "patrol-password-1"
TIMEOUT_MS = 15_000
HOSTILE = b'<img src=x onerror="window.__owned=1">'


def test_refused_messages_are_listed_for_the_centre_and_shown_as_text(
    tmp_path: Path, broker: MosquittoBroker, open_tab: Callable[..., Any]
) -> None:
    console: Console = started(make_console(tmp_path, broker, Backend("sqlite", "")))
    served = Served(console)
    node = NodeStandIn(broker, client_id="node-quarantine")
    try:
        seed(console, people=[("zhaoop", "operator", []), ("lipatrol", "patrol", [])],
             password=PASSWORD)  # fmt: skip
        node.publish(f"{PREFIX}/alerts/smoke", HOSTILE)
        node.publish(f"{PREFIX}/alerts/smoke", b'{"schema": "grid-sentinel.alert/1"}')
        operator = api_as(console, "zhaoop", PASSWORD)
        listed = wait_until(
            lambda: (r := operator.get("/api/quarantine").json())["total"] == 2 and r,
            what="two quarantined messages",
        )
        assert listed["counts"] == {"not_json": 1, "schema": 1}
        assert [i["reason"] for i in listed["items"]] == ["schema", "not_json"], "newest first"
        assert listed["items"][1]["preview"] == HOSTILE.decode()
        only = operator.get("/api/quarantine?reason=schema").json()
        assert [i["reason"] for i in only["items"]] == ["schema"]
        assert api_as(console, "lipatrol", PASSWORD).get("/api/quarantine").status_code == 403
        assert operator.get("/api/quarantine?limit=0").status_code == 422

        desk = open_tab(DESKTOP)
        sign_in(desk, served.base, "zhaoop", PASSWORD, timeout_ms=TIMEOUT_MS)
        desk.goto(f"{served.base}/admin")
        desk.locator("#quarantine-rows tr[data-reason='not_json']").wait_for(timeout=TIMEOUT_MS)
        counts = desk.locator("#quarantine-counts").inner_text()
        assert "不是 JSON: 1" in counts and "不符合消息格式: 1" in counts, counts
        row = desk.locator("#quarantine-rows tr[data-reason='not_json']").inner_text()
        assert HOSTILE.decode() in row, "the payload is shown as text"
        assert desk.evaluate("() => window.__owned") is None, "and never run as markup"
        # The rows are evidence as received (the node's bytes, the validator's English words);
        # everything else on the page is checked for untranslated text.
        desk.evaluate("() => document.getElementById('quarantine-rows').remove()")
        assert_translated(desk)
        desk.click("#lang")
        desk.locator("#quarantine-counts:has-text('Not JSON: 1')").wait_for(timeout=TIMEOUT_MS)
    finally:
        node.close()
        served.stop()
        console.stop()


def test_an_empty_quarantine_says_so(tmp_path: Path, broker: MosquittoBroker) -> None:
    console = started(make_console(tmp_path, broker, Backend("sqlite", "")))
    try:
        assert api_as(console).get("/api/quarantine").json() == {
            "total": 0,
            "counts": {},
            "items": [],
        }
    finally:
        console.stop()
