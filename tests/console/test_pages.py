"""The console's pages in headless Chromium against a real console (SQLite, real Mosquitto, real
uvicorn): the login page, the monitoring centre's inbox at 1440x900 and the patrol's phone page
at 360x740, over the whole path alert in -> dispatched -> accepted -> photo -> handled -> closed.

Screenshots go to `test-artifacts/` for a person to look at.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from grid_console.app import Console
from grid_console.cases.photos import MAX_PHOTO_BYTES
from tests.console.conftest import Backend
from tests.console.helpers import (
    NodeStandIn,
    api_as,
    case_of,
    make_console,
    seed,
    started,
    wait_until,
)
from tests.console.pagekit import (
    ARTIFACTS,
    DESKTOP,
    PHONE,
    Served,
    assert_translated,
    no_overflow,
)
from tests.console.payloads import PREFIX, alert, encode, new_alert_id, status
from tests.integration.broker import MosquittoBroker
from tests.schemas import validate

pytestmark = pytest.mark.integration

PASSWORD = "patrol-password-1"
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SNAPSHOT = "data/images/parking/car_parked_in_bay_cn.jpg"
PHOTO = "data/images/parking/forecourt_parked_cars_qengineering.jpg"
TIMEOUT_MS = 15_000


def shared(relative: str) -> Path:
    import os  # noqa: PLC0415

    path = Path(os.environ.get("GRID_SHARED_DIR", str(SHARED))) / relative
    if not path.is_file():
        pytest.skip(f"shared picture {relative} is missing (GRID_SHARED_DIR)")
    return path


@pytest.fixture
def console(tmp_path: Path, broker: MosquittoBroker, key_file: Path) -> Iterator[Console]:
    instance = started(make_console(tmp_path, broker, Backend("sqlite", ""), key_file=key_file))
    seed(
        instance,
        grids=[("A-05", None), ("B-01", None)],
        people=[("zhaoop", "operator", []), ("lipatrol", "patrol", ["A-05"]),
                ("wangpatrol", "patrol", ["B-01"])],
        password=PASSWORD,
    )  # fmt: skip
    yield instance
    instance.stop()


def sign_in(tab: Any, base: str, username: str, then: str) -> None:
    tab.goto(f"{base}/login")
    tab.fill("#username", username)
    tab.fill("#password", PASSWORD)
    tab.click("#submit")
    tab.wait_for_url(f"{base}{then}", timeout=TIMEOUT_MS)


def raise_alert(broker: MosquittoBroker, grid: str, *, picture: bytes | None = None) -> str:
    """A parking alert as a node publishes it: the event with its objects, then its snapshot."""
    alert_id = new_alert_id()
    body = alert(alert_id, 1, "raised", kind="illegal_parking", severity="warning", grid=grid)
    body["location"].update({"lon": 120.585, "lat": 31.299})
    body["objects"] = [{"category": "vehicle", "class": "car", "confidence": 0.91,
                        "box": [0.42, 0.3, 0.62, 0.9], "track_id": 7}]  # fmt: skip
    validate("alert", body)
    node = NodeStandIn(broker, client_id=f"node-{alert_id[-6:]}")
    try:
        node.publish(f"{PREFIX}/alerts/illegal_parking", encode(body))
        if picture is not None:
            node.publish(f"{PREFIX}/alerts/illegal_parking/{alert_id}/snapshot", picture)
    finally:
        node.close()
    return alert_id


def case_id(console: Console, alert_id: str) -> int:
    case = wait_until(lambda: case_of(console, alert_id), what="the case")
    assert case is not None
    return case.id


def state_of(console: Console, alert_id: str) -> str:
    case = case_of(console, alert_id)
    assert case is not None
    return case.state


def test_login_page_translated_errors_session_and_csrf(
    served: Served, open_tab: Callable[..., Any]
) -> None:
    tab = open_tab(DESKTOP)
    tab.goto(f"{served.base}/login")
    assert tab.locator("h2").inner_text() == "登录"
    tab.fill("#username", "zhaoop")
    tab.fill("#password", "wrong-password")
    tab.click("#submit")
    tab.wait_for_function("document.getElementById('error').textContent.length > 0")
    assert tab.locator("#error").inner_text() == "用户名或密码错误，或登录已过期"
    assert_translated(tab)
    tab.click("#lang")
    assert tab.locator("h2").inner_text() == "Sign in"
    tab.click("#submit")
    tab.wait_for_function("document.getElementById('error').textContent.startsWith('Wrong')")
    assert_translated(tab)
    # Throttled after five failures: the 429 is said in the reader's language too.
    for _ in range(4):
        tab.click("#submit")
        tab.wait_for_function("!document.getElementById('submit').disabled")
    tab.click("#submit")
    tab.wait_for_function("document.getElementById('error').textContent.startsWith('Too many')")
    tab.click("#lang")
    tab.click("#submit")
    tab.wait_for_function(
        "document.getElementById('error').textContent.startsWith('登录失败次数过多')"
    )

    other = open_tab(DESKTOP)
    sign_in(other, served.base, "lipatrol", "/patrol")
    cookies = {c["name"]: c for c in other.context.cookies()}
    assert cookies["gc_session"]["httpOnly"] is True
    assert cookies["gc_csrf"]["httpOnly"] is False
    # The session cookie alone does not change anything: the CSRF header must come with it.
    statuses = other.evaluate(
        """async () => {
        const bare = await fetch('/api/cases/999/actions', {method: 'POST',
            headers: {'Content-Type': 'application/json'}, body: '{"action": "accept"}'});
        const withHeader = await fetch('/api/cases/999/actions', {method: 'POST',
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': cookie('gc_csrf')},
            body: '{"action": "accept"}'});
        return [bare.status, withHeader.status];
    }"""
    )
    assert statuses == [403, 404]
    # Signing out ends the session: the page sends the next visitor to the login page.
    other.click("#logout")
    other.wait_for_url(f"{served.base}/login", timeout=TIMEOUT_MS)
    other.goto(f"{served.base}/patrol")
    other.wait_for_url(re.compile(r".*/login\?next=%2Fpatrol$"), timeout=TIMEOUT_MS)


def test_whole_path_alert_to_close_on_the_inbox_and_the_phone(
    console: Console, served: Served, broker: MosquittoBroker, open_tab: Callable[..., Any]
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    node = NodeStandIn(broker, client_id="node-status")
    node.publish(f"{PREFIX}/status", encode(status("online")), retain=True)
    node.close()
    ours = raise_alert(broker, "A-05", picture=shared(SNAPSHOT).read_bytes())
    theirs = raise_alert(broker, "B-01")
    ours_id, theirs_id = case_id(console, ours), case_id(console, theirs)

    desk = open_tab(DESKTOP)
    sign_in(desk, served.base, "zhaoop", "/inbox")
    inbox_filters_and_evidence(desk, served.base, ours_id, theirs_id)
    dispatch(desk)
    phone = open_tab(PHONE)
    sign_in(phone, served.base, "lipatrol", "/patrol")
    patrol_handles(phone, ours_id)
    assert state_of(console, ours) == "handled"
    verify_and_close(desk, ours_id)
    assert state_of(console, ours) == "closed"

    # The closed task leaves the patrol's list; the other grid's patrol sees only its own case.
    phone.locator("#empty").wait_for(timeout=TIMEOUT_MS)
    other = open_tab(PHONE)
    sign_in(other, served.base, "wangpatrol", "/patrol")
    other.locator(f"article.task[data-case='{theirs_id}']").wait_for(timeout=TIMEOUT_MS)
    assert other.locator("article.task").count() == 1
    # ... and cannot open ours, not even by its link.
    probe = f"async () => (await fetch('/api/pages/cases/{ours_id}/evidence')).status"
    assert other.evaluate(probe) == 404


def inbox_filters_and_evidence(desk: Any, base: str, ours_id: int, theirs_id: int) -> None:
    row = desk.locator(f"tr.case[data-case='{ours_id}']")
    row.wait_for(timeout=TIMEOUT_MS)
    assert row.locator(".mark").get_attribute("data-colour") == "red"
    assert desk.locator(f"tr.case[data-case='{theirs_id}']").count() == 1
    assert desk.title() == "(2) 监控中心", "the red cases counted in the tab's title"
    desk.locator("#health li[data-node='gate-1'].online").wait_for(timeout=TIMEOUT_MS)
    # Filters: by grid (on the server) and by colour.
    desk.select_option("#f-grid", "B-01")
    desk.wait_for_function(f"!document.querySelector(\"tr.case[data-case='{ours_id}']\")")
    assert desk.locator(f"tr.case[data-case='{theirs_id}']").count() == 1
    desk.select_option("#f-grid", "")
    desk.select_option("#f-colour", "green")
    desk.wait_for_function("!document.querySelector('tr.case')")
    desk.select_option("#f-colour", "")
    row.click()
    desk.wait_for_url(f"{base}/cases/{ours_id}")
    desk.locator("#snapshot").wait_for(timeout=TIMEOUT_MS)
    desk.wait_for_function("document.getElementById('snapshot').naturalWidth > 0")
    box = desk.locator(".shot .box")
    assert box.count() == 1
    assert box.get_attribute("data-object") == "car"
    assert "机动车 91%" in box.inner_text()
    assert_translated(desk)


def dispatch(desk: Any) -> None:
    desk.click("button[data-action='register']")
    desk.locator("#detail-state[data-state='registered']").wait_for(timeout=TIMEOUT_MS)
    desk.locator("#act-to").wait_for(timeout=TIMEOUT_MS)
    # Only the patrols of the case's grid are offered.
    offered = desk.eval_on_selector_all("#act-to option", "os => os.map(o => o.value)")
    assert offered == ["", "lipatrol"]
    desk.click("button[data-action='dispatch']")
    assert desk.locator("#act-error").inner_text() == "请选择派遣人员"
    desk.select_option("#act-to", "lipatrol")
    desk.click("button[data-action='dispatch']")
    desk.locator("#detail-state[data-state='dispatched']").wait_for(timeout=TIMEOUT_MS)
    desk.screenshot(path=str(ARTIFACTS / "console-inbox-dispatched.png"), full_page=True)


def patrol_handles(phone: Any, case: int) -> None:
    card = phone.locator(f"article.task[data-case='{case}']")
    card.wait_for(timeout=TIMEOUT_MS)
    assert phone.locator("article.task").count() == 1, "a patrol sees its own grid only"
    assert card.get_attribute("data-state") == "dispatched"
    assert "yellow" in (card.get_attribute("class") or "")
    href = card.locator("a[data-map]").get_attribute("href") or ""
    assert href.startswith("https://uri.amap.com/marker?position=120.585,31.299")
    no_overflow(phone)
    assert_translated(phone)

    card.locator("button[data-action='return']").click()
    assert phone.locator("#error").inner_text() == "请填写说明"
    card.locator("button[data-action='accept']").click()
    phone.locator(f"article.task[data-case='{case}'][data-state='accepted']").wait_for()
    card.locator("button[data-action='arrive']").click()
    phone.locator(f"article.task[data-case='{case}'][data-state='on_site']").wait_for()
    file_input = card.locator(f"#photo-{case}")
    assert file_input.get_attribute("accept") == "image/*"
    assert file_input.get_attribute("capture") == "environment"
    file_input.set_input_files(str(shared(PHOTO)))
    phone.wait_for_function("document.getElementById('notice').textContent === '照片已上传'")
    card.locator("textarea[data-note]").fill("已联系车主挪车，通道恢复")
    no_overflow(phone)
    phone.screenshot(path=str(ARTIFACTS / "console-patrol-phone.png"), full_page=True)
    card.locator("button[data-action='handle']").click()
    phone.locator(f"article.task[data-case='{case}'][data-state='handled']").wait_for()


def verify_and_close(desk: Any, case: int) -> None:
    # The inbox follows by itself (polling): the photo and the note arrive, then the close.
    desk.locator("#detail-state[data-state='handled']").wait_for(timeout=TIMEOUT_MS)
    desk.locator(".photos img[data-photo]").wait_for(timeout=TIMEOUT_MS)
    desk.wait_for_function("document.querySelector('.photos img').naturalWidth > 0")
    timeline = desk.locator("#timeline").inner_text()
    assert "已联系车主挪车，通道恢复" in timeline
    for word in ("案件生成", "立案", "派遣", "接单", "已到场", "上传照片", "处置完成"):
        assert word in timeline, word
    assert "dispatch#" not in timeline, "internal reason codes stay off the page"
    desk.click("button[data-action='close']")
    desk.locator("#detail-state[data-state='closed']").wait_for(timeout=TIMEOUT_MS)
    mark = desk.locator(f"tr.case[data-case='{case}'] .mark")
    desk.wait_for_function(
        f"document.querySelector(\"tr.case[data-case='{case}'] .mark\").dataset.colour === 'green'"
    )
    assert mark.inner_text() == "绿"
    assert_translated(desk)
    desk.click("#lang")
    desk.wait_for_function("document.getElementById('detail-state').textContent === 'Closed'")
    assert_translated(desk)
    desk.screenshot(path=str(ARTIFACTS / "console-inbox-closed.png"), full_page=True)


HOSTILE = '<img src=x onerror="window.__pwned=1">' + "楼" * 20 + "X" * 120


def test_hostile_node_text_stays_text_and_fits_a_phone(
    console: Console, served: Served, broker: MosquittoBroker, open_tab: Callable[..., Any]
) -> None:
    alert_id = new_alert_id()
    body = alert(alert_id, 1, "raised", kind="illegal_parking", severity="warning", grid="A-05")
    body["location"]["text"] = HOSTILE
    hostile_object = {"category": "vehicle", "class": '"><img src=x onerror=1>',
                      "confidence": 0.5, "box": [0.1, 0.1, 0.2, 0.2], "track_id": None}  # fmt: skip
    body["objects"] = [hostile_object]
    validate("alert", body)
    node = NodeStandIn(broker, client_id="node-hostile")
    node.publish(f"{PREFIX}/alerts/illegal_parking", encode(body))
    node.close()
    case = case_id(console, alert_id)
    # Dispatched through the API, so the phone page shows it with its buttons.
    client = api_as(console, "zhaoop", PASSWORD)
    for action in ({"action": "register"}, {"action": "dispatch", "to": "lipatrol"}):
        reply = client.post(f"/api/cases/{case}/actions", json=action)
        assert reply.status_code == 200, reply.text

    phone = open_tab(PHONE)
    sign_in(phone, served.base, "lipatrol", "/patrol")
    card = phone.locator(f"article.task[data-case='{case}']")
    card.wait_for(timeout=TIMEOUT_MS)
    assert HOSTILE in card.inner_text()
    assert card.locator("img").count() == 0
    assert "请按位置描述前往" in card.inner_text(), "no coordinates: no map link, a hint instead"
    no_overflow(phone)
    assert phone.evaluate("() => window.__pwned") is None

    desk = open_tab(DESKTOP)
    sign_in(desk, served.base, "zhaoop", "/inbox")
    desk.goto(f"{served.base}/cases/{case}")
    desk.locator(".shot, #detail p.muted").first.wait_for(timeout=TIMEOUT_MS)
    desk.locator(f"tr.case[data-case='{case}']").wait_for(timeout=TIMEOUT_MS)
    assert HOSTILE in desk.locator(f"tr.case[data-case='{case}']").inner_text()
    assert desk.locator("#detail-state").inner_text() == "已派遣"
    assert desk.evaluate("() => window.__pwned") is None


@pytest.mark.parametrize("evil", ["//evil.example/x", "/\\evil.example/x", "https://evil.example"])
def test_login_goes_only_to_pages_of_this_console(
    served: Served, open_tab: Callable[..., Any], evil: str
) -> None:
    tab = open_tab(PHONE)
    tab.goto(f"{served.base}/login?next={quote(evil)}")
    tab.fill("#username", "lipatrol")
    tab.fill("#password", PASSWORD)
    tab.click("#submit")
    tab.wait_for_url(f"{served.base}/patrol", timeout=TIMEOUT_MS)


def test_static_route_serves_only_its_own_files(console: Console) -> None:
    client = TestClient(console.app)
    assert client.get("/static/console/common.js").status_code == 200
    assert client.get("/login").headers["content-type"].startswith("text/html")
    for bad in (
        "/static/console/..%2Fpages.py",
        "/static/console/.hidden.js",
        "/static/console/pages.py",
        "/static/console/nothing.js",
        "/static/console/%2e%2e",
    ):
        assert client.get(bad).status_code == 404, bad  # fmt: skip
    # The pages are public, their data is not.
    assert client.get("/api/pages/health").status_code == 401
    assert client.get("/api/pages/assignable").status_code == 401
    assert client.get("/api/pages/cases/1/evidence").status_code == 401
    assert client.get("/api/pages/settings").status_code == 401


def test_patrol_returns_with_a_reason_and_marks_a_false_alarm(
    console: Console, served: Served, broker: MosquittoBroker, open_tab: Callable[..., Any]
) -> None:
    client = api_as(console, "zhaoop", PASSWORD)
    refused, bogus = (case_id(console, raise_alert(broker, "A-05")) for _ in range(2))
    for case in (refused, bogus):
        for action in ({"action": "register"}, {"action": "dispatch", "to": "lipatrol"}):
            reply = client.post(f"/api/cases/{case}/actions", json=action)
            assert reply.status_code == 200, reply.text

    phone = open_tab(PHONE)
    sign_in(phone, served.base, "lipatrol", "/patrol")
    card = phone.locator(f"article.task[data-case='{refused}']")
    card.wait_for(timeout=TIMEOUT_MS)
    card.locator("textarea[data-note]").fill("不在本人网格范围，请改派")
    card.locator("button[data-action='return']").click()
    phone.locator(f"article.task[data-case='{refused}'][data-state='returned']").wait_for()
    events = client.get(f"/api/cases/{refused}").json()["events"]
    assert events[-1]["action"] == "return"
    assert events[-1]["note"] == "不在本人网格范围，请改派"
    assert events[-1]["actor"] == "lipatrol"

    phone.locator(f"article.task[data-case='{bogus}'] button[data-action='false_alarm']").click()
    phone.wait_for_function(f"!document.querySelector(\"article.task[data-case='{bogus}']\")")
    assert client.get(f"/api/cases/{bogus}").json()["case"]["state"] == "false_alarm"


def test_patrol_acting_on_a_case_moved_on_meanwhile_is_told_why(
    console: Console, served: Served, broker: MosquittoBroker, open_tab: Callable[..., Any]
) -> None:
    client = api_as(console, "zhaoop", PASSWORD)
    case = case_id(console, raise_alert(broker, "A-05"))
    for action in ({"action": "register"}, {"action": "dispatch", "to": "lipatrol"}):
        assert client.post(f"/api/cases/{case}/actions", json=action).status_code == 200
    phone = open_tab(PHONE)
    # The page's clock is held, so it does not poll: it still shows the case as dispatched.
    phone.clock.install()
    sign_in(phone, served.base, "lipatrol", "/patrol")
    card = phone.locator(f"article.task[data-case='{case}']")
    card.wait_for(timeout=TIMEOUT_MS)
    reply = client.post(f"/api/cases/{case}/actions", json={"action": "false_alarm"})
    assert reply.status_code == 200, reply.text
    card.locator("button[data-action='accept']").click()
    phone.wait_for_function("document.getElementById('error').textContent.length > 0")
    assert phone.locator("#error").inner_text().startswith("案件状态已变化")
    # ... and the page then shows what is true: the case is gone from the list.
    phone.wait_for_function(f"!document.querySelector(\"article.task[data-case='{case}']\")")


def test_a_case_dispatched_to_me_is_announced_on_the_phone(
    console: Console, served: Served, broker: MosquittoBroker, open_tab: Callable[..., Any]
) -> None:
    phone = open_tab(PHONE)
    # Headless Chromium has no vibration motor: record the calls instead.
    phone.add_init_script(
        "window.__buzz = []; navigator.vibrate = (p) => { __buzz.push(p); return true; };"
    )
    sign_in(phone, served.base, "lipatrol", "/patrol")
    phone.locator("#empty").wait_for(timeout=TIMEOUT_MS)
    assert phone.locator("#new-task").is_hidden()
    client = api_as(console, "zhaoop", PASSWORD)
    case = case_id(console, raise_alert(broker, "A-05"))
    for action in ({"action": "register"}, {"action": "dispatch", "to": "lipatrol"}):
        assert client.post(f"/api/cases/{case}/actions", json=action).status_code == 200
    banner = phone.locator("#new-task")
    banner.wait_for(timeout=TIMEOUT_MS)
    assert banner.inner_text() == "新任务：违章停车"
    assert phone.title() == "(1) 我的任务"
    assert phone.evaluate("() => window.__buzz.length") == 1
    phone.locator(f"article.task[data-case='{case}'] button[data-action='accept']").click()
    banner.wait_for(state="hidden", timeout=TIMEOUT_MS)
    phone.wait_for_function("document.title === '我的任务'")
    # In English too, every word translated and nothing wider than the phone.
    phone.click("#lang")
    phone.wait_for_function(
        "document.querySelector('button[data-action=arrive]').textContent === 'Arrived'"
    )
    assert_translated(phone)
    no_overflow(phone)


def test_a_big_camera_picture_is_sent_shrunk(
    console: Console,
    served: Served,
    broker: MosquittoBroker,
    open_tab: Callable[..., Any],
    tmp_path: Path,
) -> None:
    # 4800x3600 as a PNG: over the console's 8 MiB limit, as a phone's full-size picture can be.
    big = tmp_path / "camera.png"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(shared(PHOTO)),
                    "-vf", "scale=4800:3600", "-frames:v", "1", str(big)], check=True)  # fmt: skip
    assert big.stat().st_size > MAX_PHOTO_BYTES
    client = api_as(console, "zhaoop", PASSWORD)
    case = case_id(console, raise_alert(broker, "A-05"))
    for action in ({"action": "register"}, {"action": "dispatch", "to": "lipatrol"}):
        assert client.post(f"/api/cases/{case}/actions", json=action).status_code == 200
    phone = open_tab(PHONE)
    sign_in(phone, served.base, "lipatrol", "/patrol")
    card = phone.locator(f"article.task[data-case='{case}']")
    card.locator("button[data-action='accept']").click()
    phone.locator(f"article.task[data-case='{case}'][data-state='accepted']").wait_for()
    card.locator(f"#photo-{case}").set_input_files(str(big))
    phone.wait_for_function("document.getElementById('notice').textContent === '照片已上传'")
    (photo,) = client.get(f"/api/cases/{case}").json()["photos"]
    content = client.get(f"/api/cases/{case}/photos/{photo}").content
    assert content[:3] == b"\xff\xd8\xff", "sent as a JPEG"
    assert len(content) < 2 * 1024 * 1024
    width, height = jpeg_size(content)
    assert (width, height) == (2560, 1920)


def jpeg_size(content: bytes) -> tuple[int, int]:
    """Width and height from the JPEG's start-of-frame marker."""
    at = 2
    while at < len(content):
        marker, length = content[at + 1], int.from_bytes(content[at + 2 : at + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            height = int.from_bytes(content[at + 5 : at + 7], "big")
            return int.from_bytes(content[at + 7 : at + 9], "big"), height
        at += 2 + length
    raise AssertionError("no start-of-frame marker")


def test_inbox_keeps_the_operators_note_and_defers_to_a_chosen_date(
    console: Console, served: Served, broker: MosquittoBroker, open_tab: Callable[..., Any]
) -> None:
    client = api_as(console, "zhaoop", PASSWORD)
    case = case_id(console, raise_alert(broker, "A-05"))
    assert client.post(f"/api/cases/{case}/actions", json={"action": "register"}).status_code == 200
    desk = open_tab(DESKTOP)
    sign_in(desk, served.base, "zhaoop", "/inbox")
    desk.goto(f"{served.base}/cases/{case}")
    desk.locator("#detail-state[data-state='registered']").wait_for(timeout=TIMEOUT_MS)
    desk.fill("#act-note", "物业说明天上午处理")
    # Someone else dispatches meanwhile: no redraw while the operator is typing ...
    reply = client.post(f"/api/cases/{case}/actions", json={"action": "dispatch", "to": "lipatrol"})
    assert reply.status_code == 200
    desk.wait_for_timeout(4000)  # more than one poll
    assert desk.locator("#detail-state").get_attribute("data-state") == "registered"
    # ... and once the note field is left, the truth is drawn and the note is still there.
    desk.locator("h3").first.click()
    desk.locator("#detail-state[data-state='dispatched']").wait_for(timeout=TIMEOUT_MS)
    assert desk.input_value("#act-note") == "物业说明天上午处理"
    desk.fill("#act-due", "")
    desk.click("button[data-action='defer']")
    assert desk.locator("#act-error").inner_text() == "请选择挂账到期日期"
    desk.fill("#act-due", "2031-05-20")
    desk.click("button[data-action='defer']")
    desk.locator("#detail-state[data-state='deferred']").wait_for(timeout=TIMEOUT_MS)
    found = client.get(f"/api/cases/{case}").json()
    assert found["case"]["deferred_until"].startswith("2031-05-19T16:00:00"), "midnight in Shanghai"
    assert found["events"][-1]["note"] == "物业说明天上午处理"


def test_a_grid_head_dispatches_in_their_own_grid_only(
    console: Console, served: Served, broker: MosquittoBroker, open_tab: Callable[..., Any]
) -> None:
    seed(console, people=[("sunhead", "grid_head", ["A-05"])], password=PASSWORD)
    ours = case_id(console, raise_alert(broker, "A-05"))
    theirs = case_id(console, raise_alert(broker, "B-01"))
    desk = open_tab(DESKTOP)
    sign_in(desk, served.base, "sunhead", "/inbox")
    desk.locator(f"tr.case[data-case='{ours}']").wait_for(timeout=TIMEOUT_MS)
    assert desk.locator(f"tr.case[data-case='{theirs}']").count() == 0
    assert desk.locator("#health").is_hidden(), "node health is for the monitoring centre"
    # The figures of their grids, yes; the directory's admin page, no.
    assert desk.locator("#nav a[href='/figures']").is_visible()
    assert desk.locator("#nav-admin").is_hidden()
    desk.locator(f"tr.case[data-case='{ours}']").click()
    desk.click("button[data-action='register']")
    desk.locator("#act-to").wait_for(timeout=TIMEOUT_MS)
    offered = desk.eval_on_selector_all("#act-to option", "os => os.map(o => o.value)")
    assert offered == ["", "sunhead", "lipatrol"]
    desk.select_option("#act-to", "lipatrol")
    desk.click("button[data-action='dispatch']")
    desk.locator("#detail-state[data-state='dispatched']").wait_for(timeout=TIMEOUT_MS)
    # The other grid's case, by its link: not found, in words.
    desk.goto(f"{served.base}/cases/{theirs}")
    desk.wait_for_function("document.querySelector('#detail p.error') !== null")
    assert desk.locator("#detail p.error").inner_text() == "没有找到，或不在您的网格"
    # ... while the list and its own case go on refreshing.
    desk.wait_for_timeout(3500)  # one more poll
    assert desk.locator("#live").inner_text().startswith("实时刷新中")
    assert_translated(desk)


def test_inbox_takes_back_cannot_reach_once_the_console_answers(
    console: Console, served: Served, broker: MosquittoBroker, open_tab: Callable[..., Any]
) -> None:
    """An operator's tap that failed on a cut network says so; once the console answers again
    the words go, or they would tell the operator not to try again under a live page."""
    alert_id = raise_alert(broker, "A-05")
    case = case_id(console, alert_id)
    desk = open_tab(DESKTOP)
    sign_in(desk, served.base, "zhaoop", "/inbox")
    desk.goto(f"{served.base}/cases/{case}")
    desk.locator("#detail-state[data-state='reported']").wait_for(timeout=TIMEOUT_MS)
    cut = "**/api/cases/*/actions"
    desk.route(cut, lambda route: route.abort("internetdisconnected"))
    desk.click("button[data-action='register']")
    desk.wait_for_function("document.getElementById('act-error').textContent === '无法连接平台'")
    assert state_of(console, alert_id) == "reported"
    desk.unroute(cut)
    desk.wait_for_function(
        "document.getElementById('act-error').textContent === ''", timeout=TIMEOUT_MS
    )
    desk.click("button[data-action='register']")
    desk.locator("#detail-state[data-state='registered']").wait_for(timeout=TIMEOUT_MS)
