"""The admin page (people, imports with row-numbered errors, exports) and the figures page in
headless Chromium, against a real console on SQLite with a real Mosquitto."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from grid_console.app import Console
from tests.console.conftest import Backend
from tests.console.helpers import ADMIN_PASSWORD, api_as, make_console, seed, started
from tests.console.pagekit import (
    ARTIFACTS,
    DESKTOP,
    PHONE,
    Served,
    assert_translated,
    no_overflow,
)
from tests.console.test_pages import PASSWORD, TIMEOUT_MS, case_id, raise_alert
from tests.integration.broker import MosquittoBroker

pytestmark = pytest.mark.integration


@pytest.fixture
def console(tmp_path: Path, broker: MosquittoBroker) -> Iterator[Console]:
    instance = started(make_console(tmp_path, broker, Backend("sqlite", "")))
    seed(instance, grids=[("A-05", None)],
         people=[("zhaoop", "operator", []), ("lipatrol", "patrol", ["A-05"])],
         password=PASSWORD)  # fmt: skip
    yield instance
    instance.stop()


def sign_in(tab: Any, base: str, username: str, password: str, then: str) -> None:
    tab.goto(f"{base}/login?next={then}")
    tab.fill("#username", username)
    tab.fill("#password", password)
    tab.click("#submit")
    tab.wait_for_url(f"{base}{then}", timeout=TIMEOUT_MS)


def test_admin_adds_people_and_imports_with_row_numbered_errors(
    served: Served, open_tab: Callable[..., Any], tmp_path: Path
) -> None:
    tab = open_tab(DESKTOP)
    sign_in(tab, served.base, "admin", ADMIN_PASSWORD, "/admin")
    tab.locator("tr[data-person='lipatrol']").wait_for(timeout=TIMEOUT_MS)
    assert "网格员" in tab.locator("tr[data-person='lipatrol']").inner_text()
    assert_translated(tab)

    tab.fill("#add input[name=username]", "zhoupatrol")
    tab.fill("#add input[name=display_name]", "周巡")
    tab.select_option("#add-role", "patrol")
    tab.fill("#add input[name=grids]", "A-05")
    tab.fill("#add input[name=password]", "zhou-password-1")
    tab.click("#add button[type=submit]")
    row = tab.locator("tr[data-person='zhoupatrol']")
    row.wait_for(timeout=TIMEOUT_MS)
    assert "A-05" in row.inner_text()
    assert "是" in row.inner_text(), "a password given: the person can sign in"
    # The same name again is refused, in words.
    tab.fill("#add input[name=username]", "zhoupatrol")
    tab.click("#add button[type=submit]")
    tab.wait_for_function("document.getElementById('error').textContent.startsWith('填写有误')")

    bad = tmp_path / "grids.csv"
    bad.write_text("id,name,parent\nB-01,二网格,\nB-02,三网格,NOPE\n", encoding="utf-8")
    tab.set_input_files("#file-grids", str(bad))
    tab.click("button[data-import='grids']")
    problems = tab.locator("#result-grids .problems li")
    problems.first.wait_for(timeout=TIMEOUT_MS)
    assert problems.first.inner_text() == "第 3 · parent · 系统和文件中都没有网格 'NOPE'"
    good = tmp_path / "grids-good.csv"
    good.write_text("id,name,parent\nB-01,二网格,\nB-02,三网格,B-01\n", encoding="utf-8")
    tab.set_input_files("#file-grids", str(good))
    tab.click("button[data-import='grids']")
    tab.wait_for_function(
        "document.getElementById('result-grids').textContent === '已导入行数： 2'"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / "console-admin.png"), full_page=True)
    href = tab.locator("[data-table='rosters'] a").nth(1).get_attribute("href")
    assert href == "/api/rosters/export?format=xlsx"
    reply = tab.request.get(f"{served.base}{href}")
    assert reply.status == 200
    assert reply.body()[:2] == b"PK", "an XLSX is a zip"


def test_operator_reads_people_but_adds_nobody(
    served: Served, open_tab: Callable[..., Any]
) -> None:
    tab = open_tab(DESKTOP)
    sign_in(tab, served.base, "zhaoop", PASSWORD, "/admin")
    tab.locator("tr[data-person='lipatrol']").wait_for(timeout=TIMEOUT_MS)
    assert tab.locator("#add").is_hidden()
    assert tab.locator("button[data-import]").count() == 0
    tab.locator("#grids tr[data-grid='A-05']").wait_for(timeout=TIMEOUT_MS)
    assert tab.locator("#grid-form").is_hidden()  # reads the grids, changes none
    assert_translated(tab)


def test_admin_adds_a_grid_and_a_loop_is_refused_by_its_field(
    served: Served, open_tab: Callable[..., Any]
) -> None:
    tab = open_tab(PHONE)
    sign_in(tab, served.base, "admin", ADMIN_PASSWORD, "/admin")
    tab.locator("#grids tr[data-grid='A-05']").wait_for(timeout=TIMEOUT_MS)
    form = "#grid-form"
    tab.fill(f"{form} input[name=id]", "A-05-1")
    tab.fill(f"{form} input[name=name]", "一号楼")
    tab.fill(f"{form} input[name=site]", "xizhen")
    tab.fill(f"{form} input[name=site_name]", "西镇小区")
    tab.select_option(f"{form} select[name=parent]", "A-05")
    tab.click(f"{form} button[type=submit]")
    row = tab.locator("#grids tr[data-grid='A-05-1']")
    row.wait_for(timeout=TIMEOUT_MS)
    assert "西镇小区" in row.inner_text() and "A-05" in row.inner_text()
    assert tab.locator("#grid-done").inner_text() == "已添加"

    tab.click("#grids tr[data-grid='A-05']")  # A-05 under its own micro-grid: a loop
    assert tab.locator(f"{form} input[name=id]").is_disabled()
    tab.select_option(f"{form} select[name=parent]", "A-05-1")
    tab.click(f"{form} button[type=submit]")
    tab.wait_for_function("() => document.getElementById('error').textContent !== ''")
    assert "上级网格" in tab.locator("#error").inner_text()
    assert "形成环" in tab.locator("#error").inner_text()
    assert tab.locator(f"{form} select[name=parent]").get_attribute("aria-invalid") == "true"
    tab.select_option(f"{form} select[name=parent]", "")
    tab.fill(f"{form} input[name=name]", "五网格（新）")
    tab.click(f"{form} button[type=submit]")
    tab.locator("#grids tr[data-grid='A-05']").filter(has_text="五网格（新）").wait_for(
        timeout=TIMEOUT_MS
    )
    assert tab.locator("#error").inner_text() == ""
    no_overflow(tab)
    assert_translated(tab)


def test_figures_page_counts_the_week(
    console: Console, served: Served, broker: MosquittoBroker, open_tab: Callable[..., Any]
) -> None:
    case = case_id(console, raise_alert(broker, "A-05"))
    client = api_as(console, "zhaoop", PASSWORD)
    reply = client.post(f"/api/cases/{case}/actions", json={"action": "false_alarm"})
    assert reply.status_code == 200, reply.text
    tab = open_tab(DESKTOP)
    sign_in(tab, served.base, "zhaoop", PASSWORD, "/figures")
    total = tab.locator("tr[data-total]")
    total.wait_for(timeout=TIMEOUT_MS)
    cells = total.locator("td").all_inner_texts()
    assert cells[0] == "合计"
    assert cells[2] == "1", "reported"
    assert cells[5] == "1", "false alarms"
    assert tab.locator("tr[data-kind='illegal_parking'] td").nth(1).inner_text() == "违章停车"
    assert (tab.locator("#csv").get_attribute("href") or "").startswith("/api/stats.csv?from=")
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / "console-figures.png"), full_page=True)
    assert_translated(tab)
    tab.click("#lang")
    tab.wait_for_function("document.querySelector('tr[data-total] td').textContent === 'Total'")
    assert_translated(tab)
    # A patrol may not read the figures: said in words, not a blank table.
    other = open_tab(DESKTOP)
    sign_in(other, served.base, "lipatrol", PASSWORD, "/figures")
    other.wait_for_function("document.getElementById('error').textContent.startsWith('无权')")


def test_a_grid_head_sees_the_figures_of_their_grid_only(
    console: Console, served: Served, broker: MosquittoBroker, open_tab: Callable[..., Any]
) -> None:
    seed(console, grids=[("B-01", None)], people=[("wanghead", "grid_head", ["A-05"])],
         password=PASSWORD)  # fmt: skip
    case_id(console, raise_alert(broker, "A-05"))
    case_id(console, raise_alert(broker, "B-01"))
    tab = open_tab(DESKTOP)
    sign_in(tab, served.base, "wanghead", PASSWORD, "/inbox")
    tab.locator("#nav a[href='/figures']").wait_for(timeout=TIMEOUT_MS)
    assert tab.locator("#nav-admin").is_hidden()
    tab.click("#nav a[href='/figures']")
    total = tab.locator("tr[data-total]")
    total.wait_for(timeout=TIMEOUT_MS)
    assert total.locator("td").nth(2).inner_text() == "1", "B-01's case is not theirs"
    assert [r.inner_text() for r in tab.locator("tbody tr td:first-child").all()] == [
        "A-05", "合计"]  # fmt: skip
    assert tab.locator("#scope").inner_text() == "网格: A-05"
    assert tab.locator("#nav-admin").is_hidden()
    tab.fill("#grid", "B-01")
    tab.click("#period button[type=submit]")
    tab.wait_for_function("document.getElementById('error').textContent.startsWith('无权')")
    assert "B-01" in tab.locator("#error").inner_text()
    assert_translated(tab)


def test_admin_edits_a_person_channels_and_deactivates(
    console: Console, served: Served, open_tab: Callable[..., Any]
) -> None:
    tab = open_tab(DESKTOP)
    sign_in(tab, served.base, "admin", ADMIN_PASSWORD, "/admin")
    row = tab.locator("tr[data-person='lipatrol']")
    row.click()
    form = tab.locator("#edit")
    form.wait_for(timeout=TIMEOUT_MS)
    assert tab.locator("#edit-who").inner_text() == "lipatrol"
    assert tab.input_value("#edit input[name=grids]") == "A-05"
    tab.fill("#edit input[name=phone]", "13800000000")
    tab.click("#add-channel")
    channel = tab.locator("#edit-channels [data-channel]").last
    channel.locator("[data-field=kind]").select_option("webhook")
    channel.locator("[data-field=target]").fill("not a url")
    tab.click("#edit button[type=submit]")
    # The bad target is refused, naming the channel, and nothing changes.
    tab.wait_for_function("document.getElementById('error').textContent.includes('channels[0]')")
    assert "13800000000" not in row.inner_text()
    channel.locator("[data-field=target]").fill("https://hooks.example.org/grid")
    channel.locator("[data-field=secret]").fill("hook-secret-1")
    tab.click("#edit button[type=submit]")
    tab.wait_for_function("document.getElementById('edit-done').textContent === '已保存'")
    lipatrol_row = "document.querySelector(\"tr[data-person='lipatrol']\").textContent"
    tab.wait_for_function(f"{lipatrol_row}.includes('Webhook 回调')")
    assert "13800000000" in row.inner_text()
    assert_translated(tab)
    # Deactivated: the row says so and the password no longer signs in.
    row.click()
    tab.uncheck("#edit input[name=active]")
    tab.click("#edit button[type=submit]")
    tab.wait_for_function(f"{lipatrol_row}.includes('已停用')")
    client = TestClient(console.app)
    reply = client.post("/api/login", json={"username": "lipatrol", "password": PASSWORD})
    assert reply.status_code == 401
    # An admin may not lock themselves out: said in words.
    tab.locator("tr[data-person='admin']").click()
    tab.uncheck("#edit input[name=active]")
    tab.click("#edit button[type=submit]")
    tab.wait_for_function("document.getElementById('error').textContent.startsWith('填写有误')")
