"""The inbox's time window is the server's: with more cases than the page holds (500), an old
case is found by choosing its days, in headless Chromium against a real console on SQLite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from grid_console.app import Console
from tests.console.casefactory import insert_case
from tests.console.conftest import Backend
from tests.console.helpers import make_console, seed, started
from tests.console.pagekit import DESKTOP, Served, assert_translated
from tests.console.test_pages import PASSWORD, TIMEOUT_MS, sign_in
from tests.integration.broker import MosquittoBroker

pytestmark = pytest.mark.integration
SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def console(tmp_path: Path, broker: MosquittoBroker) -> Iterator[Console]:
    instance = started(make_console(tmp_path, broker, Backend("sqlite", "")))
    seed(instance, grids=[("A-05", None)], people=[("zhaoop", "operator", [])],
         password=PASSWORD)  # fmt: skip
    yield instance
    instance.stop()


def test_an_old_case_is_found_by_its_days_behind_520_newer_ones(
    console: Console, open_tab: Callable[..., Any]
) -> None:
    now = datetime.now(UTC)
    old_at = (now - timedelta(days=30)).astimezone(SH).replace(hour=10, minute=0, second=0)
    with Session(console.engine) as session, session.begin():
        old = insert_case(session, old_at.astimezone(UTC), kind="illegal_parking",
                          camera="gate-2").id  # fmt: skip
        for n in range(520):
            insert_case(session, now - timedelta(minutes=n + 1))
    server = Served(console)
    try:
        tab = open_tab(DESKTOP)
        sign_in(tab, server.base, "zhaoop", "/inbox")
        tab.wait_for_function("document.getElementById('count').textContent === '500+ 条'")
        assert tab.locator(f"tr[data-case='{old}']").count() == 0
        # The last 7 days: still the newest 500 of them; the old case is not in the week.
        tab.select_option("#f-time", "604800")
        tab.wait_for_function("document.getElementById('count').textContent === '500+ 条'")
        assert tab.locator(f"tr[data-case='{old}']").count() == 0
        # Its own day, in the console's zone (the `to` day is excluded): that case alone.
        tab.select_option("#f-time", "")
        day = old_at.date()
        tab.fill("#f-from", day.isoformat())
        tab.fill("#f-to", (day + timedelta(days=1)).isoformat())
        tab.locator(f"tr[data-case='{old}']").wait_for(timeout=TIMEOUT_MS)
        tab.wait_for_function("document.getElementById('count').textContent === '1 条'")
        assert tab.locator("tr.case").count() == 1
        assert_translated(tab)
    finally:
        server.stop()
