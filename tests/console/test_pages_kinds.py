"""The admin page's "各类事件时限与派遣 / Timers and routing per kind" in headless Chromium against
a real console on SQLite: read, refuse in words naming the field, save, reset, both languages,
at 1440 px and at 360 px; an operator does not get the section."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from grid_console.app import Console
from grid_console.kinds.models import KindSetting
from tests.console.conftest import Backend
from tests.console.helpers import ADMIN_PASSWORD, api_as, make_console, seed, started
from tests.console.pagekit import (
    ARTIFACTS,
    DESKTOP,
    PHONE,
    Served,
    assert_translated,
)
from tests.console.test_pages import PASSWORD, TIMEOUT_MS
from tests.console.test_pages_admin import sign_in
from tests.integration.broker import MosquittoBroker

pytestmark = pytest.mark.integration


@pytest.fixture
def console(tmp_path: Path, broker: MosquittoBroker) -> Iterator[Console]:
    instance = started(make_console(tmp_path, broker, Backend("sqlite", "")))
    seed(instance, grids=[("A-05", None)], people=[("zhaoop", "operator", [])],
         password=PASSWORD)  # fmt: skip
    yield instance
    instance.stop()


def stored(console: Console, kind: str) -> KindSetting | None:
    with Session(console.engine) as session:
        return session.get(KindSetting, kind)


def note_is(tab: Any, kind: str, prefix: str) -> None:
    tab.wait_for_function(
        "([kind, prefix]) => document.querySelector(`[data-note='${kind}']`)"
        ".textContent.startsWith(prefix)",
        arg=[kind, prefix],
        timeout=TIMEOUT_MS,
    )


def _refusals(tab: Any, console: Console) -> None:
    smoke = tab.locator("#kinds tr[data-kind='smoke']")
    # Refused on the page, the field named in words, and nothing sent.
    smoke.locator("[name=response_s]").fill("5")
    smoke.locator("[data-save]").click()
    note_is(tab, "smoke", "响应时限：必须是 10 到 86400 之间的整数秒")
    assert stored(console, "smoke") is None
    # Refused by the server (longer than the handling deadline), said the same way.
    smoke.locator("[name=response_s]").fill("7200")
    smoke.locator("[data-save]").click()
    note_is(tab, "smoke", "响应时限：处置时限（3600 秒）不能短于响应时限（7200 秒）")
    assert stored(console, "smoke") is None


def _in_english(tab: Any) -> None:
    smoke = tab.locator("#kinds tr[data-kind='smoke']")
    parking = tab.locator("#kinds tr[data-kind='illegal_parking']")
    tab.click("#lang")
    tab.wait_for_function(
        "document.querySelector('#kinds-panel h2').textContent === 'Timers and routing per kind'"
    )
    assert smoke.locator("th").inner_text() == "Smoke"
    assert smoke.locator("[data-note]").inner_text() == "Saved"
    assert parking.locator("[name=handle_s]").input_value() == "7200", "kept across the switch"
    parking.locator("[name=handle_s]").fill("30")
    parking.locator("[data-save]").click()
    note_is(tab, "illegal_parking", "Handling deadline: must be whole seconds from 60 to 2592000")
    assert_translated(tab)
    tab.click("#lang")


def test_admin_edits_timers_and_routing_per_kind(
    console: Console, served: Served, open_tab: Callable[..., Any]
) -> None:
    tab = open_tab(DESKTOP)
    sign_in(tab, served.base, "admin", ADMIN_PASSWORD, "/admin")
    smoke = tab.locator("#kinds tr[data-kind='smoke']")
    smoke.wait_for(timeout=TIMEOUT_MS)
    assert tab.locator("#kinds-panel h2").inner_text() == "各类事件时限与派遣"
    assert smoke.locator("th").inner_text() == "烟雾报警"
    assert smoke.locator("[name=response_s]").input_value() == "60"
    assert smoke.locator("[name=auto_register]").is_checked()
    assert smoke.locator("[name=dispatch]").input_value() == "all_on_duty"
    assert smoke.locator("[data-source]").inner_text() == "默认（启动参数）"
    assert smoke.locator("[data-reset]").is_disabled()
    assert tab.locator("#kinds tr[data-kind='node_offline'] th").inner_text() == "节点离线"
    assert_translated(tab)

    _refusals(tab, console)

    smoke.locator("[name=response_s]").fill("45")
    smoke.locator("[name=dispatch]").select_option("manual")
    # Another kind's unsaved typing survives this row's save.
    parking = tab.locator("#kinds tr[data-kind='illegal_parking']")
    parking.locator("[name=handle_s]").fill("7200")
    smoke.locator("[data-save]").click()
    note_is(tab, "smoke", "已保存")
    row = stored(console, "smoke")
    assert row is not None and (row.response_s, row.dispatch, row.handle_s) == (45, "manual", None)
    assert row.updated_by == "admin"
    assert smoke.locator("[data-source]").inner_text().startswith("管理员修改 · admin · ")
    assert smoke.locator("[name=response_s]").get_attribute("class") == "changed"
    assert smoke.locator("[data-reset]").is_enabled()
    assert parking.locator("[name=handle_s]").input_value() == "7200"
    change = tab.locator("#kind-changes li").first
    assert (
        "admin · 烟雾报警 · 修改：响应时限 默认 → 45；派遣方式 默认 → 人工派遣"
        in change.inner_text()
    )
    assert_translated(tab)
    ARTIFACTS.mkdir(exist_ok=True)
    tab.locator("#kinds-panel").screenshot(path=str(ARTIFACTS / "console-admin-kinds.png"))

    _in_english(tab)


def test_on_a_phone_each_kind_is_a_card_and_a_reset_works(
    console: Console, served: Served, open_tab: Callable[..., Any]
) -> None:
    reply = api_as(console).patch("/api/admin/kinds/smoke", json={"response_s": 45})
    assert reply.status_code == 200, reply.text
    # On a phone: one card per kind, nothing wider than the screen, and a reset works.
    phone = open_tab(PHONE)
    sign_in(phone, served.base, "admin", ADMIN_PASSWORD, "/admin")
    card = phone.locator("#kinds tr[data-kind='smoke']")
    card.wait_for(timeout=TIMEOUT_MS)
    widths = phone.evaluate(
        """() => { const s = document.getElementById('kinds-panel');
        const r = s.getBoundingClientRect(); return [s.scrollWidth, s.clientWidth, r.right]; }"""
    )
    assert widths[0] <= widths[1] and widths[2] <= PHONE["width"], widths
    box = card.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert card.locator(".kl").first.is_visible(), "each value labelled on the card"
    ARTIFACTS.mkdir(exist_ok=True)
    phone.locator("#kinds-panel").screenshot(path=str(ARTIFACTS / "console-admin-kinds-phone.png"))
    card.locator("[data-reset]").click()
    note_is(phone, "smoke", "已恢复默认")
    assert stored(console, "smoke") is None
    assert card.locator("[name=response_s]").input_value() == "60"
    assert card.locator("[data-source]").inner_text() == "默认（启动参数）"
    assert_translated(phone)


def test_an_operator_does_not_get_the_section(
    console: Console, served: Served, open_tab: Callable[..., Any]
) -> None:
    tab = open_tab(DESKTOP)
    sign_in(tab, served.base, "zhaoop", PASSWORD, "/admin")
    tab.locator("tr[data-person='zhaoop']").wait_for(timeout=TIMEOUT_MS)
    assert api_as(console, "zhaoop", PASSWORD).get("/api/admin/kinds").status_code == 403
    assert tab.locator("#kinds-panel").is_hidden()
    assert tab.locator("#error").inner_text() == ""
