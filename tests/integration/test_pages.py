"""The installer and operator pages in headless Chromium (Debian's, driven by Playwright),
against a real node process (`python -m edge run`) and a real Mosquitto.

Screenshots of both pages go to `test-artifacts/` for a person to look at.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.config.loader import load_config
from tests.integration.broker import MosquittoBroker, Subscriber, free_port
from tests.integration.node import NodeProcess, find

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
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

SITE = """\
site: {{id: xizhen, name: 西镇社区}}
node: {{id: gate-1}}
mqtt: {{url: "{mqtt}"}}
models: {{dir: "{models}", detector: yolov8n_int8.onnx, threads: 1}}
storage: {{dir: "{storage}"}}
api: {{port: {port}, token: {token}}}
alerts: {{escalate_after_s: 3600}}
cameras:
  - id: gate
    source: "{data}/images/parking/car_parked_in_bay_cn.jpg"
    detect_fps: 1
    grid: A-01
    location: 北门
  - id: forecourt
    source: "{data}/images/parking/forecourt_parked_cars_qengineering.jpg"
    detect_fps: 1
    grid: A-03
    location: 5号楼 消防通道
    zones:
      - {{id: driveway, kind: fire_lane, grace_s: {grace}, stationary_window_s: 1,
         clear_after_s: 3, polygon: {driveway}}}
"""

# The pages' colours by state (style.css): red open, yellow acknowledged.
RED = "rgb(220, 38, 38)"
YELLOW = "rgb(212, 161, 6)"


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
        self, tmp: Path, broker: MosquittoBroker, models: Path, data: Path, grace: float
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
                driveway=DRIVEWAY,
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

    def start(grace: float) -> PagesNode:
        node = PagesNode(tmp_path, broker, models_dir, data_dir, grace)
        nodes.append(node)
        node.wait_for_api()
        return node

    yield start
    for node in nodes:
        node.process.end()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


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
    assert "greater than or equal to 0" in error.inner_text()
    assert "invalid" in (page.get_attribute("[name=grace_s]", "class") or "")
    screenshot(page, "installer-invalid.png")
    zones = load_config(node.config).settings.camera("forecourt").zones
    assert [z.id for z in zones] == ["driveway"]

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
    found = page.locator(".clip-alert[data-kind=fire_lane_blocked] img")
    found.wait_for(timeout=60_000)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=found.element_handle()
    )
    screenshot(page, "installer.png")

    zones = load_config(node.config).settings.camera("forecourt").zones
    assert [z.id for z in zones] == ["driveway", zone_id]
    drawn = zones[1]
    assert drawn.kind == "no_parking"
    assert drawn.grace_s == 45
    assert len(drawn.polygon) == len(corners)
    for (x, y), (want_x, want_y) in zip(drawn.polygon, corners, strict=True):
        assert abs(x - want_x) < 0.01 and abs(y - want_y) < 0.01, (drawn.polygon, corners)
    # The zone the page did not touch keeps every key, including those the form does not show.
    assert zones[0].polygon == [tuple(p) for p in DRIVEWAY]
    assert zones[0].stationary_window_s == 1 and zones[0].grace_s == 2


def test_operator_sees_an_alert_live_and_acknowledges_it(
    start_node: Any, broker: MosquittoBroker, page: Any
) -> None:
    platform = Subscriber(broker.port, f"{PREFIX}/#", client_id="platform")
    try:
        # A grace long enough for the page to be open before the node raises the alert.
        node = start_node(grace=8)
        page.goto(f"{node.url}/operator")
        page.evaluate("window.loadedOnce = 'yes'")
        page.wait_for_selector("#live:not(.lost)", timeout=15_000)
        page.wait_for_selector(".chip.online[data-camera=forecourt]", timeout=30_000)
        rows = page.locator("li.alert[data-kind=fire_lane_blocked]")
        assert rows.count() == 0, "the alert was raised before the page was open"

        rows.first.wait_for(timeout=60_000)
        row = page.locator("li.alert[data-kind=fire_lane_blocked]").first
        assert page.evaluate("window.loadedOnce") == "yes", "the page reloaded"
        assert "state-red" in (row.get_attribute("class") or "")
        assert row.evaluate("e => getComputedStyle(e).borderLeftColor") == RED
        assert int(page.get_attribute("body", "data-alarms") or 0) >= 1  # flash and beep
        alert_id = row.get_attribute("data-alert-id")
        assert "A-03" in row.inner_text() and "5号楼 消防通道" in row.inner_text()
        assert "消防通道占用" in row.inner_text()
        screenshot(page, "operator-raised.png")

        page.fill("#token", TOKEN)
        row.locator("button[data-action=ack]").click()
        acked = page.locator(f"li.alert[data-alert-id='{alert_id}'][data-state=acknowledged]")
        acked.wait_for(timeout=10_000)
        assert "state-yellow" in (acked.get_attribute("class") or "")
        assert acked.evaluate("e => getComputedStyle(e).borderLeftColor") == YELLOW
        assert platform.wait_for(find(id=alert_id, event="acknowledged"), 10), node.process.text()
        # Let the flash of the new alert end before the picture is taken.
        page.wait_for_function("document.getAnimations().length === 0", timeout=15_000)
        screenshot(page, "operator.png")
    finally:
        platform.close()
