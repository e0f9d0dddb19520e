"""The newcomer's path: `edge demo` as the README says, an embedded broker, the real footage."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration


def test_the_demo_prints_its_pages_first_and_raises_alerts(
    tmp_path: Path, data_dir: Path, models_dir: Path
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "--log-level", "WARNING", "demo",
         "--data-dir", str(data_dir), "--models-dir", str(models_dir),
         "--duration", "90", "--workdir", str(tmp_path / "demo")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not any(" RAISED " in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert any(" RAISED " in line for line in lines), "".join(lines)
        # The pages come first, with the token to paste.
        assert lines[0].startswith("demo: operator page   http://127.0.0.1:")
        assert lines[1].startswith("demo: installer page  http://127.0.0.1:")
        token = lines[2].rsplit(" ", 1)[-1].strip()
        assert len(token) >= 32
        operator = re.search(r"(http://\S+/operator)", lines[0])
        assert operator is not None
        with urllib.request.urlopen(operator.group(1), timeout=10) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
        # A snapshot link that opens as printed.
        raised = next(line for line in lines if " RAISED " in line)
        link = re.search(r"snapshot=(http://\S+\.jpg)", raised)
        assert link is not None, raised
        with urllib.request.urlopen(link.group(1), timeout=10) as jpeg:
            assert jpeg.read(2) == b"\xff\xd8"
        # The grid console runs beside the node and the alert is a case there (issue 16).
        console = re.search(r"grid console +(http://\S+/)", lines[3])
        login = re.search(r"console login +(\w+) / (\S+)", lines[4])
        assert console is not None and login is not None, lines[3:5]
        alert_id = re.search(r" id=(\w+)", raised)
        assert alert_id is not None
        credentials = {"username": login[1], "password": login[2]}
        token = httpx.post(console.group(1) + "api/login", json=credentials, timeout=10).json()
        bearer = {"Authorization": f"Bearer {token['token']}"}

        def case_ids() -> list[str]:
            cases = httpx.get(console.group(1) + "api/cases", headers=bearer, timeout=10)
            return [str(c["alert_id"]) for c in cases.json()["cases"]]

        deadline = time.monotonic() + 10
        while alert_id[1] not in case_ids() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert alert_id[1] in case_ids()
        # The node's key is the demo's own, made once and kept private.
        key = tmp_path / "demo" / "command.key"
        assert key.stat().st_mode & 0o077 == 0 and len(key.read_text().strip()) >= 32
    finally:
        proc.terminate()  # SIGTERM, as `kill` or a service manager ends it
        code = proc.wait(30)
    # ... and it takes its broker and console with it, not leaving them running orphaned.
    assert code == 0, code
    found = re.search(r":(\d+)/", console.group(1))
    assert found is not None
    port = int(found[1])
    deadline = time.monotonic() + 10
    while _answers(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _answers(port), "the demo's grid console still runs after the demo ended"


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True
