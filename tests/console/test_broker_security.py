"""The console's broker login and TLS against a real Mosquitto that wants both.

The broker (tests/integration/pki.py) takes no anonymous clients, applies the shipped
`mqtt/acl.example` (the console logs in as its `grid-platform` account, a node as `SITE/NODE`),
and listens plain, over TLS, and over TLS with a client certificate required, with certificates
the test makes with `openssl`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.demo_console import find_mosquitto
from grid_console.cli import main
from tests.console.conftest import Backend
from tests.console.helpers import ConsoleProcess, NodeStandIn, wait_until
from tests.console.payloads import PREFIX, alert, encode, new_alert_id
from tests.integration.broker import HOST, Subscriber
from tests.integration.pki import Pki, SecureBroker

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
NODE, CONSOLE = "xizhen/gate-1", "grid-platform"
PASSWORDS = {NODE: "n0de-Pa55-console-test", CONSOLE: "c0nsole-Pa55-test-1"}
# Mosquitto answers a wrong password with 135 (Not authorized) over MQTT 5; 134 is the other
# reason a broker may give (Bad User Name or Password).
REFUSED = re.compile(r"(Not authorized|Bad User Name or Password) \(reason code 13[45]\)")


@pytest.fixture
def secure(tmp_path: Path, pki: Pki) -> Iterator[SecureBroker]:
    executable = find_mosquitto()
    if executable is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto); CI installs it")
    broker = SecureBroker(executable, tmp_path / "broker", pki, server=pki.server,
                          acl=REPO / "mqtt" / "acl.example", users=PASSWORDS)  # fmt: skip
    broker.broker.start()
    try:
        yield broker
    finally:
        broker.broker.kill()


def publish_alert(secure: SecureBroker) -> str:
    """A node's smoke alarm, published with the node's own login on the plain listener."""
    alert_id = new_alert_id()
    node = NodeStandIn(secure.broker, "gate-1", username=NODE, password=PASSWORDS[NODE])
    try:
        node.publish(f"{PREFIX}/alerts/smoke", encode(alert(alert_id, 1, "raised")))
    finally:
        node.close()
    return alert_id


def case_ids(console: ConsoleProcess) -> list[str]:
    return [c["alert_id"] for c in console.get("/api/cases")["cases"]]


def test_the_console_ingests_and_commands_over_tls_with_a_login_and_a_client_certificate(
    tmp_path: Path, secure: SecureBroker, backend: Backend, pki: Pki, key_file: Path
) -> None:
    password = tmp_path / "broker.password"
    password.write_text(PASSWORDS[CONSOLE] + "\n", encoding="utf-8")
    config = tmp_path / "console.toml"  # every broker option from the config file
    config.write_text(
        f'broker-username = "{CONSOLE}"\nbroker-password-file = "{password}"\n'
        f'broker-ca-file = "{pki.ca}"\nbroker-cert-file = "{pki.client.cert}"\n'
        f'broker-key-file = "{pki.client.key}"\n',
        encoding="utf-8",
    )
    node_cmds = Subscriber(secure.port, f"{PREFIX}/cmd/#", client_id="gate-1-cmds",
                           username=NODE, password=PASSWORDS[NODE])  # fmt: skip
    console = ConsoleProcess(tmp_path, secure.broker, backend, key_file=key_file,
                             broker_url=f"mqtts://{HOST}:{secure.mtls_port}",
                             extra=["--config", str(config)])  # fmt: skip
    try:
        console.wait_ready()
        alert_id = publish_alert(secure)
        wait_until(lambda: case_ids(console) == [alert_id], 15, "the case over TLS")
        health = console.get("/api/health")
        assert health["mqtt"] == "connected" and health["mqtt_error"] is None
        assert PASSWORDS[CONSOLE] not in console.text()

        # The command sender uses the same login and TLS: the false alarm reaches the node.
        (case,) = console.get("/api/cases")["cases"]
        status, _ = console.post(f"/api/cases/{case['id']}/actions", {"action": "false_alarm"})
        assert status == 200
        assert node_cmds.wait_for(lambda m: len(m) == 1, 15), console.text()
        assert json.loads(node_cmds.messages[0].payload)["alert_id"] == alert_id
    finally:
        assert console.end() == 0, console.text()
        node_cmds.close()


def test_a_refused_login_is_logged_and_retried_and_the_right_password_works_after_restart(
    tmp_path: Path, secure: SecureBroker, backend: Backend, pki: Pki
) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n", encoding="utf-8")
    url = f"mqtts://{HOST}:{secure.tls_port}"
    login = ["--broker-username", CONSOLE, "--broker-ca-file", str(pki.ca)]
    console = ConsoleProcess(tmp_path, secure.broker, backend, broker_url=url, name="wrong",
                             extra=[*login, "--broker-password-file", str(wrong)])  # fmt: skip
    try:

        def refusals() -> int:
            assert console.proc.poll() is None, f"the console exited:\n{console.text()}"
            return len(REFUSED.findall(console.text()))

        wait_until(lambda: refusals() >= 2, 30, "the refusal, twice (retried)")
        assert "check --broker-username and --broker-password-file" in console.text()
        missed = publish_alert(secure)
        time.sleep(1.5)
        health = console.get("/api/health")
        assert health["mqtt"] == "disconnected"
        assert REFUSED.search(health["mqtt_error"])
        assert case_ids(console) == []
        assert "not-the-password" not in console.text()
    finally:
        assert console.end() == 0, console.text()

    # The right password, this time from the environment.
    again = ConsoleProcess(tmp_path, secure.broker, backend, broker_url=url, name="right",
                           extra=login, env={"GRID_CONSOLE_BROKER_PASSWORD": PASSWORDS[CONSOLE]},
                           port=console.port)  # fmt: skip
    try:
        again.wait_ready()
        alert_id = publish_alert(secure)
        wait_until(lambda: alert_id in case_ids(again), 15, "the case after the restart")
        # Published while the console had never logged in: no session kept it, so it is lost
        # to the console as any message before its first connect is.
        assert missed not in case_ids(again)
    finally:
        assert again.end() == 0, again.text()


def test_a_broker_with_a_certificate_of_another_ca_is_refused_and_retried(
    tmp_path: Path, secure: SecureBroker, backend: Backend, pki: Pki
) -> None:
    console = ConsoleProcess(tmp_path, secure.broker, backend, name="other-ca",
                             broker_url=f"mqtts://{HOST}:{secure.tls_port}",
                             extra=["--broker-ca-file", str(pki.other_ca)])  # fmt: skip
    try:
        wait_until(lambda: console.text().count("broker certificate not trusted") >= 2, 30,
                   "the TLS refusal, twice (retried)")  # fmt: skip
        assert console.proc.poll() is None
    finally:
        assert console.end() == 0, console.text()


def refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["serve", "--data-dir", str(tmp_path / "d"), *args]) == 2
    assert not (tmp_path / "d").exists()  # refused before anything was started or written
    return capsys.readouterr().err


def test_bad_broker_options_refuse_the_start_naming_the_option_and_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pki: Pki
) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n", encoding="utf-8")
    missing = tmp_path / "missing.password"
    tls = "mqtts://127.0.0.1:8883"

    err = refused(tmp_path, capsys, "--broker", tls, "--broker-ca-file", str(junk))
    assert f"broker-ca-file: {junk}: " in err and "not usable" in err
    err = refused(tmp_path, capsys, "--broker", tls, "--broker-ca-file", str(missing))
    assert f"broker-ca-file: {missing}: " in err and "cannot read" in err
    cert = str(pki.client.cert)
    err = refused(tmp_path, capsys, "--broker", tls, "--broker-ca-file", str(pki.ca),
                  "--broker-cert-file", cert, "--broker-key-file", str(junk))  # fmt: skip
    assert f"broker-cert-file: {pki.client.cert} / {junk}: " in err
    err = refused(tmp_path, capsys, "--broker", tls, "--broker-cert-file", cert)
    assert "broker-cert-file: " in err and "go together" in err
    err = refused(tmp_path, capsys, "--broker-username", "console",
                  "--broker-password-file", str(missing))  # fmt: skip
    assert f"broker-password-file: {missing}: " in err and "cannot read the password file" in err
    err = refused(tmp_path, capsys, "--broker", "mqtt://127.0.0.1", "--broker-ca-file", str(pki.ca))
    assert "broker-ca-file: " in err and "only for an mqtts:// broker URL" in err
    err = refused(tmp_path, capsys, "--broker", "mqtts://console:s3cret@127.0.0.1")
    assert "no user or password in the URL" in err and "s3cret" not in err
    err = refused(tmp_path, capsys, "--broker", "ws://127.0.0.1")
    assert "broker: 'ws://127.0.0.1'" in err

    config = tmp_path / "c.yaml"
    config.write_text(
        f"broker: {tls}\nbroker-username: console\nbroker-password-file: {missing}\n",
        encoding="utf-8",
    )
    err = refused(tmp_path, capsys, "--config", str(config))
    assert f"broker-password-file: {missing}: " in err
