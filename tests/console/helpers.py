"""A console in the test's process, a node stand-in that publishes, and waiting for the DB."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grid_console.app import Console
from grid_console.cases.models import Case
from grid_console.ingest.broker import parse_broker_url
from grid_console.ingest.models import AlertEvent
from grid_console.settings import Settings
from tests.console.conftest import Backend
from tests.integration.broker import HOST, MosquittoBroker, free_port

T = TypeVar("T")


def make_console(
    tmp_path: Path,
    broker: MosquittoBroker,
    backend: Backend,
    *,
    client_id: str = "console-1",
    share_group: str | None = None,
    key_file: Path | None = None,
    data_dir: str = "console",
) -> Console:
    settings = Settings(
        data_dir=tmp_path / data_dir,
        broker=parse_broker_url(broker.url),
        db_url=backend.url,
        client_id=client_id,
        share_group=share_group,
        command_key_file=key_file,
    )
    return Console(settings)


def started(console: Console) -> Console:
    console.start()
    assert console.mqtt.wait_subscribed(10), "console did not subscribe"
    return console


def wait_until(check: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class NodeStandIn:
    """Publishes like a node: QoS 1, each message acknowledged by the broker before the next."""

    def __init__(self, broker: MosquittoBroker, client_id: str = "node-stand-in") -> None:
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self._client.connect(HOST, broker.port)
        self._client.loop_start()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)
        assert info.is_published(), f"broker did not acknowledge {topic}"

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def count_events(console: Console) -> int:
    with Session(console.engine) as session:
        return int(session.execute(select(func.count()).select_from(AlertEvent)).scalar_one())


def case_of(console: Console, alert_id: str) -> Case | None:
    with Session(console.engine) as session:
        return session.execute(select(Case).where(Case.alert_id == alert_id)).scalar_one_or_none()


class ConsoleProcess:
    """`python -m grid_console serve` as its own process, as an operator would run it."""

    def __init__(
        self,
        tmp_path: Path,
        broker: MosquittoBroker,
        backend: Backend,
        *,
        client_id: str = "console-1",
        key_file: Path | None = None,
        name: str = "console",
        extra: Sequence[str] = (),
    ) -> None:
        self.port = free_port()
        self.log_path = tmp_path / f"{name}.log"
        args = [sys.executable, "-m", "grid_console", "serve",
                "--data-dir", str(tmp_path / "console"), "--broker", broker.url,
                "--topic-root", "grid", "--port", str(self.port), "--client-id", client_id,
                *extra]  # fmt: skip
        if backend.url:
            args += ["--db", backend.url]
        if key_file is not None:
            args += ["--command-key-file", str(key_file)]
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as reply:
                return dict(json.load(reply))
        except OSError:
            return None

    def wait_ready(self, timeout: float = 60.0) -> None:
        def ready() -> bool:
            assert self.proc.poll() is None, f"console exited:\n{self.text()}"
            health = self.health()
            return health is not None and health["mqtt"] == "connected"

        wait_until(ready, timeout, "the console to be ready")
        time.sleep(0.3)  # its subscriptions, sent right after the connect

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.base}{path}", timeout=10) as reply:
            return json.load(reply)

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"{self.base}{path}", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return reply.status, json.load(reply)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def end(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(30)
        self._log.close()
        return code
