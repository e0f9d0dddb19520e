"""A console in the test's process, a node stand-in that publishes, and waiting for the DB."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grid_console.app import Console
from grid_console.cases.models import Case
from grid_console.ingest.broker import parse_broker_url
from grid_console.ingest.models import AlertEvent
from grid_console.per_node import PerNodeFiles
from grid_console.settings import Settings
from tests.console.conftest import Backend
from tests.integration.broker import HOST, MosquittoBroker, free_port

T = TypeVar("T")

ADMIN_PASSWORD = "admin-test-password-1"


def login(client: TestClient, username: str = "admin", password: str = ADMIN_PASSWORD) -> str:
    reply = client.post("/api/login", json={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["token"])


def api_as(console: Console, username: str = "admin", password: str = ADMIN_PASSWORD) -> TestClient:
    """A TestClient that sends `username`'s bearer token with every request."""
    client = TestClient(console.app)
    client.headers["Authorization"] = f"Bearer {login(client, username, password)}"
    return client


def make_console(
    tmp_path: Path,
    broker: MosquittoBroker,
    backend: Backend,
    *,
    client_id: str = "console-1",
    share_group: str | None = None,
    key_file: Path | None = None,
    key_files: PerNodeFiles | None = None,  # per-node keys; key_file is every node's
    data_dir: str = "console",
    deadline_poll_s: float = 1.0,
) -> Console:
    settings = Settings(
        data_dir=tmp_path / data_dir,
        broker=parse_broker_url(broker.url),
        db_url=backend.url,
        client_id=client_id,
        share_group=share_group,
        command_key_files=key_files or PerNodeFiles(default=key_file),
        admin_password=ADMIN_PASSWORD,
        cookie_secure=False,
        deadline_poll_s=deadline_poll_s,
    )
    return Console(settings, announce=lambda _: None)


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

    def __init__(
        self,
        broker: MosquittoBroker,
        client_id: str = "node-stand-in",
        *,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if username is not None:
            self._client.username_pw_set(username, password)
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
        port: int | None = None,
        broker_url: str | None = None,  # another listener of `broker` (mqtts://...)
        env: dict[str, str] | None = None,
    ) -> None:
        # A restart passes the port of the console it replaces: pages and links keep working.
        self.port = port or free_port()
        self.log_path = tmp_path / f"{name}.log"
        args = [sys.executable, "-m", "grid_console", "serve",
                "--data-dir", str(tmp_path / "console"), "--broker", broker_url or broker.url,
                "--topic-root", "grid", "--port", str(self.port), "--client-id", client_id,
                *extra]  # fmt: skip
        if backend.url:
            args += ["--db", backend.url]
        if key_file is not None:
            args += ["--command-key-file", str(key_file)]
        self._log = self.log_path.open("ab")
        env = {**os.environ, "GRID_CONSOLE_ADMIN_PASSWORD": ADMIN_PASSWORD, **(env or {})}
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self._token: str | None = None

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

    def token(self) -> str:
        if self._token is None:
            status, reply = self.post(
                "/api/login", {"username": "admin", "password": ADMIN_PASSWORD}, auth=False
            )
            assert status == 200, reply
            self._token = str(reply["token"])
        return self._token

    def get(self, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.base}{path}", headers={"Authorization": f"Bearer {self.token()}"}
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.load(reply)

    def post(self, path: str, body: dict[str, Any], *, auth: bool = True) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        request = urllib.request.Request(
            f"{self.base}{path}", data=json.dumps(body).encode(), method="POST", headers=headers
        )
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


def seed(
    console: Console,
    *,
    grids: Sequence[tuple[str, str | None]] = (),
    people: Sequence[tuple[str, str, Sequence[str]]] = (),
    password: str = "patrol-password-1",
) -> None:
    """Grids (id, parent) and people (name, role, grids), each with `password`."""
    from grid_console.auth.roles import Role  # noqa: PLC0415
    from grid_console.db.session import transaction  # noqa: PLC0415
    from grid_console.people.models import Grid  # noqa: PLC0415
    from grid_console.people.service import add_person  # noqa: PLC0415

    def work(session: Session) -> None:
        for grid_id, _ in grids:
            session.add(Grid(id=grid_id, name=f"网格 {grid_id}"))
        session.flush()
        for grid_id, parent in grids:
            if parent:
                found = session.get(Grid, grid_id)
                assert found is not None
                found.parent_id = parent
        for name, role, theirs in people:
            add_person(session, username=name, role=Role(role), now=datetime.now(UTC),
                       password=password, grids=theirs)  # fmt: skip

    transaction(console.engine, work)
