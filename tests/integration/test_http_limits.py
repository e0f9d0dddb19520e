"""The node's HTTP side under abuse, against `edge run` in its own process (real uvicorn, real
sockets, a real Mosquitto): slow connections by the thousand, chunked bodies without a token,
foreign Host and Origin headers, and paths that try to forge log lines.

The node runs with RLIMIT_NOFILE 1024 (soft and hard, as on the box of issue 12) and logs to a
rotated `--log-file`, which the tests read. `pytest tests/integration/test_http_limits.py -s`
prints the figures docs/reliability.md quotes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.integration.broker import MosquittoBroker, Subscriber, find_mosquitto, free_port
from tests.integration.node import find

pytestmark = pytest.mark.integration

TOKEN = "http-limits-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PREFIX = "grid/xizhen/gate-1"
NOFILE = 1024
MIB = 2**20

CONFIG = """\
site: {{id: xizhen, name: 西镇社区}}
node: {{id: gate-1}}
mqtt: {{url: "{mqtt}"}}
models: {{dir: "{models}", detector: yolov8n_int8.onnx, threads: 1}}
storage: {{dir: var}}
api: {{host: {host}, port: {port}, token: {token}}}
sensors:
  - {{id: smoke-1, kind: smoke, location: 5号楼 1层, grid: A-05,
     mqtt: {{topic: zigbee2mqtt/smoke-1, format: zigbee2mqtt}}}}
"""


# `python -m edge ...` with RLIMIT_NOFILE set to 1024, soft and hard, before the node starts.
LIMITED = (
    "import resource, runpy, sys; "
    f"resource.setrlimit(resource.RLIMIT_NOFILE, ({NOFILE}, {NOFILE})); "
    "sys.argv[0] = 'edge'; runpy.run_module('edge', run_name='__main__', alter_sys=True)"
)


class Edge:
    """`python -m edge --log-file ... run` with RLIMIT_NOFILE 1024."""

    def __init__(
        self, tmp: Path, broker: MosquittoBroker, models: Path, host: str = "127.0.0.1"
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.config = tmp / "site.yaml"
        self.config.write_text(
            CONFIG.format(mqtt=broker.url, models=models, host=host, port=self.port, token=TOKEN),
            encoding="utf-8",
        )
        self.log = tmp / "log" / "node.log"
        self.out = (tmp / "node.out").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LIMITED, "--log-file", str(self.log), "--log-max-mib", "5",
             "--log-backups", "2", "run", "--config", str(self.config)],
            stdout=self.out, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )  # fmt: skip

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8") if self.log.exists() else ""

    def lines(self) -> list[str]:
        return self.text().splitlines()

    def status(self, name: str) -> int:
        """A line of /proc/<pid>/status in kB (VmHWM: peak resident memory)."""
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(rf"^{name}:\s+(\d+) kB", text, re.M)[1])  # type: ignore[index]

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def end(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)
        finally:
            self.out.close()


def answers(url: str, timeout: float = 1.0) -> bool:
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    executable = find_mosquitto()
    if executable is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto); CI installs it")
    instance = MosquittoBroker(executable, tmp_path_factory.mktemp("broker"))
    instance.start()
    try:
        yield instance
    finally:
        instance.kill()


@contextlib.contextmanager
def running(edge: Edge) -> Iterator[Edge]:
    try:
        deadline = time.monotonic() + 60
        while not answers(f"{edge.base}/healthz"):
            assert edge.proc.poll() is None, edge.text()
            assert time.monotonic() < deadline, f"the node's api did not answer:\n{edge.text()}"
            time.sleep(0.2)
        yield edge
    finally:
        code = edge.end()
        assert code == 0, edge.text()


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory, broker: MosquittoBroker, models_dir: Path
) -> Iterator[Edge]:
    with running(Edge(tmp_path_factory.mktemp("node"), broker, models_dir)) as edge:
        yield edge


# --- 1. thousands of slow connections ---------------------------------------------------------

SLOW_HEAD = b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


@dataclass
class Flood:
    """Keeps up to `count` connections open that send a request header a byte every few
    seconds and never finish it; reopens (at a bounded rate) those the server closes."""

    port: int
    count: int
    duration_s: float
    reopen_per_s: float = 300.0
    connects: int = 0
    closed_by_server: int = 0
    failed_connects: int = 0
    held_max: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def _connect(self, sel: selectors.BaseSelector) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(0.5)
        try:
            s.connect(("127.0.0.1", self.port))
            s.sendall(SLOW_HEAD)
        except OSError:
            s.close()
            self.failed_connects += 1
            return
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        self.connects += 1

    def run(self) -> None:
        sel = selectors.DefaultSelector()
        deadline = time.monotonic() + self.duration_s
        next_drip = time.monotonic() + 3.0
        budget = float(self.count)  # the first `count` connect at once, then at reopen_per_s
        last = time.monotonic()
        try:
            while time.monotonic() < deadline and not self.stop.is_set():
                now = time.monotonic()
                budget = min(float(self.count), budget + (now - last) * self.reopen_per_s)
                last = now
                while len(sel.get_map()) < self.count and budget >= 1.0:
                    self._connect(sel)
                    budget -= 1.0
                self.held_max = max(self.held_max, len(sel.get_map()))
                for key, _ in sel.select(timeout=0.05):
                    s = key.fileobj
                    assert isinstance(s, socket.socket)
                    with contextlib.suppress(OSError):
                        if s.recv(4096):
                            continue  # (a response: not expected for an unfinished header)
                    sel.unregister(s)
                    s.close()
                    self.closed_by_server += 1
                if time.monotonic() >= next_drip:  # one more byte of the header, never its end
                    next_drip += 3.0
                    for key in list(sel.get_map().values()):
                        with contextlib.suppress(OSError):
                            key.fileobj.send(b"a")  # type: ignore[union-attr]
        finally:
            for key in list(sel.get_map().values()):
                key.fileobj.close()  # type: ignore[union-attr]
            sel.close()


@dataclass
class Probe:
    """What an operator and the platform see while the flood lasts: /healthz answers, the
    node's open files, and a smoke alarm sent during the flood reaching the platform."""

    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    open_files: list[int] = field(default_factory=list)
    alarm_after_s: float | None = None

    def watch(
        self, node: Edge, flood: threading.Thread, sensor: mqtt.Client, platform: Subscriber
    ) -> None:
        started = time.monotonic()
        alarm_sent = 0.0
        while flood.is_alive():
            t0 = time.monotonic()
            try:
                res = httpx.get(f"{node.base}/healthz", timeout=5.0)
                assert res.json() == {"ok": True}
                self.latencies.append(time.monotonic() - t0)
            except (httpx.TransportError, AssertionError) as exc:
                self.failures.append(f"{t0 - started:.1f}s {exc!r}")
            self.open_files.append(node.open_files())
            if not alarm_sent and t0 - started > 8.0:  # the flood is at its height
                sensor.publish("zigbee2mqtt/smoke-1", b'{"smoke": true}', qos=1)
                alarm_sent = time.monotonic()
            raised = find(kind="smoke", event="raised")
            if alarm_sent and self.alarm_after_s is None and raised(platform.messages):
                self.alarm_after_s = time.monotonic() - alarm_sent
            time.sleep(0.5)


def test_two_thousand_slow_connections_leave_the_node_working(
    node: Edge, broker: MosquittoBroker
) -> None:
    platform = Subscriber(broker.port, f"{PREFIX}/alerts/#", client_id="platform")
    sensor = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="zigbee2mqtt")
    sensor.connect(broker.host, broker.port)
    sensor.loop_start()
    try:
        sensor.publish("zigbee2mqtt/smoke-1", b'{"smoke": false}', qos=1).wait_for_publish(5)
        broker_log_before = len(broker.log())
        log_before = len(node.lines())
        flood = Flood(node.port, count=2000, duration_s=25.0)
        attacker = threading.Thread(target=flood.run, name="flood", daemon=True)
        attacker.start()
        probe = Probe()
        probe.watch(node, attacker, sensor, platform)
        attacker.join()
        metrics = httpx.get(f"{node.base}/metrics", timeout=5.0).text
        added = node.lines()[log_before:]
        broker_added = broker.log()[broker_log_before:]
    finally:
        sensor.loop_stop()
        sensor.disconnect()
        platform.close()
    latencies = sorted(probe.latencies)
    print(
        f"\nflood: {flood.connects} connections opened (up to {flood.held_max} held at once), "
        f"{flood.closed_by_server} closed by the node, {flood.failed_connects} connects failed; "
        f"/healthz {len(latencies)} answered, {len(probe.failures)} failed, median "
        f"{1000 * latencies[len(latencies) // 2]:.0f} ms, max {1000 * latencies[-1]:.0f} ms; "
        f"node open files max {max(probe.open_files)} of {NOFILE}; smoke alarm on MQTT after "
        f"{probe.alarm_after_s or float('nan'):.2f} s; {len(added)} log lines added"
    )
    # Really about 2,000 at once, reopened: the node closes some while the flood opens the last
    # ones, so the count held at one moment can stop a few short of 2,000 (1,990 seen in CI).
    assert flood.held_max >= 1900 and flood.connects >= 2000 + 1000
    assert probe.failures == [], probe.failures
    assert latencies[-1] < 3.0
    # Open files stay far below the limit (200 connections + backlog + the node's own).
    assert max(probe.open_files) < NOFILE // 2, max(probe.open_files)
    # The smoke alarm went through the node's MQTT link during the flood; the link never broke.
    assert probe.alarm_after_s is not None, node.text()[-3000:]
    assert "New client connected" not in broker_added and "disconnect" not in broker_added.lower()
    # The log did not explode: the connection guard sums up what it dropped.
    assert len(added) < 30, "\n".join(added[:50])
    assert not any("Too many open files" in line for line in added)
    assert any("http connections:" in line for line in added)
    dropped = re.findall(r'gs_api_connections_dropped_total\{reason="(\w+)"\} (\d+)', metrics)
    assert dict(dropped).get("evicted", "0") != "0", metrics


# --- 2. chunked bodies: the token before the body, the limit as bytes arrive -------------------


@dataclass
class Upload:
    status: int
    sent_when_answered: int
    detail: str


def chunked_upload(port: int, path: str, total: int, headers: str = "") -> Upload:
    """POST a chunked body of `total` bytes while reading the response, as a client that does
    not wait for an answer would; how much of the body was sent when the answer came."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Transfer-Encoding: chunked\r\n{headers}\r\n".encode()
    )
    sent = 0
    answered = threading.Event()
    piece = 64 * 1024
    frame = f"{piece:x}\r\n".encode() + b"x" * piece + b"\r\n"

    def pump() -> None:
        nonlocal sent
        with contextlib.suppress(OSError):
            while sent < total and not answered.is_set():
                sock.sendall(frame)
                sent += piece
            if not answered.is_set():
                sock.sendall(b"0\r\n\r\n")

    sender = threading.Thread(target=pump, daemon=True)
    sender.start()
    response = b""
    with contextlib.suppress(OSError):
        while not response.endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            response += data
    at_answer = sent
    answered.set()
    sender.join(30)
    sock.close()
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return Upload(status, at_answer, json.loads(body)["detail"] if body else "")


def _print_upload(what: str, upload: Upload, peak_before_kb: int, peak_after_kb: int) -> None:
    print(
        f"\n50 MiB chunked {what}: {upload.status} after "
        f"{upload.sent_when_answered / MIB:.1f} MiB sent; node peak RSS "
        f"{peak_before_kb / 1024:.1f} -> {peak_after_kb / 1024:.1f} MiB"
    )


def test_a_chunked_body_without_a_token_is_refused_before_it_is_read(node: Edge) -> None:
    peak_before = node.status("VmHWM")
    upload = chunked_upload(node.port, "/api/config/validate", 50 * MIB)
    time.sleep(0.5)
    peak_after = node.status("VmHWM")
    _print_upload("without a token", upload, peak_before, peak_after)
    assert upload.status == 401 and upload.detail == "a bearer token is required"
    assert upload.sent_when_answered < 10 * MIB  # answered at once, not after the body
    assert peak_after - peak_before < 4 * 1024, (peak_before, peak_after)  # kB
    assert answers(f"{node.base}/healthz")


def test_a_chunked_body_over_the_limit_with_the_token_gets_413(node: Edge) -> None:
    peak_before = node.status("VmHWM")
    upload = chunked_upload(
        node.port, "/api/config/validate", 50 * MIB, headers=f"Authorization: Bearer {TOKEN}\r\n"
    )
    peak_after = node.status("VmHWM")
    _print_upload("with the token", upload, peak_before, peak_after)
    assert upload.status == 413 and "too large" in upload.detail
    assert upload.sent_when_answered < 12 * MIB  # 2 MiB taken in, the rest never read
    assert peak_after - peak_before < 16 * 1024, (peak_before, peak_after)
    # A declared length over the limit is refused on the headers alone; under it, served.
    res = httpx.post(
        f"{node.base}/api/config/validate", content=b"x" * (3 * MIB), headers=AUTH, timeout=10
    )
    assert res.status_code == 413
    res = httpx.post(
        f"{node.base}/api/config/validate", json={"yaml": "site: {id: x}\n"}, headers=AUTH
    )
    assert res.status_code == 200 and res.json()["ok"] is False


# --- 3. Host and Origin -----------------------------------------------------------------------


def test_foreign_host_and_origin_are_refused(node: Edge) -> None:
    with httpx.Client(base_url=node.base, timeout=5.0) as http:
        assert http.get("/api/status").status_code == 200  # reads open on loopback
        for host in (f"localhost:{node.port}", "127.0.0.1", f"[::1]:{node.port}"):
            assert http.get("/api/status", headers={"Host": host}).status_code == 200, host
        # A DNS-rebinding page: its own name in Host.
        res = http.get("/api/alerts", headers={"Host": f"attacker.example:{node.port}"})
        assert res.status_code == 421
        assert "attacker.example" in res.json()["detail"]
        assert "api.allowed_hosts" in res.json()["detail"]
        assert http.get("/metrics", headers={"Host": "192.168.1.9"}).status_code == 421
        # /healthz answers probes by any name.
        assert http.get("/healthz", headers={"Host": "probe.example"}).status_code == 200
        # A page elsewhere, even with the token: refused before the token is looked at.
        evil = {**AUTH, "Origin": "http://attacker.example"}
        res = http.post("/api/config/validate", json={"yaml": ""}, headers=evil)
        assert res.status_code == 403 and "attacker.example" in res.json()["detail"]
        assert http.get("/api/status", headers={"Origin": "null"}).status_code == 403
        same = {"Origin": f"http://127.0.0.1:{node.port}"}
        assert http.get("/api/status", headers=same).status_code == 200


# --- 4. paths that try to forge log lines -----------------------------------------------------


def test_a_path_with_newline_and_nul_stays_on_one_log_line(node: Edge) -> None:
    forged = "2026-01-01 00:00:00,000 ERROR edge.app: FORGED alarm silenced"
    path = "/api/nothing%0a" + forged.replace(" ", "%20") + "%0d%00%1b[31mend%e2%80%a8x"
    res = httpx.get(f"{node.base}{path}", timeout=5.0)
    assert res.status_code == 404
    deadline = time.monotonic() + 5
    while "FORGED" not in node.text() and time.monotonic() < deadline:
        time.sleep(0.1)
    raw = node.log.read_bytes()
    assert b"\x00" not in raw and b"\x1b" not in raw and "\u2028".encode() not in raw
    (line,) = [x for x in node.lines() if "FORGED" in x]
    assert " INFO edge.api.app: http GET /api/nothing\\n2026-01-01 00:00:00,000 ERROR" in line
    assert line.endswith(" status=404 ms=" + line.split(" ms=")[1])
    assert "\\r\\x00\\x1b[31mend\\u2028x status=404" in line
    assert not any(x.startswith("2026-01-01") for x in node.lines())


def test_the_node_log_is_a_capped_rotating_file(node: Edge) -> None:
    """--log-file took the log: stdout and stderr got nothing but what logging cannot route."""
    assert "open files limit 1024 (hard limit 1024)" in node.text()
    assert "at most 200 connections" in node.text()
    assert node.log.stat().st_size < 5 * MIB
    out = node.out.name
    assert Path(out).read_text(encoding="utf-8", errors="replace").strip() == ""


# --- 5. listening beyond loopback --------------------------------------------------------------


def test_beyond_loopback_reads_need_the_token_and_names_must_be_listed(
    tmp_path: Path, broker: MosquittoBroker, models_dir: Path
) -> None:
    with (
        running(Edge(tmp_path, broker, models_dir, host="0.0.0.0")) as edge,
        httpx.Client(base_url=edge.base, timeout=5.0) as http,
    ):
        res = http.get("/api/status")
        assert res.status_code == 401 and res.headers["www-authenticate"] == "Bearer"
        assert http.get("/api/alerts").status_code == 401
        assert http.get("/api/status", headers=AUTH).status_code == 200
        assert http.get(f"/api/status?token={TOKEN}").status_code == 200  # <img>, EventSource
        assert http.get("/healthz").status_code == 200 and http.get("/operator").status_code == 200
        # By address: any (a rebinding page has a name of its own); by name: only when listed.
        lan = {**AUTH, "Host": f"10.1.2.3:{edge.port}"}
        assert http.get("/api/status", headers=lan).status_code == 200
        named = {**AUTH, "Host": f"gate-1.example:{edge.port}"}
        assert http.get("/api/status", headers=named).status_code == 421
        # Listing the name applies as soon as the config is saved (no restart).
        doc = http.get("/api/config", headers=AUTH).json()
        text = doc["yaml"].replace("api: {", "api: {allowed_hosts: [gate-1.example], ")
        res = http.put("/api/config", json={"yaml": text, "version": doc["version"]}, headers=AUTH)
        assert res.status_code == 200 and res.json()["ok"], res.text
        assert http.get("/api/status", headers=named).status_code == 200
        assert http.get("/api/status", headers=lan).status_code == 421  # a list is exact
