"""Issue 13: a node started without an API token refuses writes and says how to fix it; a token
added to the site file applies on a reload (SIGHUP), with no restart."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from grid_contract.signing import generate_key
from tests.integration.broker import MosquittoBroker, free_port
from tests.integration.node import SENSOR_NODE_SITE, NodeProcess

# A write: acknowledging an alert (this node has none, so an accepted token gets 404).
ACK = "/api/alerts/01KDVDRBN00000000000000001/ack"


def wait_until(check: object, timeout: float = 30.0) -> None:
    assert callable(check)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not true within {timeout} s")


def answered(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.integration
def test_a_token_added_to_the_file_applies_on_sighup(
    broker: MosquittoBroker, models_dir: Path, tmp_path: Path
) -> None:
    api_port = free_port()
    config = tmp_path / "site.yaml"
    text = SENSOR_NODE_SITE.format(
        port=broker.port, models=models_dir, storage=tmp_path / "var", api_port=api_port,
        key=generate_key(),
    )  # fmt: skip
    config.write_text(text, encoding="utf-8")
    node = NodeProcess(config, tmp_path / "node.log")
    base = f"http://127.0.0.1:{api_port}"
    try:
        wait_until(lambda: answered(base + "/healthz"))
        refused = httpx.post(base + ACK, timeout=5)
        assert refused.status_code == 403
        # The refusal says what to do, in one sentence: where the token goes and how to apply it.
        detail = refused.json()["detail"]
        assert "api.token" in detail and "edge keygen" in detail and "kill -HUP" in detail

        token = generate_key()
        (tmp_path / "api.token").write_text(token + "\n", encoding="utf-8")
        config.write_text(
            text.replace(f"api: {{port: {api_port}}}",
                         f"api: {{port: {api_port}, token: {{file: api.token}}}}"),
            encoding="utf-8",
        )  # fmt: skip
        node.proc.send_signal(signal.SIGHUP)
        headers = {"Authorization": f"Bearer {token}"}

        def accepted() -> bool:
            r = httpx.post(base + ACK, headers=headers, timeout=10)
            return r.status_code == 404

        wait_until(accepted)
        assert "SIGHUP: reloaded" in node.text()
        wrong = httpx.post(base + ACK, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        # A broken file on the next SIGHUP is refused, and the running config (and token) kept.
        config.write_text("site: [", encoding="utf-8")
        node.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "SIGHUP: config refused" in node.text())
        assert httpx.post(base + ACK, headers=headers, timeout=10).status_code == 404
    finally:
        assert node.end() == 0
