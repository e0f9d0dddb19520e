"""What the console's page tests share: a real console served by uvicorn on a free port, headless
Chromium (Debian's, driven by Playwright), and the check that no page shows untranslated text."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from grid_console.app import Console
from tests.console.helpers import wait_until
from tests.integration.broker import free_port

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
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 360, "height": 740}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# An i18n key or a server code shown as it is: "case.grid", "false_alarm", "on_site".
_KEY_LIKE = re.compile(r"\b[a-z]+(?:\.[a-z_]+)+\b|\b[a-z]+_[a-z_]+\b")


class Served:
    """The console's FastAPI app under a real uvicorn, in a thread of the test's process."""

    def __init__(self, console: Console) -> None:
        self.port = free_port()
        config = uvicorn.Config(console.app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_until(lambda: self._server.started, 15, "uvicorn to start")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(15)


def launch_browser() -> Iterator[Any]:
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


def tab_opener(browser: Any, errors: list[str], contexts: list[Any]) -> Callable[..., Any]:
    def open_tab(size: dict[str, int] = DESKTOP) -> Any:
        phone = size["width"] < 600
        context = browser.new_context(
            viewport=size, locale="zh-CN", has_touch=phone, is_mobile=phone
        )
        contexts.append(context)
        tab = context.new_page()
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        return tab

    return open_tab


def sign_in(tab: Any, base: str, username: str, password: str, *, timeout_ms: int = 15_000) -> None:
    """Log in on the login page as a person does, and wait for the inbox it lands on."""
    tab.goto(f"{base}/login")
    tab.fill("#username", username)
    tab.fill("#password", password)
    tab.click("#submit")
    tab.wait_for_url(f"{base}/inbox", timeout=timeout_ms)


def assert_translated(tab: Any) -> None:
    """Every i18n key in both languages, and no key or server code on the page as it is."""
    missing = tab.evaluate(
        """() => {
        const zh = Object.keys(I18N.zh), en = Object.keys(I18N.en);
        return zh.filter(k => !en.includes(k)).concat(en.filter(k => !zh.includes(k)));
    }"""
    )
    assert missing == [], f"keys in one language only: {missing}"
    text = tab.locator("body").inner_text()
    leaked = _KEY_LIKE.findall(text)
    assert leaked == [], f"untranslated text on {tab.url}: {leaked}"
    options = tab.evaluate("() => [...document.querySelectorAll('option')].map(o => o.textContent)")
    leaked = [o for o in options if _KEY_LIKE.search(o)]
    assert leaked == [], f"untranslated options on {tab.url}: {leaked}"


def no_overflow(tab: Any) -> None:
    """Nothing wider than the screen: a phone page must not scroll sideways."""
    width = tab.evaluate("() => document.documentElement.scrollWidth")
    assert width <= tab.viewport_size["width"], f"{tab.url} is {width} px wide"
