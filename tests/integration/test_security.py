"""Broker security against a real Mosquitto: TLS, passwords, the example ACL, secrets never shown.

Every test starts its own broker with `mqtt/acl.example` as its ACL, a password file for three
accounts, and three loopback listeners: plain, TLS, and TLS requiring a client certificate, all
with certificates generated for the test (see pki.py). Mosquitto acknowledges and silently drops
a publish the ACL denies, and delivers nothing the ACL does not let a client read, so the ACL
tests judge by what subscribers receive: a denied message is sent *before* an allowed one, and
once the allowed one has arrived the denied one would have arrived too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.enums import MQTTProtocolVersion as Protocol

from edge.clock import SystemClock
from edge.config.loader import load_config
from edge.mqtt.link import BrokerAddress, MqttLink, TlsOptions
from edge.mqtt.security import broker_settings
from grid_contract.signing import generate_key, sign
from tests.integration.broker import (
    HOST,
    Received,
    Subscriber,
    find_mosquitto,
    free_port,
)
from tests.integration.node import NodeProcess
from tests.integration.pki import CertPair, Pki, SecureBroker

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ACL = REPO / "mqtt" / "acl.example"
NODE, OTHER, PLATFORM = "xizhen/gate-1", "xizhen/gate-2", "grid-platform"
PASSWORDS = {NODE: "n0de-Pa55-7f3a9c", OTHER: "other-Pa55-91c2e4", PLATFORM: "platf-Pa55-5d0e11"}
PREFIX, OTHER_PREFIX = "grid/xizhen/gate-1", "grid/xizhen/gate-2"
WAIT_S = 5.0


@pytest.fixture
def start_broker(tmp_path: Path, pki: Pki) -> Iterator[Callable[..., SecureBroker]]:
    """Starts secured brokers; every one is killed after the test."""
    executable = find_mosquitto()
    if executable is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto); CI installs it")
    started: list[SecureBroker] = []

    def start(
        server: CertPair | None = None,
        *,
        hand_hashed: bool = False,
        acl: Path = ACL,
        extra_users: dict[str, str] | None = None,
    ) -> SecureBroker:
        secure = SecureBroker(
            executable,
            tmp_path / f"broker{len(started)}",
            pki,
            server=server or pki.server,
            acl=acl,
            users={**PASSWORDS, **(extra_users or {})},
            hash_with_tool=not hand_hashed,
        )
        started.append(secure)
        secure.broker.start()
        return secure

    try:
        yield start
    finally:
        for secure in started:
            secure.broker.kill()


@pytest.fixture
def open_link() -> Iterator[Callable[..., MqttLink]]:
    """Starts node links (fast retries); every one is stopped after the test."""
    links: list[MqttLink] = []

    def open_(address: BrokerAddress, prefix: str = PREFIX) -> MqttLink:
        link = MqttLink(
            address,
            client_id=f"gs-{prefix.replace('/', '-')}-{len(links)}",
            status_topic=f"{prefix}/status",
            online_payload=lambda: b'{"state": "online"}',
            offline_payload=b'{"state": "offline"}',
            clock=SystemClock(),
            reconnect_min_s=0.1,
            reconnect_max_s=0.4,
        )
        links.append(link)
        link.start()
        return link

    try:
        yield open_
    finally:
        for link in links:
            link.stop()


@dataclass(frozen=True, slots=True)
class Platform:
    secure: SecureBroker
    sub: Subscriber  # the platform account, subscribed to grid/# on the plain listener
    pki: Pki


@pytest.fixture
def platform(start_broker: Callable[..., SecureBroker], pki: Pki) -> Iterator[Platform]:
    """A secured broker with the platform watching everything."""
    secure = start_broker()
    sub = Subscriber(secure.port, "grid/#", username=PLATFORM, password=PASSWORDS[PLATFORM])
    try:
        yield Platform(secure, sub, pki)
    finally:
        sub.close()


def node(
    port: int, *, user: str = NODE, password: str | None = None, tls: TlsOptions | None = None
) -> BrokerAddress:
    """A node's address: its account, and TLS when `tls` is given."""
    return BrokerAddress(
        HOST,
        port,
        tls=tls is not None,
        username=user,
        password=PASSWORDS[user] if password is None else password,
        tls_options=tls,
    )


def publish(link: MqttLink, topic: str, payload: bytes) -> None:
    handle = link.publish(topic, payload, qos=1, retain=False)
    assert handle.sent
    handle.info.wait_for_publish(WAIT_S)


def received(sub: Subscriber, topic: str, timeout: float = WAIT_S) -> bool:
    return sub.wait_for(lambda msgs: any(m.topic == topic for m in msgs), timeout)


def refused(link: MqttLink, words: str, timeout: float = WAIT_S) -> bool:
    """Wait until the link reports a failure containing `words`; it must not be connected."""
    return poll(lambda: words in (link.last_error or ""), timeout) and not link.connected


def poll(condition: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# -- TLS --------------------------------------------------------------------------------------


def test_tls_with_the_ca_connects_and_publishes(
    platform: Platform, open_link: Callable[..., MqttLink]
) -> None:
    secure, sub, pki = platform.secure, platform.sub, platform.pki
    link = open_link(node(secure.tls_port, tls=TlsOptions(ca_file=pki.ca)))
    assert link.wait_connected(WAIT_S), link.last_error
    assert link.last_error is None
    publish(link, f"{PREFIX}/alerts/test", b"over tls")
    assert received(sub, f"{PREFIX}/alerts/test")
    assert received(sub, f"{PREFIX}/status")  # the online status, under the node's prefix


def test_wrong_ca_is_refused_logged_once_and_retried(
    platform: Platform,
    open_link: Callable[..., MqttLink],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="edge.mqtt.link")
    secure, pki = platform.secure, platform.pki
    link = open_link(node(secure.tls_port, tls=TlsOptions(ca_file=pki.other_ca)))
    assert refused(link, "TLS handshake failed: broker certificate not trusted")
    assert "certificate" in (link.last_error or "").partition("(")[2]  # OpenSSL's reason
    # Keep failing for a few retries: one ERROR line, the repeats only at DEBUG.
    assert poll(lambda: len(_failures(caplog, logging.DEBUG)) >= 2)
    assert len(_failures(caplog, logging.ERROR)) == 1
    assert not link.connected


def _failures(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "edge.mqtt.link" and r.levelno == level and "retrying" in r.getMessage()
    ]


def test_insecure_skips_only_the_host_name_check(
    start_broker: Callable[..., SecureBroker], open_link: Callable[..., MqttLink], pki: Pki
) -> None:
    secure = start_broker(pki.misnamed)  # chain fine, but issued to broker.invalid only
    checked = open_link(node(secure.tls_port, tls=TlsOptions(ca_file=pki.ca)))
    assert refused(checked, "IP address mismatch")
    lax = open_link(node(secure.tls_port, tls=TlsOptions(ca_file=pki.ca, insecure=True)))
    assert lax.wait_connected(WAIT_S), lax.last_error
    lax_wrong_ca = open_link(
        node(secure.tls_port, tls=TlsOptions(ca_file=pki.other_ca, insecure=True))
    )
    assert refused(lax_wrong_ca, "not trusted")


def test_client_certificate(platform: Platform, open_link: Callable[..., MqttLink]) -> None:
    secure, sub, pki = platform.secure, platform.sub, platform.pki
    without = open_link(node(secure.mtls_port, tls=TlsOptions(ca_file=pki.ca)))
    client = TlsOptions(ca_file=pki.ca, cert_file=pki.client.cert, key_file=pki.client.key)
    with_cert = open_link(node(secure.mtls_port, tls=client))
    assert with_cert.wait_connected(WAIT_S), with_cert.last_error
    publish(with_cert, f"{PREFIX}/alerts/mtls", b"with a client certificate")
    assert received(sub, f"{PREFIX}/alerts/mtls")
    assert refused(without, "certificate required")


# -- passwords --------------------------------------------------------------------------------


@pytest.mark.parametrize("hand_hashed", [False, True], ids=["mosquitto_passwd", "hand-hashed"])
def test_password_is_required(
    start_broker: Callable[..., SecureBroker],
    open_link: Callable[..., MqttLink],
    caplog: pytest.LogCaptureFixture,
    hand_hashed: bool,
) -> None:
    caplog.set_level(logging.DEBUG, logger="edge.mqtt.link")
    secure = start_broker(hand_hashed=hand_hashed)
    wrong = open_link(node(secure.port, password="not-the-password"))
    nameless = open_link(BrokerAddress(HOST, secure.port), prefix="grid/xizhen/anonymous")
    right = open_link(node(secure.port))
    assert right.wait_connected(WAIT_S), right.last_error
    assert refused(wrong, "broker refused the login: Not authorized")
    assert refused(nameless, "Not authorized")
    assert poll(lambda: len(_failures(caplog, logging.DEBUG)) >= 4)
    assert len(_failures(caplog, logging.ERROR)) == 2  # once per failing link


# -- the example ACL --------------------------------------------------------------------------


def test_node_writes_only_under_its_own_prefix(
    platform: Platform, open_link: Callable[..., MqttLink]
) -> None:
    secure, sub = platform.secure, platform.sub
    link = open_link(node(secure.port))
    assert link.wait_connected(WAIT_S), link.last_error
    publish(link, f"{OTHER_PREFIX}/alerts/forged", b"pretending to be gate-2")
    publish(link, f"{OTHER_PREFIX}/cmd/release", b"commanding gate-2")
    publish(link, f"{PREFIX}/cmd/release", b"commanding itself: only the platform may")
    publish(link, "grid/elsewhere", b"outside any prefix")
    publish(link, f"{PREFIX}/alerts/own", b"own")
    assert received(sub, f"{PREFIX}/alerts/own")
    topics = {m.topic for m in sub.messages}
    assert topics == {f"{PREFIX}/status", f"{PREFIX}/alerts/own"}


def test_node_reads_only_its_own_commands_and_the_platform_writes_only_commands(
    platform: Platform, open_link: Callable[..., MqttLink]
) -> None:
    secure, sub = platform.secure, platform.sub
    link = open_link(node(secure.port))
    got: list[str] = []
    arrived = threading.Event()

    def handler(topic: str, payload: bytes) -> None:
        got.append(topic)
        if topic == f"{PREFIX}/cmd/ack":
            arrived.set()

    for topic_filter in (f"{OTHER_PREFIX}/cmd/#", "grid/#", f"{PREFIX}/cmd/#"):
        link.subscribe(topic_filter, 1, handler)
    assert link.wait_connected(WAIT_S), link.last_error
    other = open_link(node(secure.port, user=OTHER), prefix=OTHER_PREFIX)
    assert other.wait_connected(WAIT_S), other.last_error
    with _platform_client(secure.port) as cmd:
        cmd.publish(f"{OTHER_PREFIX}/cmd/release", b"for gate-2", qos=1).wait_for_publish(WAIT_S)
        cmd.publish(f"{PREFIX}/alerts/forged", b"platform may not", qos=1).wait_for_publish(WAIT_S)
        publish(other, f"{OTHER_PREFIX}/alerts/x", b"gate-2's own alert")
        cmd.publish(f"{PREFIX}/cmd/ack", b"for gate-1", qos=1).wait_for_publish(WAIT_S)
        assert arrived.wait(WAIT_S)
    # Both of its matching subscriptions ("grid/#", its own cmd/#) got its command, nothing else.
    assert set(got) == {f"{PREFIX}/cmd/ack"}
    assert received(sub, f"{PREFIX}/cmd/ack")
    assert f"{PREFIX}/alerts/forged" not in {m.topic for m in sub.messages}


@contextlib.contextmanager
def _platform_client(port: int) -> Iterator[mqtt.Client]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, "test-platform", protocol=Protocol.MQTTv311)
    client.username_pw_set(PLATFORM, PASSWORDS[PLATFORM])
    client.connect(HOST, port, keepalive=30)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


# -- secrets from the config ------------------------------------------------------------------


@pytest.mark.parametrize("source", ["env", "file", "inline"])
def test_secrets_from_the_config_reach_the_broker(
    platform: Platform,
    open_link: Callable[..., MqttLink],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
) -> None:
    secure, sub, pki = platform.secure, platform.sub, platform.pki
    config = _site_config(tmp_path, pki, secure.tls_port, source, monkeypatch)
    address = broker_settings(load_config(config))
    assert (address.username, address.password) == (NODE, PASSWORDS[NODE])
    link = open_link(address)
    assert link.wait_connected(WAIT_S), link.last_error
    publish(link, f"{PREFIX}/alerts/from-config", source.encode())
    assert received(sub, f"{PREFIX}/alerts/from-config")


def _site_config(
    tmp_path: Path, pki: Pki, port: int, source: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A site config in its own directory; the CA and the password file are relative to it."""
    directory = tmp_path / "site"
    (directory / "certs").mkdir(parents=True)
    (directory / "certs" / "ca.crt").write_bytes(pki.ca.read_bytes())
    (directory / "models").mkdir()
    (directory / "models" / "yolov8n_int8.onnx").touch()  # load_config only checks it exists
    password = {
        "env": "{env: GS_TEST_MQTT_PASSWORD}",
        "file": "{file: secrets/mqtt-password}",
        "inline": f'"{PASSWORDS[NODE]}"',
    }[source]
    monkeypatch.setenv("GS_TEST_MQTT_PASSWORD", PASSWORDS[NODE])
    (directory / "secrets").mkdir()
    (directory / "secrets" / "mqtt-password").write_text(PASSWORDS[NODE] + "\n")
    config = directory / "site.yaml"
    config.write_text(
        "site: {id: xizhen}\n"
        "node: {id: gate-1}\n"
        f"mqtt: {{url: 'mqtts://127.0.0.1:{port}', username: '{NODE}', password: {password},\n"
        "       tls: {ca_file: certs/ca.crt}}\n",
        encoding="utf-8",
    )
    return config


# -- the password never shows -----------------------------------------------------------------


def test_no_log_record_or_repr_shows_the_password(
    platform: Platform,
    open_link: Callable[..., MqttLink],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger
    secure, pki = platform.secure, platform.pki
    wrong_password = "wr0ng-Pa55-c0ffee"
    site = load_config(_site_config(tmp_path, pki, secure.tls_port, "inline", monkeypatch))
    good = open_link(broker_settings(site))
    bad = open_link(node(secure.tls_port, password=wrong_password, tls=TlsOptions(ca_file=pki.ca)))
    nobody = open_link(node(free_port(), password=wrong_password))  # nothing listens there
    assert good.wait_connected(WAIT_S), good.last_error
    publish(good, f"{PREFIX}/alerts/x", b"x")
    assert refused(bad, "Not authorized")
    assert poll(lambda: nobody.last_error is not None)
    good.stop()
    shown = [
        caplog.text,
        *(f"{r.getMessage()} {r.args!r} {r.exc_text}" for r in caplog.records),
        *(repr(x) for x in (good, bad, nobody, site, site.settings, site.settings.mqtt)),
        *(repr(link.address) + link.address.display() for link in (good, bad, nobody)),
        *(str(link.last_error) for link in (good, bad, nobody)),
    ]
    for secret in (PASSWORDS[NODE], wrong_password):
        assert not [text for text in shown if secret in text]
    assert caplog.records  # the test did look at something


# -- the node itself on the example broker -----------------------------------------------------

ZIGBEE = "zigbee2mqtt-xizhen"
SENSOR_TOPIC = "zigbee2mqtt-xizhen-gate-1/smoke-1"


def test_the_node_on_the_example_broker_obeys_only_the_platforms_signed_commands(
    start_broker: Callable[..., SecureBroker], tmp_path: Path, models_dir: Path
) -> None:
    """The production setup: passwords, the example ACL (with its documented zigbee2mqtt
    block), a command key. The node's own account cannot command it, even with a valid
    signature (a stolen node config); the platform's signed command does."""
    key = generate_key()
    acl = tmp_path / "acl"
    acl.write_text(
        ACL.read_text(encoding="utf-8")
        + f"\nuser {NODE}\ntopic read zigbee2mqtt-xizhen-gate-1/#\n"
        + f"\nuser {ZIGBEE}\ntopic write zigbee2mqtt-xizhen-gate-1/#\n",
        encoding="utf-8",
    )
    secure = start_broker(acl=acl, extra_users={ZIGBEE: "zigbee-Pa55-0a1b2c"})
    sub = Subscriber(secure.port, "grid/#", username=PLATFORM, password=PASSWORDS[PLATFORM])
    config = tmp_path / "site.yaml"
    config.write_text(
        "site: {id: xizhen}\nnode: {id: gate-1}\n"
        f"mqtt: {{url: 'mqtt://127.0.0.1:{secure.port}', username: '{NODE}',"
        f" password: '{PASSWORDS[NODE]}'}}\n"
        f"models: {{dir: '{models_dir}', detector: yolov8n_int8.onnx, threads: 1}}\n"
        f"storage: {{dir: '{tmp_path / 'var'}'}}\napi: {{enabled: false}}\n"
        f"commands: {{key: '{key}'}}\ncameras: []\n"
        f"sensors:\n  - {{id: smoke-1, kind: smoke, mqtt: {{topic: {SENSOR_TOPIC}}}}}\n",
        encoding="utf-8",
    )
    process = NodeProcess(config, tmp_path / "node.log")
    try:
        assert received(sub, f"{PREFIX}/status", 30), process.text()
        time.sleep(0.5)
        zigbee = MqttLink(
            BrokerAddress(HOST, secure.port, username=ZIGBEE, password="zigbee-Pa55-0a1b2c"),
            client_id="zigbee", status_topic="zigbee2mqtt-xizhen-gate-1/bridge/state",
            online_payload=lambda: b"online", offline_payload=b"offline", clock=SystemClock(),
        )  # fmt: skip
        zigbee.start()
        assert zigbee.wait_connected(WAIT_S), zigbee.last_error
        publish(zigbee, SENSOR_TOPIC, b'{"smoke": true, "battery": 90}')
        zigbee.stop()
        assert sub.wait_for(lambda m: _alert(m, "raised") is not None, 20), process.text()
        alert_id = str(_alert(sub.messages, "raised")["id"])  # type: ignore[index]
        topic = f"{PREFIX}/cmd/release"

        def command(request_id: str) -> bytes:
            body = {"request_id": request_id, "alert_id": alert_id}
            return json.dumps(sign(key, topic, body, by="op-7", now=time.time())).encode()

        thief = MqttLink(
            node(secure.port), client_id="stolen-node-account", status_topic=f"{PREFIX}/x",
            online_payload=lambda: b"{}", offline_payload=b"{}", clock=SystemClock(),
        )  # fmt: skip
        thief.start()
        assert thief.wait_connected(WAIT_S), thief.last_error
        publish(thief, topic, command("from-the-node-account"))
        thief.stop()
        with _platform_client(secure.port) as platform:
            platform.publish(topic, command("from-the-platform"), qos=1).wait_for_publish(WAIT_S)
        assert sub.wait_for(lambda m: _alert(m, "released") is not None, 20), process.text()
        assert _alert(sub.messages, "released")["actor"]["by"] == "op-7"  # type: ignore[index]
        assert received(sub, f"{PREFIX}/responses")
        time.sleep(0.5)
        responses = [json.loads(m.payload) for m in sub.messages if m.topic.endswith("/responses")]
        assert [r["request_id"] for r in responses] == ["from-the-platform"]
    finally:
        process.end()
        sub.close()


def _alert(msgs: list[Received], event: str) -> dict[str, object] | None:
    for m in msgs:
        if "/alerts/" in m.topic and not m.topic.endswith("/snapshot"):
            body = json.loads(m.payload)
            if body["event"] == event:
                return dict(body)
    return None
