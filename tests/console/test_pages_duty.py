"""The duty page (leave, stand-ins, extra duty) in headless Chromium, against a real console on
SQLite with a real Mosquitto: an operator records a leave with a stand-in (a refused one named
by its field first), asks who is on duty, withdraws it; on a phone, records extra duty; a grid
head arranges their own grid only; a patrol is told they may not."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grid_console.app import Console
from grid_console.db.session import transaction
from grid_console.people.duty import DutyChangeSpec, add_change
from grid_console.people.models import DutyChange, Shift
from grid_console.people.service import find_person
from tests.console.conftest import Backend
from tests.console.helpers import make_console, seed, started
from tests.console.pagekit import (
    DESKTOP,
    PHONE,
    Served,
    assert_translated,
    no_overflow,
)
from tests.console.test_pages import PASSWORD, TIMEOUT_MS
from tests.console.test_pages_admin import sign_in
from tests.integration.broker import MosquittoBroker

pytestmark = pytest.mark.integration


@pytest.fixture
def console(tmp_path: Path, broker: MosquittoBroker) -> Iterator[Console]:
    instance = started(make_console(tmp_path, broker, Backend("sqlite", "")))
    seed(instance, grids=[("A-05", None), ("B-01", None)],
         people=[("zhaoop", "operator", []), ("lipatrol", "patrol", ["A-05"]),
                 ("wupatrol", "patrol", ["A-05"]), ("qianpatrol", "patrol", ["B-01"]),
                 ("zhanghead", "grid_head", ["A-05"])],
         password=PASSWORD)  # fmt: skip

    def every_hour(session: Session) -> None:
        li = find_person(session, "lipatrol")
        assert li is not None
        for weekday in range(7):
            session.add(Shift(person_id=li.id, grid_id="A-05", weekday=weekday,
                              start_minute=0, end_minute=24 * 60))  # fmt: skip

    transaction(instance.engine, every_hour)
    yield instance
    instance.stop()


def wall(tab: Any, hours: float) -> str:
    """What a person types in a date-time field, `hours` from now, in the browser's own zone."""
    return str(
        tab.evaluate(
            """(h) => {
            const d = new Date(Date.now() + h * 3600e3), p = (n) => String(n).padStart(2, "0");
            return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T` +
                   `${p(d.getHours())}:${p(d.getMinutes())}`;
        }""",
            hours,
        )
    )


def changes(console: Console) -> list[DutyChange]:
    with Session(console.engine) as session:
        return list(session.execute(select(DutyChange).order_by(DutyChange.id)).scalars())


def refused_first(tab: Any, console: Console) -> None:
    """No times, then the end before the start: refused, the field named in the page's words
    and marked, nothing written."""
    form = "#duty-add"
    tab.select_option(f"{form} select[name=username]", "lipatrol")
    tab.click(f"{form} button[type=submit]")
    assert tab.locator("#error").inner_text() == "请填写开始和结束时间"
    tab.fill(f"{form} input[name=from]", wall(tab, -1))
    tab.fill(f"{form} input[name=to]", wall(tab, -2))
    tab.select_option(f"{form} select[name=substitute]", "wupatrol")
    tab.click(f"{form} button[type=submit]")
    tab.wait_for_function("() => document.getElementById('error').textContent.includes('结束')")
    assert "结束时间必须晚于开始时间" in tab.locator("#error").inner_text()
    assert tab.locator(f"{form} input[name=to]").get_attribute("aria-invalid") == "true"
    assert changes(console) == []


def test_an_operator_records_a_leave_with_a_stand_in_and_withdraws_it(
    served: Served, console: Console, open_tab: Callable[..., Any]
) -> None:
    tab = open_tab(DESKTOP)
    sign_in(tab, served.base, "zhaoop", PASSWORD, "/duty")
    panel = tab.locator("#duty-panel")
    panel.wait_for(state="visible", timeout=TIMEOUT_MS)
    tab.locator("#duty-none").wait_for(timeout=TIMEOUT_MS)
    assert_translated(tab)

    form = "#duty-add"
    refused_first(tab, console)
    tab.fill(f"{form} input[name=to]", wall(tab, 8))
    tab.fill(f"{form} input[name=note]", "病假")
    tab.click(f"{form} button[type=submit]")
    item = tab.locator("#duty-changes li[data-kind=leave]")
    item.wait_for(timeout=TIMEOUT_MS)
    assert tab.locator("#duty-done").inner_text() == "已登记"
    text = item.inner_text()
    assert "请假" in text and "lipatrol" in text and "顶班：wupatrol" in text and "病假" in text
    (made,) = changes(console)
    assert made.note == "病假" and made.created_by == "zhaoop" and made.substitute_id is not None
    assert tab.locator(f"{form} [aria-invalid]").count() == 0

    tab.select_option("#duty-query select[name=grid]", "A-05")
    tab.click("#duty-query button[type=submit]")
    tab.locator("#duty-on li[data-on=wupatrol][data-why=stands_in]").wait_for(timeout=TIMEOUT_MS)
    assert "顶替 lipatrol" in tab.locator("#duty-on li[data-on=wupatrol]").inner_text()
    assert "lipatrol" in tab.locator("#duty-away").inner_text()
    # Asked for a time after the leave: li is back on the roster.
    tab.fill("#duty-query input[name=at]", wall(tab, 9))
    tab.click("#duty-query button[type=submit]")
    tab.locator("#duty-on li[data-on=lipatrol][data-why=shift]").wait_for(timeout=TIMEOUT_MS)

    tab.click("#lang")
    tab.locator("#duty-panel h2").filter(has_text="Leave, stand-ins").wait_for(timeout=TIMEOUT_MS)
    assert "stand-in: wupatrol" in item.inner_text()
    assert "rostered" in tab.locator("#duty-on").inner_text()
    assert_translated(tab)

    tab.fill("#duty-query input[name=at]", "")
    tab.click("#duty-query button[type=submit]")
    tab.locator("#duty-on li[data-on=wupatrol]").wait_for(timeout=TIMEOUT_MS)
    button = tab.locator(f"#duty-changes [data-revoke='{made.id}']")
    assert button.inner_text() == "End now"  # in force: li is back early
    button.click()
    tab.locator("#duty-none").wait_for(timeout=TIMEOUT_MS)
    assert tab.locator("#duty-done").inner_text() == "Ended early"
    # The answer on screen follows: li is on duty again.
    tab.locator("#duty-on li[data-on=lipatrol][data-why=shift]").wait_for(timeout=TIMEOUT_MS)
    (kept,) = changes(console)
    assert kept.cancelled_at is None and kept.ends_at <= datetime.now(UTC)


def test_extra_duty_from_a_phone(
    served: Served, console: Console, open_tab: Callable[..., Any]
) -> None:
    tab = open_tab(PHONE)
    sign_in(tab, served.base, "zhaoop", PASSWORD, "/duty")
    tab.locator("#duty-panel").wait_for(state="visible", timeout=TIMEOUT_MS)
    form = "#duty-add"
    tab.select_option(f"{form} select[name=kind]", "extra")
    assert tab.locator(f"{form} select[name=substitute]").is_hidden()
    tab.select_option(f"{form} select[name=username]", "wupatrol")
    tab.select_option(f"{form} select[name=grid]", "B-01")
    tab.fill(f"{form} input[name=from]", wall(tab, 0))
    tab.fill(f"{form} input[name=to]", wall(tab, 4))
    tab.fill(f"{form} input[name=note]", "<img src=x onerror=alert(1)>顶夜班")
    tab.click(f"{form} button[type=submit]")
    item = tab.locator("#duty-changes li[data-kind=extra]")
    item.wait_for(timeout=TIMEOUT_MS)
    assert "网格：B-01" in item.inner_text()
    assert "<img src=x onerror=alert(1)>顶夜班" in item.inner_text()  # a note is text, not markup
    assert tab.locator("#duty-changes img").count() == 0
    tab.select_option("#duty-query select[name=grid]", "B-01")
    tab.click("#duty-query button[type=submit]")
    tab.locator("#duty-on li[data-on=wupatrol][data-why=extra]").wait_for(timeout=TIMEOUT_MS)
    no_overflow(tab)
    assert_translated(tab)
    (made,) = changes(console)
    assert (made.kind, made.grid_id, made.substitute_id) == ("extra", "B-01", None)


def test_a_grid_head_arranges_their_own_grid_from_the_inbox(
    served: Served, console: Console, open_tab: Callable[..., Any]
) -> None:
    tab = open_tab(PHONE)
    sign_in(tab, served.base, "zhanghead", PASSWORD, "/inbox")
    tab.click("#nav-duty")
    tab.wait_for_url(f"{served.base}/duty", timeout=TIMEOUT_MS)
    tab.locator("#duty-panel").wait_for(state="visible", timeout=TIMEOUT_MS)
    assert tab.locator("#nav-admin").is_hidden()
    people = tab.eval_on_selector_all("#duty-person option", "os => os.map(o => o.value)")
    assert people == ["lipatrol", "wupatrol", "zhanghead"]  # B-01's qian is not theirs
    grids = tab.eval_on_selector_all("#duty-grid option", "os => os.map(o => o.value)")
    assert grids == ["A-05"]
    form = "#duty-add"
    tab.select_option(f"{form} select[name=username]", "lipatrol")
    tab.select_option(f"{form} select[name=substitute]", "wupatrol")
    tab.fill(f"{form} input[name=from]", wall(tab, 0))
    tab.fill(f"{form} input[name=to]", wall(tab, 12))
    tab.click(f"{form} button[type=submit]")
    tab.locator("#duty-changes li[data-kind=leave]").wait_for(timeout=TIMEOUT_MS)
    tab.click("#duty-query button[type=submit]")
    tab.locator("#duty-on li[data-on=wupatrol][data-why=stands_in]").wait_for(timeout=TIMEOUT_MS)
    no_overflow(tab)
    assert_translated(tab)
    (made,) = changes(console)
    assert made.created_by == "zhanghead"


def test_a_patrol_is_told_they_may_not(served: Served, open_tab: Callable[..., Any]) -> None:
    tab = open_tab(PHONE)
    sign_in(tab, served.base, "lipatrol", PASSWORD, "/duty")
    tab.wait_for_function("() => document.getElementById('error').textContent !== ''")
    assert tab.locator("#error").inner_text().startswith("无权执行此操作")
    assert tab.locator("#duty-panel").is_hidden()


def upload(tab: Any, text: str) -> None:
    """Choose a CSV file as Excel saves one (UTF-8 with a BOM)."""
    csv = {"name": "春节.csv", "mimeType": "text/csv", "buffer": text.encode("utf-8-sig")}
    tab.set_input_files("#duty-upload", files=[csv])


def test_a_holiday_roster_file_is_imported_on_the_page(
    served: Served, console: Console, open_tab: Callable[..., Any]
) -> None:
    tab = open_tab(DESKTOP)
    sign_in(tab, served.base, "zhaoop", PASSWORD, "/duty")
    tab.locator("#duty-none").wait_for(timeout=TIMEOUT_MS)
    start, end = wall(tab, 24).replace("T", " "), wall(tab, 48).replace("T", " ")
    bad = f"类型,人员,开始,结束\r\n请假,lipatrol,{start},{end}\r\n请假,ghost,{start},{end}\r\n"
    upload(tab, bad)
    tab.click("#duty-import")
    problem = tab.locator("#duty-imported .problems li")
    problem.wait_for(timeout=TIMEOUT_MS)
    assert problem.count() == 1 and "第 3" in problem.inner_text()
    assert "没有这个人员" in problem.inner_text()
    assert changes(console) == []
    upload(tab, bad.split("\r\n请假,ghost", maxsplit=1)[0] + "\r\n")
    tab.click("#duty-import")
    tab.locator("#duty-changes li[data-kind=leave]").wait_for(timeout=TIMEOUT_MS)
    assert tab.locator("#duty-imported").inner_text() == "已导入行数： 1"
    assert_translated(tab)
    (made,) = changes(console)
    assert made.created_by == "zhaoop"
    button = tab.locator(f"#duty-changes [data-revoke='{made.id}']")
    assert button.inner_text() == "撤销"  # tomorrow's: withdrawn, not ended
    button.click()
    tab.locator("#duty-none").wait_for(timeout=TIMEOUT_MS)
    assert tab.locator("#duty-done").inner_text() == "已撤销"
    (kept,) = changes(console)
    assert kept.cancelled_by == "zhaoop"


def test_a_patrol_sees_their_own_duty_on_the_phone(
    served: Served, console: Console, open_tab: Callable[..., Any]
) -> None:
    now = datetime.now(UTC)

    def record(session: Session) -> None:
        for spec in (
            DutyChangeSpec("leave", "lipatrol", now - timedelta(hours=1),
                           now + timedelta(hours=8), substitute="wupatrol"),
            DutyChangeSpec("extra", "wupatrol", now + timedelta(hours=24),
                           now + timedelta(hours=30), grid="B-01"),
        ):  # fmt: skip
            add_change(session, spec, actor="zhaoop", now=now)

    transaction(console.engine, record)
    wu = open_tab(PHONE)
    sign_in(wu, served.base, "wupatrol", PASSWORD, "/patrol")
    wu.locator("#my-duty [data-now=on]").wait_for(timeout=TIMEOUT_MS)
    assert wu.locator("#my-duty [data-now]").inner_text() == "值班中：A-05（顶替 lipatrol）"
    assert "加班 B-01" in wu.locator("#my-duty [data-coming]").inner_text()
    no_overflow(wu)
    assert_translated(wu)
    wu.click("#lang")
    wu.locator("#my-duty [data-now]").filter(has_text="On duty: A-05").wait_for(timeout=TIMEOUT_MS)
    assert "(standing in for lipatrol)" in wu.locator("#my-duty [data-now]").inner_text()
    li = open_tab(PHONE)
    sign_in(li, served.base, "lipatrol", PASSWORD, "/patrol")
    li.locator("#my-duty [data-now=leave]").wait_for(timeout=TIMEOUT_MS)
    text = li.locator("#my-duty [data-now]").inner_text()
    assert text.startswith("请假中，至 ") and text.endswith("（顶班：wupatrol）")
