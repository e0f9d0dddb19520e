"""The installer and operator pages in headless Chromium (Debian's, driven by Playwright),
against a real node process (`python -m edge run`) and a real Mosquitto.

Screenshots of both pages go to `test-artifacts/` for a person to look at.
"""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.config.loader import load_config
from tests.integration.broker import MosquittoBroker, Subscriber, free_port
from tests.integration.node import NodeProcess, find

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
# A desktop browser keeps Web Audio suspended until the person clicks on the page; headless
# Chromium lets it play whatever --autoplay-policy says. This puts the desktop rule back: an
# AudioContext starts suspended and resumes only after a real (trusted) user gesture.
AUTOPLAY_POLICY = """
(() => {
  const Real = window.AudioContext;
  if (!Real) return;
  window.AudioContext = class extends Real {
    constructor(...args) {
      super(...args);
      if (!navigator.userActivation.hasBeenActive) super.suspend();
    }
    resume() {
      return navigator.userActivation.hasBeenActive ? super.resume() : Promise.resolve();
    }
  };
})();
"""
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TOKEN = "test-token"
PREFIX = "grid/xizhen/gate-1"
FORECOURT_JPG = "forecourt_parked_cars_qengineering.jpg"
DRIVEWAY = [[0.42, 0.3], [0.62, 0.3], [0.72, 1.0], [0.45, 1.0]]

WEST_BAY = [[0.15, 0.6], [0.4, 0.6], [0.4, 0.78], [0.15, 0.78]]

SITE = """\
# Grid Sentinel: the pages' test site. Comments like this one must survive a save made on the
# installer page.
site: {{id: xizhen, name: 西镇社区}}
node: {{id: gate-1}}
mqtt: {{url: "{mqtt}"}}
models: {{dir: "{models}", detector: yolov8n_int8.onnx, threads: 1}}
storage: {{dir: "{storage}"}}
api: {{port: {port}, token: {token}}}
alerts: {{escalate_after_s: {escalate}}}
cameras:
  - id: gate
    source: "{data}/images/parking/car_parked_in_bay_cn.jpg"
    detect_fps: 0.2
    grid: A-01
    location: 北门
  # the forecourt in front of building 5
  - id: forecourt
    source: "{data}/images/parking/forecourt_parked_cars_qengineering.jpg"
    detect_fps: 1
    grid: A-03
    location: 5号楼 消防通道
    zones:
      # 东侧车道: 物业要求
      - {{id: driveway, name: 东侧车道, kind: fire_lane, grace_s: {grace}, stationary_window_s: 1,
         clear_after_s: 30, polygon: {driveway}}}
      - id: west-bay   # 西侧
        name: 西侧车位
        kind: fire_lane
        grace_s: {grace}
        stationary_window_s: 1
        clear_after_s: 30
        polygon: {west}
sensors:
  - {{id: smoke-5-1f, kind: smoke, name: 配电间烟感, location: 5号楼 1层 配电间, grid: A-05,
     mqtt: {{topic: zigbee2mqtt/smoke-5-1f}}}}
"""
COMMENTS = ("# Grid Sentinel: the pages' test site.", "# the forecourt in front of building 5",
            "# 东侧车道: 物业要求", "# 西侧")  # fmt: skip
FIRE_LANE_SETTINGS = (
    *("grace_s", "stationary_window_s", "clear_after_s", "min_confidence", "severity"),
    *("min_area", "update_every_s", "stationary_iou", "max_gap_s"),
)
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 360, "height": 740}
SIZES = {"desktop": DESKTOP, "phone": PHONE}

# The pages' colours by state (style.css): red open, yellow acknowledged.
RED = "rgb(220, 38, 38)"
YELLOW = "rgb(212, 161, 6)"
DARK_RED = "rgb(127, 29, 29)"  # escalated and nobody acknowledged it
GREY_BG = "rgb(238, 240, 242)"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); CI installs it")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield instance
        finally:
            instance.close()


class PagesNode:
    """A node with its HTTP API on a free port; `url` once `/api/status` answers."""

    def __init__(
        self,
        tmp: Path,
        broker: MosquittoBroker,
        models: Path,
        data: Path,
        *,
        grace: float,
        escalate: float,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = tmp / "site.yaml"
        self.config.write_text(
            SITE.format(
                mqtt=broker.url,
                models=models,
                storage=tmp / "var",
                port=self.port,
                token=TOKEN,
                data=data,
                grace=grace,
                escalate=escalate,
                driveway=DRIVEWAY,
                west=WEST_BAY,
            ),
            encoding="utf-8",
        )
        self.process = NodeProcess(self.config, tmp / "node.log")

    def wait_for_api(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.proc.poll() is None, f"node exited:\n{self.process.text()}"
            try:
                with urllib.request.urlopen(f"{self.url}/api/status", timeout=2) as res:
                    if res.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"/api/status did not answer in {timeout} s:\n{self.process.text()}")


@pytest.fixture
def start_node(
    tmp_path: Path, broker: MosquittoBroker, models_dir: Path, data_dir: Path
) -> Iterator[Any]:
    nodes: list[PagesNode] = []

    def start(grace: float, escalate: float = 3600) -> PagesNode:
        node = PagesNode(tmp_path, broker, models_dir, data_dir, grace=grace, escalate=escalate)
        nodes.append(node)
        node.wait_for_api()
        return node

    yield start
    for node in nodes:
        node.process.end()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    """A tab at a size; a phone-sized one is a touch screen, as phones are."""
    contexts: list[Any] = []
    errors: list[str] = []

    def open_tab(size: dict[str, int] = DESKTOP) -> Any:
        phone = size["width"] < 600
        context = browser.new_context(
            viewport=size, locale="zh-CN", has_touch=phone, is_mobile=phone
        )
        context.add_init_script(AUTOPLAY_POLICY)
        contexts.append(context)
        tab = context.new_page()
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        return tab

    try:
        yield open_tab
    finally:
        for context in contexts:
            context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(open_page: Any) -> Any:
    return open_page(DESKTOP)


def screenshot(tab: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / name), full_page=True)


def click_at(tab: Any, selector: str, x: float, y: float) -> None:
    """Click at normalised coordinates of an element's box."""
    box = tab.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not visible"
    tab.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])


def test_installer_draws_saves_and_tests_a_zone(start_node: Any, page: Any, data_dir: Path) -> None:
    node = start_node(grace=2)
    page.goto(f"{node.url}/installer")
    page.fill("#token", TOKEN)
    page.select_option("#camera", "forecourt")
    page.wait_for_selector("#picture:not(.no-frame)", timeout=30_000)
    page.wait_for_selector(".zone-item[data-zone-id=driveway]")

    corners = [(0.06, 0.55), (0.3, 0.5), (0.32, 0.92), (0.05, 0.95)]
    page.click("#zone-new")
    for x, y in corners:
        click_at(page, "#overlay", x, y)
    page.click("#zone-close")
    zone_id = page.input_value("[name=id]")
    page.select_option("[name=kind]", "no_parking")
    page.fill("[name=grace_s]", "-5")
    page.click("#save")

    # The node refuses it; its message sits next to the grace field, nothing is written.
    error = page.locator("label:has([name=grace_s]) [data-error-for=grace_s]")
    error.wait_for(state="visible", timeout=15_000)
    assert error.inner_text() == "宽限时间：不能小于 0"  # named, in Chinese
    assert "invalid" in (page.get_attribute("[name=grace_s]", "class") or "")
    screenshot(page, "installer-invalid.png")
    zones = load_config(node.config).settings.camera("forecourt").zones
    assert [z.id for z in zones] == ["driveway", "west-bay"]

    page.fill("[name=grace_s]", "45")
    assert error.is_hidden()
    page.click("#save")
    page.wait_for_selector("#save-status.ok", timeout=15_000)

    # Test on a clip: upload the still, replay it with the zones on screen.
    page.set_input_files("#clip-file", str(data_dir / "images/parking/" / FORECOURT_JPG))
    page.click("#clip-upload")
    page.wait_for_selector("#clip-status.ok", timeout=15_000)
    assert page.input_value("#clip") == FORECOURT_JPG
    page.fill("#still", "6")
    page.click("#clip-run")
    found = page.locator(".clip-alert[data-kind=fire_lane_blocked] img").first
    found.wait_for(timeout=60_000)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=found.element_handle()
    )
    screenshot(page, "installer.png")

    zones = load_config(node.config).settings.camera("forecourt").zones
    assert [z.id for z in zones] == ["driveway", "west-bay", zone_id]
    drawn = zones[2]
    assert drawn.kind == "no_parking"
    assert drawn.grace_s == 45
    assert len(drawn.polygon) == len(corners)
    for (x, y), (want_x, want_y) in zip(drawn.polygon, corners, strict=True):
        assert abs(x - want_x) < 0.01 and abs(y - want_y) < 0.01, (drawn.polygon, corners)
    # The zone the page did not touch keeps every key, including those the form does not show.
    assert zones[0].polygon == [tuple(p) for p in DRIVEWAY]
    assert zones[0].stationary_window_s == 1 and zones[0].grace_s == 2


def alert_row(tab: Any, zone: str | None = None, kind: str = "fire_lane_blocked") -> Any:
    """The page's row of the alert of that zone (its ids are in the place's title)."""
    rows = tab.locator(f"li.alert[data-kind={kind}]")
    return rows.filter(has=tab.locator(f".place[title$='/ {zone}']")) if zone else rows


def alert_json(node: PagesNode, alert_id: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{node.url}/api/alerts/{alert_id}", timeout=5) as res:
        body: dict[str, Any] = json.load(res)
    return body


def publish(port: int, topic: str, body: bytes) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"z2m-{time.monotonic_ns()}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(topic, body, qos=1).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


def ack_one_let_one_escalate(page: Any, driveway: Any, west: Any, size: str) -> None:
    """Acknowledged stays yellow; escalated and unacknowledged is red, louder, repeating."""
    page.fill("#token", TOKEN)
    page.fill("#by", "王值班")
    assert page.locator("#sound-blocked").is_visible()
    driveway.locator("button[data-action=ack]").click()
    # Any click on the page lets the browser play sound: the badge goes.
    page.wait_for_selector("#sound-blocked", state="hidden", timeout=5_000)
    driveway_id = driveway.get_attribute("data-alert-id")
    acked = page.locator(f"li.alert[data-alert-id='{driveway_id}'][data-state=acknowledged]")
    acked.wait_for(timeout=10_000)
    assert acked.evaluate("e => getComputedStyle(e).borderLeftColor") == YELLOW

    # Nobody acknowledges the west bay: escalated, it stays red and grows louder.
    west_id = west.get_attribute("data-alert-id")
    escalated = page.locator(f"li.alert.escalated-open[data-alert-id='{west_id}']")
    escalated.wait_for(timeout=45_000)
    assert "state-red" in (escalated.get_attribute("class") or "")
    assert escalated.evaluate("e => getComputedStyle(e).borderLeftColor") == DARK_RED
    # Acknowledged in time, the driveway one never escalates and stays yellow.
    assert acked.count() == 1
    assert acked.evaluate("e => getComputedStyle(e).borderLeftColor") == YELLOW
    rings = int(page.get_attribute("body", "data-rings") or 0)
    page.wait_for_function(f"Number(document.body.dataset.rings) >= {rings + 2}", timeout=10_000)
    screenshot(page, f"operator-escalated-{size}.png")


def release_and_resolve_with_notes(
    page: Any, node: PagesNode, platform: Subscriber, rows: tuple[Any, Any], size: str
) -> None:
    """Release and resolve ask for a note, which reaches the API and the platform."""
    west, smoke = rows
    # Release with a note: it reaches the API and the platform.
    west_id = west.get_attribute("data-alert-id")
    assert west_id is not None
    west.locator("button[data-action=release]").click()
    note = "业主临时停车，已联系挪车"
    west.locator("textarea[name=note]").fill(note)
    screenshot(page, f"operator-note-{size}.png")
    west.locator("button[data-confirm=release]").click()
    page.locator(f"li.alert[data-alert-id='{west_id}'][data-state=released]").wait_for(
        timeout=10_000
    )
    actor = alert_json(node, west_id)["actor"]
    assert actor["note"] == note and actor["by"] == "王值班"
    assert platform.wait_for(find(id=west_id, event="released"), 10), node.process.text()
    smoke.locator("button[data-action=resolve]").click()
    smoke.locator("textarea[name=note]").fill("误触，已复位")
    smoke.locator("button[data-confirm=resolve]").click()
    page.locator("li.alert[data-kind=smoke][data-state=resolved]").wait_for(timeout=10_000)
    smoke_id = page.get_attribute("li.alert[data-kind=smoke]", "data-alert-id")
    assert smoke_id is not None and alert_json(node, smoke_id)["actor"]["note"] == "误触，已复位"


@pytest.mark.parametrize("size", list(SIZES))
def test_operator_names_escalation_sound_and_notes(
    size: str, start_node: Any, broker: MosquittoBroker, open_page: Any
) -> None:
    platform = Subscriber(broker.port, f"{PREFIX}/#", client_id="platform")
    page = open_page(SIZES[size])
    try:
        # A grace long enough for the page to be open before the node raises the alerts.
        node = start_node(grace=8, escalate=20)
        page.goto(f"{node.url}/operator")
        page.evaluate("window.loadedOnce = 'yes'")
        page.wait_for_selector("#live:not(.lost)", timeout=15_000)
        chip = page.locator(".chip.online[data-camera=forecourt]")
        chip.wait_for(timeout=30_000)
        # Names, not ids: the camera's location, the sensor's name.
        assert chip.inner_text().startswith("5号楼 消防通道")
        assert "配电间烟感" in page.inner_text("[data-sensor=smoke-5-1f]")
        # The browser keeps audio off until a click: the page says so.
        page.wait_for_selector("#sound-blocked", state="visible", timeout=5_000)
        assert page.inner_text("#sound-blocked") == "声音已关闭，点击开启"
        assert alert_row(page).count() == 0, "the alert was raised before the page was open"

        driveway, west = alert_row(page, "driveway"), alert_row(page, "west-bay")
        driveway.wait_for(timeout=60_000)
        west.wait_for(timeout=30_000)
        assert page.evaluate("window.loadedOnce") == "yes", "the page reloaded"
        assert "state-red" in (driveway.get_attribute("class") or "")
        assert driveway.evaluate("e => getComputedStyle(e).borderLeftColor") == RED
        assert int(page.get_attribute("body", "data-alarms") or 0) >= 1  # flash and sound
        assert page.get_attribute("body", "data-ringing") == "1"
        # Two zones of one camera: each says which, by the name the installer gave it.
        assert driveway.locator(".place").inner_text() == "5号楼 消防通道 · 东侧车道"
        assert west.locator(".place").inner_text() == "5号楼 消防通道 · 西侧车位"
        assert "A-03" in driveway.inner_text() and "消防通道占用" in driveway.inner_text()
        assert "driveway" not in driveway.inner_text() and "forecourt" not in driveway.inner_text()
        screenshot(page, f"operator-raised-{size}.png")

        ack_one_let_one_escalate(page, driveway, west, size)

        publish(broker.port, "zigbee2mqtt/smoke-5-1f", b'{"smoke": true, "battery": 90}')
        smoke = alert_row(page, kind="smoke")
        smoke.wait_for(timeout=15_000)
        assert smoke.locator(".place").inner_text() == "5号楼 1层 配电间 · 配电间烟感"
        assert "smoke-5-1f" not in smoke.inner_text()
        release_and_resolve_with_notes(page, node, platform, (west, smoke), size)
        # Everything urgent is handled: the alarm stops.
        page.wait_for_function("document.body.dataset.ringing === '0'", timeout=5_000)

        page.wait_for_function("document.getAnimations().length === 0", timeout=15_000)
        screenshot(page, f"operator-{size}.png")
    finally:
        platform.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_a_killed_node_greys_out_the_operator_page(
    size: str, start_node: Any, open_page: Any
) -> None:
    node = start_node(grace=2)
    page = open_page(SIZES[size])
    page.goto(f"{node.url}/operator")
    page.wait_for_selector("#live:not(.lost)", timeout=15_000)
    page.wait_for_selector(".chip.online[data-camera=forecourt]", timeout=30_000)
    row = alert_row(page, "driveway")
    row.wait_for(timeout=60_000)
    assert page.locator("#down").is_hidden()
    assert "fps" in page.inner_text("[data-camera=forecourt]")

    node.process.end(signal.SIGKILL)
    killed = time.time()
    banner = page.locator("#down")
    banner.wait_for(state="visible", timeout=15_000)
    text = banner.inner_text()
    since = re.search(r"节点无响应，自 (\d\d):(\d\d):(\d\d) 起", text)
    assert since, text
    # Since when: the node's last status, at most one status period (5 s) before the kill.
    said = page.evaluate(
        "([h, m, s]) => new Date().setHours(h, m, s, 0) / 1000",
        [int(since[1]), int(since[2]), int(since[3])],
    )
    assert killed - 7 <= said <= killed + 1, (text, killed)
    assert "不再实时" in text
    # Everything that was live is grey now, and says it does not know.
    chip = page.locator("[data-camera=forecourt]")
    assert "stale" in (chip.get_attribute("class") or "")
    assert chip.evaluate("e => getComputedStyle(e).backgroundColor") == GREY_BG
    assert "fps" not in chip.inner_text() and "未知" in chip.inner_text()
    assert "未知" in page.inner_text("[data-chip=broker]")
    assert page.locator(".chip.online").count() == 0
    dwell = row.locator(".dwell").inner_text()
    time.sleep(2.5)
    assert row.locator(".dwell").inner_text() == dwell, "the dwell timer kept running"
    screenshot(page, f"operator-node-down-{size}.png")


def fresh_page_with_live_boxes(page: Any, node: PagesNode) -> None:
    # A fresh page has nothing unsaved, though the file and the page order keys differently.
    assert page.get_attribute("body", "data-dirty") == "0"
    assert page.locator("#unsaved").is_hidden()
    # The picture takes the pane's width, and the model's live boxes are drawn over it.
    pane = page.locator(".picture-pane").bounding_box()
    picture = page.locator("#frame").bounding_box()
    assert pane and picture and picture["width"] >= pane["width"] - 2, (pane, picture)
    page.wait_for_selector("#overlay rect.det", timeout=30_000)
    assert "检测到" in page.inner_text("#det-state")
    with urllib.request.urlopen(f"{node.url}/api/cameras/forecourt/detections", timeout=5) as res:
        seen = json.load(res)
    assert seen["at"] and any(d["class"] == "car" for d in seen["detections"]), seen
    for camera in ("nope", "..%2F..%2Fetc", "gate%00"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{node.url}/api/cameras/{camera}/detections", timeout=5)
        assert refused.value.code == 404, camera


def guarded(page: Any, dialogs: list[tuple[str, str]]) -> None:
    # Nothing on screen is thrown away without asking.
    page.select_option("#camera", "gate")
    assert page.input_value("#camera") == "forecourt"
    page.click("#zone-delete")
    assert page.locator(".zone-item[data-zone-id=driveway]").count() == 1
    page.click("#discard")
    assert page.input_value("[name=stationary_window_s]") == "10"
    assert [d[0] for d in dialogs] == ["confirm"] * 3, dialogs
    assert "未保存" in dialogs[0][1] and "driveway" in dialogs[1][1]


def refused_in_chinese(page: Any, node: PagesNode) -> None:
    # Refusals in Chinese, naming the field: a Chinese id, and the node's own cross-check.
    page.fill("[name=id]", "东侧车道")
    id_error = page.locator("[data-error-for=id]")
    assert id_error.inner_text().startswith("区域编号：只能用英文字母")
    assert "中文请填在“名称”里" in id_error.inner_text()
    page.click("#save")
    page.wait_for_selector("#save-status.error", timeout=15_000)
    assert id_error.inner_text().startswith("区域编号：只能用英文字母")
    page.fill("[name=id]", "driveway")
    page.fill("[name=stationary_window_s]", "40")  # longer than max_gap_s (clear_after_s, 30)
    page.click("#save")
    zone_error = page.locator("[data-error-for=_zone]")
    zone_error.wait_for(state="visible", timeout=15_000)
    assert "必须长于静止确认时间" in zone_error.inner_text(), zone_error.inner_text()
    screenshot(page, "installer-refused.png")
    assert load_config(node.config).settings.camera("forecourt").zones[0].grace_s == 2


def test_installer_edits_every_setting_asks_before_losing_work_and_keeps_comments(
    start_node: Any, page: Any
) -> None:
    node = start_node(grace=2)
    dialogs: list[tuple[str, str]] = []

    def refuse(dialog: Any) -> None:  # the installer says "no, keep my work"
        dialogs.append((dialog.type, dialog.message))
        dialog.dismiss()

    page.on("dialog", refuse)
    page.goto(f"{node.url}/installer?camera=forecourt")
    page.fill("#token", TOKEN)
    page.wait_for_selector(".zone-item[data-zone-id=driveway].selected")
    page.wait_for_selector("#picture:not(.no-frame)", timeout=30_000)
    fresh_page_with_live_boxes(page, node)

    # Every setting a fire-lane zone has is on the form, with its unit and meaning; lift
    # settings are not.
    for name in FIRE_LANE_SETTINGS:
        assert page.locator(f"[data-field='{name}']").count() == 1, name
    assert page.locator("[data-field=min_hits]").count() == 0
    assert page.input_value("[name=stationary_window_s]") == "1"
    assert "秒" in page.inner_text("[data-field=stationary_window_s] > span")
    # Why a 5 s grace raises at 10 s: the stationary window.
    page.fill("[name=grace_s]", "5")
    page.fill("[name=stationary_window_s]", "10")
    earliest = page.inner_text("#zone-earliest")
    assert "最早约 10 秒" in earliest and "静止确认时间" in earliest, earliest
    assert page.locator("#unsaved").is_visible()

    guarded(page, dialogs)
    refused_in_chinese(page, node)

    page.fill("[name=stationary_window_s]", "2")
    page.click("#zone-more summary")
    page.fill("[name=stationary_iou]", "0.5")
    with page.expect_response(lambda r: r.request.method == "PUT") as put:
        page.click("#save")
    assert put.value.json()["ok"] is True, put.value.json()
    page.wait_for_selector("#save-status.ok", timeout=15_000)
    assert page.locator("#unsaved").is_hidden()
    screenshot(page, "installer-advanced.png")

    # Written with the file's comments, and applied by the running node.
    text = node.config.read_text(encoding="utf-8")
    for comment in COMMENTS:
        assert text.count(comment) == 1, (comment, text)
    driveway = load_config(node.config).settings.camera("forecourt").zones[0]
    assert (driveway.grace_s, driveway.stationary_window_s, driveway.stationary_iou) == (5, 2, 0.5)
    assert "config applied via api: ok=True" in node.process.text()

    # Leaving the page with unsaved work asks too (the link to the operator page).
    page.fill("[name=grace_s]", "6")
    page.click("nav a[href='/operator']", no_wait_after=True)
    deadline = time.monotonic() + 5
    while not any(d[0] == "beforeunload" for d in dialogs) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert dialogs[-1][0] == "beforeunload", dialogs
    assert page.url.endswith("/installer?camera=forecourt")
    assert page.input_value("[name=grace_s]") == "6"


def test_installer_on_a_phone_speaks_of_taps(start_node: Any, open_page: Any) -> None:
    node = start_node(grace=2)
    page = open_page(PHONE)
    page.goto(f"{node.url}/installer?camera=forecourt")
    page.wait_for_selector("#picture:not(.no-frame)", timeout=30_000)
    page.wait_for_selector(".zone-item[data-zone-id=driveway].selected")
    hint = page.inner_text("#hint")
    assert "点按" in hint and "右键" not in hint and "Delete" not in hint, hint
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways: {width} px"
    picture = page.locator("#frame").bounding_box()
    assert picture and picture["width"] >= PHONE["width"] - 40, picture

    page.fill("#token", TOKEN)
    page.click("#zone-new")
    box = page.locator("#overlay").bounding_box()
    assert box is not None
    for x, y in ((0.1, 0.1), (0.3, 0.1), (0.3, 0.3)):
        page.touchscreen.tap(box["x"] + x * box["width"], box["y"] + y * box["height"])
    page.click("#zone-close")
    page.fill("[name=grace_s]", "-1")
    page.click("#save")
    error = page.locator("[data-error-for=grace_s]")
    error.wait_for(state="visible", timeout=15_000)
    assert error.inner_text() == "宽限时间：不能小于 0"
    screenshot(page, "installer-phone.png")


def test_a_lost_platform_link_says_since_when(
    start_node: Any, broker: MosquittoBroker, page: Any
) -> None:
    node = start_node(grace=3600)
    page.goto(f"{node.url}/operator")
    page.wait_for_selector("[data-chip=broker].online", timeout=15_000)
    page.wait_for_selector(".chip.online[data-camera=forecourt]", timeout=30_000)
    broker.kill()
    lost = time.time()
    banner = page.locator("#down[data-kind=link]")
    banner.wait_for(state="visible", timeout=20_000)
    since = re.search(r"平台连接中断，自 (\d\d):(\d\d):(\d\d) 起", banner.inner_text())
    assert since, banner.inner_text()
    said = page.evaluate(
        "([h, m, s]) => new Date().setHours(h, m, s, 0) / 1000",
        [int(since[1]), int(since[2]), int(since[3])],
    )
    assert lost - 2 <= said <= lost + 10, (banner.inner_text(), lost)
    chip = page.locator("[data-chip=broker]")
    assert "offline" in (chip.get_attribute("class") or "") and "自" in chip.inner_text()
    # The node itself still answers: its cameras stay live; a sensor read over MQTT is unheard.
    assert page.locator(".chip.online[data-camera=forecourt]").count() == 1
    assert page.locator(".chip.stale").count() == 1
    assert "未知" in page.inner_text(".chip.stale[data-sensor=smoke-5-1f]")
    screenshot(page, "operator-link-down.png")
