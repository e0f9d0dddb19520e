"""broker_settings: URL, user name, password (inline, env, file) and TLS files from the config."""

from __future__ import annotations

import errno
import logging
import ssl
from pathlib import Path

import pytest

from edge.config.loader import SiteConfig, load_config
from edge.config.secrets import SecretError
from edge.mqtt.security import (
    BrokerAddress,
    broker_settings,
    describe_login_drop,
    describe_refusal,
)
from grid_contract.broker_tls import TlsConfigError, TlsOptions, describe_connect_error

SECRET = "s3cr3t-Pa55-unit"


def site(tmp_path: Path, mqtt: str) -> SiteConfig:
    path = tmp_path / "conf" / "site.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"site: {{id: xizhen}}\nnode: {{id: gate-1}}\nmqtt: {mqtt}\n", "utf-8")
    return load_config(path, check_files=False)


def test_defaults_are_plain_and_anonymous(tmp_path: Path) -> None:
    assert broker_settings(site(tmp_path, "{}")) == BrokerAddress("127.0.0.1", 1883)


def test_config_user_and_password_override_the_url(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    address = broker_settings(
        site(
            tmp_path,
            f"{{url: 'mqtts://old:old-pw@mq.example:9883', username: xizhen/gate-1, "
            f"password: {SECRET}}}",
        )
    )
    assert address == BrokerAddress("mq.example", 9883, True, "xizhen/gate-1", SECRET)
    assert address.tls_options is None  # mqtts:// alone: system CAs, host name checked
    assert SECRET not in repr(address) and "old-pw" not in caplog.text


def test_password_in_the_url_works_but_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    address = broker_settings(site(tmp_path, f"{{url: 'mqtt://edge:{SECRET}@127.0.0.1'}}"))
    assert (address.username, address.password) == ("edge", SECRET)
    assert "written in mqtt.url" in caplog.text
    assert SECRET not in caplog.text


def test_password_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GS_UNIT_MQTT_PW", SECRET)
    from_env = site(tmp_path, "{username: u, password: {env: GS_UNIT_MQTT_PW}}")
    assert broker_settings(from_env).password == SECRET
    (tmp_path / "conf" / "pw").write_text(SECRET + "\n", "utf-8")
    from_file = site(tmp_path, "{username: u, password: {file: pw}}")
    assert broker_settings(from_file).password == SECRET
    monkeypatch.delenv("GS_UNIT_MQTT_PW")
    with pytest.raises(SecretError, match="GS_UNIT_MQTT_PW is not set"):
        broker_settings(from_env)


def test_a_tls_block_turns_tls_on_and_resolves_files(tmp_path: Path) -> None:
    tls = "{ca_file: certs/ca.pem, cert_file: /abs/node.pem, key_file: node.key, insecure: true}"
    address = broker_settings(site(tmp_path, f"{{url: 'mqtt://mq.example', tls: {tls}}}"))
    conf = tmp_path / "conf"
    assert (address.tls, address.port) == (True, 8883)  # TLS default port: none was given
    assert address.tls_options == TlsOptions(
        conf / "certs" / "ca.pem", Path("/abs/node.pem"), conf / "node.key", insecure=True
    )
    explicit = broker_settings(site(tmp_path, "{url: 'mqtt://mq.example:1884', tls: {}}"))
    assert (explicit.tls, explicit.port) == (True, 1884)


def test_password_without_tls_to_a_remote_broker_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    broker_settings(
        site(tmp_path, f"{{url: 'mqtt://mq.example', username: u, password: {SECRET}}}")
    )
    assert "without TLS" in caplog.text
    caplog.clear()
    broker_settings(site(tmp_path, f"{{url: 'mqtt://[::1]', username: u, password: {SECRET}}}"))
    assert caplog.text == ""  # loopback is fine


def test_tls_context_checks_the_chain_always_and_the_name_unless_insecure() -> None:
    strict = TlsOptions().context()
    assert strict.verify_mode == ssl.CERT_REQUIRED and strict.check_hostname
    lax = TlsOptions(insecure=True).context()
    assert lax.verify_mode == ssl.CERT_REQUIRED and not lax.check_hostname
    assert strict.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_unusable_tls_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(TlsConfigError, match=r"ca_file .*missing\.pem: cannot read"):
        TlsOptions(ca_file=tmp_path / "missing.pem").context()
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(TlsConfigError, match=r"ca_file .*junk\.pem: not usable"):
        TlsOptions(ca_file=junk).context()
    with pytest.raises(TlsConfigError, match=r"cert_file .*junk\.pem / key_file"):
        TlsOptions(cert_file=junk, key_file=junk).context()
    with pytest.raises(TlsConfigError, match="go together"):
        TlsOptions(cert_file=junk)
    with pytest.raises(ValueError, match="without TLS"):
        BrokerAddress("mq.example", 1883, tls=False, tls_options=TlsOptions())


def test_failures_in_words() -> None:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    assert describe_connect_error(refused) == ("unreachable: Connection refused", False)
    assert describe_connect_error(TimeoutError()) == ("unreachable: timed out", False)
    words, is_tls = describe_connect_error(ssl.SSLError(1, "[SSL] wrong version number"))
    assert is_tls and words.startswith("TLS handshake failed")
    assert describe_refusal("Not authorized").startswith("broker refused the login: Not auth")
    drop = "failed to receive on socket: [SSL: X] tlsv13 alert certificate required (_ssl.c:2580)"
    assert describe_login_drop(drop, "Unspecified error") == (
        "connection closed during the login: [SSL: X] tlsv13 alert certificate required"
    )
    assert describe_login_drop(None, "Unspecified error").endswith("Unspecified error")
