"""`edge demo`: a ready site on sample footage, an embedded broker, alerts shown as they arrive.

The demo is the live node (`edge run`), not a replay: files play at their own speed as if they
were cameras, so what it prints is what a platform subscriber would receive.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.app import Node
from edge.clock import SystemClock
from edge.config.loader import ConfigError, load_config
from edge.demo_console import (
    DemoConsole,
    LocalMosquitto,
    console_missing,
    find_mosquitto,
    free_port,
)
from edge.mqtt.link import parse_broker_url
from grid_contract.signing import generate_key

log = logging.getLogger(__name__)

# Grace periods are short because the parking clip is a time-lapse (a day in 8 s) and the
# other two are stills; see config/examples/ for the annotated, realistic versions.
DEMO_CONFIG = """\
site: {{id: demo, name: 演示社区}}
node: {{id: demo-node}}
mqtt: {{url: "{broker}"}}
models: {{dir: "{models}", detector: yolov8n_int8.onnx, threads: 2}}
storage: {{dir: "{workdir}"}}
commands: {{key: {{file: command.key}}}}
api: {{port: {api_port}, token: {{file: api.token}}}}
cameras:
  - id: lot
    source: "{data}/videos/parking_lot_cctv_timelapse.mp4"
    detect_fps: 5
    grid: A-01
    location: 地面停车场 前排
    zones:
      - {{id: front-row, kind: no_parking, grace_s: 2, stationary_window_s: 0.6,
         clear_after_s: 1, update_every_s: 2,
         polygon: [[0.0, 0.62], [0.78, 0.62], [0.78, 0.9], [0.0, 0.9]]}}
  - id: forecourt
    source: "{data}/images/parking/forecourt_parked_cars_qengineering.jpg"
    detect_fps: 2
    grid: A-02
    location: 办公楼前 消防通道
    zones:
      - {{id: driveway, kind: fire_lane, grace_s: 3, stationary_window_s: 1,
         polygon: [[0.42, 0.3], [0.62, 0.3], [0.72, 1.0], [0.45, 1.0]]}}
  - id: lift-2
    source: "{data}/images/elevator_ebike/etoilesha_ebike_2024-01-01_12-07-27.png"
    detect_fps: 5
    grid: A-03
    location: 3号楼 电梯2
    zones:
      - {{id: car, kind: lift, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}}
"""


class EmbeddedBroker:
    """amqtt on a loopback port in a background thread, for a demo with no broker around."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the embedded MQTT broker did not start")

    def _run(self) -> None:
        # amqtt is the optional `demo` extra; only the demo without a broker needs it.
        from amqtt.broker import Broker  # noqa: PLC0415

        asyncio.set_event_loop(self._loop)
        config = {"listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}}}
        broker = Broker(config, loop=self._loop)
        self._loop.run_until_complete(broker.start())
        self._ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)


def _show(msg: mqtt.MQTTMessage, base: str) -> None:
    try:
        data: dict[str, Any] = json.loads(msg.payload)
    except ValueError:
        return
    if data.get("schema") == "grid-sentinel.alert/1":
        src = data["source"]
        evidence = str((data.get("evidence") or {}).get("url", "-"))
        if evidence.startswith("/"):
            evidence = base + evidence  # a link the terminal can open
        print(
            f"{data['updated_at'][11:19]} {data['event'].upper():8} {data['kind']:18} "
            f"{src['camera']}/{src['zone']} grid={data['grid']} dwell={data['dwell_s']}s "
            f"id={data['id']} seq={data['seq']} snapshot={evidence}",
            flush=True,
        )
    else:
        print(f"{msg.topic}: {data.get('state')}", flush=True)


def _subscribe(host: str, port: int, prefix: str, base: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="gs-demo-viewer")
    client.on_message = lambda _c, _u, m: _show(m, base)
    client.connect(host, port)
    client.subscribe(f"{prefix}/#", qos=1)
    client.loop_start()
    return client


def _broker(
    broker_url: str | None, workdir: Path
) -> tuple[str, EmbeddedBroker | LocalMosquitto | None, str | None]:
    """(URL, the broker the demo started, why the console cannot use it)."""
    if broker_url is not None:
        return broker_url, None, None
    mosquitto = find_mosquitto()
    if mosquitto is not None:
        local = LocalMosquitto(mosquitto, workdir)
        return f"mqtt://127.0.0.1:{local.port}", local, None
    embedded = EmbeddedBroker(free_port())
    embedded.start()
    # The console needs MQTT 5, which amqtt does not speak.
    why = "no mosquitto to run it on (apt-get install mosquitto)"
    return f"mqtt://127.0.0.1:{embedded.port}", embedded, why


def _console(workdir: Path, broker_url: str, key_file: Path, why: str | None) -> DemoConsole | None:
    """The grid console beside the node, or None with the reason printed."""
    why = why or console_missing()
    centre = None
    if why is None:
        try:
            centre = DemoConsole(workdir, broker_url, key_file)
        except RuntimeError as exc:
            why = str(exc)
    if centre is None:
        print(f"demo: grid console not started: {why}", flush=True)
        return None
    login = centre.login
    print(f"demo: grid console    {login.url} (监控中心：案件、派遣、巡查员手机页)", flush=True)
    print(f"demo: console login   {login.username} / {login.password} (patrols zhangwei, lina, "
          "wangqiang and grid head liufang: the same password)", flush=True)  # fmt: skip
    return centre


def _stop_on_sigterm() -> None:
    """`kill`, a service manager or a test ends the demo with SIGTERM, and Python's default for it
    ends the process at once: the broker and the console it started would run on, orphaned.
    Raised as SystemExit instead, it leaves through the `finally` that stops them."""

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(0)

    if threading.current_thread() is threading.main_thread():  # signals reach only that one
        signal.signal(signal.SIGTERM, leave)


def run_demo(
    data_dir: Path,
    *,
    models_dir: Path | None,
    broker_url: str | None,
    duration_s: float,
    workdir: Path,
    console: bool = True,
) -> int:
    # amqtt narrates every packet at INFO; the demo's output is the alerts.
    for noisy in ("amqtt", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    models = models_dir or (data_dir.parent / "models")
    workdir.mkdir(parents=True, exist_ok=True)
    broker_url, embedded, no_console = _broker(broker_url, workdir)
    # The demo's own command key and API token, made once: the platform side signs with the
    # same key file, and the operator pastes the token into the pages to save and acknowledge.
    key_file, token_file = workdir / "command.key", workdir / "api.token"
    for secret in (key_file, token_file):
        if not secret.exists():
            secret.write_text(generate_key() + "\n", encoding="utf-8")
            secret.chmod(0o600)
    api_port = free_port()
    config_path = workdir / "demo.yaml"
    config_path.write_text(
        DEMO_CONFIG.format(
            broker=broker_url, models=models, workdir=workdir, data=data_dir, api_port=api_port
        ),
        encoding="utf-8",
    )
    try:
        site = load_config(config_path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    address = parse_broker_url(broker_url)
    base = f"http://127.0.0.1:{api_port}"
    viewer = _subscribe(address.host, address.port, site.settings.topic_prefix, base)
    token = token_file.read_text(encoding="utf-8").strip()
    # The pages first: they are what a newcomer opens (operator: live alerts; installer: zones).
    print(f"demo: operator page   {base}/operator  (值班页面)", flush=True)
    print(f"demo: installer page  {base}/installer (安装调试页面)", flush=True)
    print(f"demo: API token for changes (paste it into the page): {token}", flush=True)
    centre = _console(workdir, broker_url, key_file, "--no-console" if not console else no_console)
    print(f"demo: config {config_path}, broker {broker_url}, running {duration_s:g} s", flush=True)
    print(f"demo: platform commands are signed with the key in {key_file}", flush=True)
    node = Node(site, SystemClock())
    node.start()
    _stop_on_sigterm()
    try:
        time.sleep(duration_s)
    finally:
        node.stop()
        if centre is not None:
            centre.stop()
        viewer.loop_stop()
        viewer.disconnect()
        if embedded is not None:
            embedded.stop()
    return 0
