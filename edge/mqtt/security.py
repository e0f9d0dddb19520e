"""How the node reaches and logs in to its broker: address, credentials, TLS.

`broker_settings(site)` combines the config's `mqtt.url`, `mqtt.username`, `mqtt.password`
(inline, `{env: ...}` or `{file: ...}`) and `mqtt.tls` into one `BrokerAddress` for `MqttLink`.
The password lives only in `BrokerAddress.password`, which no repr, log line or error message
shows; `display()` is what logs use.

The TLS context itself (`TlsOptions`) and the words for a failed connection are the console's
too, so they live in grid_contract/broker_tls.py.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, unquote, urlsplit

from grid_contract.broker_tls import TlsOptions
from grid_contract.hosts import is_loopback

if TYPE_CHECKING:
    from edge.config.loader import SiteConfig

logger = logging.getLogger(__name__)

_DEFAULT_PORTS = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883}
_TLS_SCHEMES = frozenset({"mqtts"})
TLS_PORT = _DEFAULT_PORTS["mqtts"]


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker is and how to log in. The password never appears in repr or logs.

    `tls_options` applies when `tls` is true; None then means system CAs, host name checked.
    """

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_options: TlsOptions | None = None

    def __post_init__(self) -> None:
        if self.tls_options is not None and not self.tls:
            raise ValueError("tls_options given for a broker address without TLS (tls=False)")

    def display(self) -> str:
        """The address for logs and errors, without the password."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}"


def broker_settings(site: SiteConfig, *, warn: bool = True) -> BrokerAddress:
    """The broker address for `MqttLink`, from the site config.

    - `mqtt.username` overrides a user name in the URL; a password from `mqtt.password` (read
      now from inline, env or file) overrides one in the URL.
    - TLS is on for `mqtts://` URLs or when `mqtt.tls` is given; a `tls:` block on an
      `mqtt://` URL without a port uses 8883. Files are resolved against the config file.

    Raises SecretError (a ValueError) when a referenced secret cannot be read. `warn=False`
    leaves out the warnings about a password in the URL or sent in clear (the config checker,
    which may run on every API edit, builds the address too).
    """
    mqtt = site.settings.mqtt
    address = parse_broker_url(mqtt.url)
    password = site.mqtt_password()
    if address.password is not None and warn:
        logger.warning(
            "MQTT password for %s is written in mqtt.url; move it to mqtt.password "
            "(inline, {env: ...} or {file: ...}) so that printing the config cannot show it",
            address.display(),
        )
    tls: TlsOptions | None = None
    if mqtt.tls is not None:
        tls = TlsOptions(
            ca_file=_path(site, mqtt.tls.ca_file),
            cert_file=_path(site, mqtt.tls.cert_file),
            key_file=_path(site, mqtt.tls.key_file),
            insecure=mqtt.tls.insecure,
        )
    port = address.port
    if tls is not None and not address.tls and urlsplit(mqtt.url.strip()).port is None:
        port = TLS_PORT
    address = dataclasses.replace(
        address,
        port=port,
        tls=address.tls or tls is not None,
        username=mqtt.username if mqtt.username is not None else address.username,
        password=password if password is not None else address.password,
        tls_options=tls,
    )
    if warn:
        _warn_cleartext(address)
    return address


def _path(site: SiteConfig, value: str | None) -> Path | None:
    return None if value is None else site.resolve(value)


def _warn_cleartext(address: BrokerAddress) -> None:
    if address.tls or address.password is None or is_loopback(address.host):
        return
    logger.warning(
        "MQTT broker %s: the password is sent without TLS; use mqtts:// or mqtt.tls",
        address.display(),
    )


def parse_broker_url(url: str) -> BrokerAddress:
    """Parse `mqtt://[user[:password]@]host[:port]`; `tcp://` is an alias, `mqtts://` means TLS.

    Raises ValueError naming the offending part (never echoing the password).
    """
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(
            f"broker URL {_redact(url)!r} needs a scheme: mqtt://host[:port] or mqtts://host"
        )
    parts = urlsplit(url.strip())
    shown = _redact(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        known = ", ".join(f"{s}://" for s in _DEFAULT_PORTS)
        raise ValueError(f"broker URL {shown!r}: unsupported scheme {parts.scheme!r} ({known})")
    if not parts.hostname:
        raise ValueError(f"broker URL {shown!r}: missing host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"broker URL {shown!r}: unexpected path, query or fragment")
    return BrokerAddress(
        host=parts.hostname,
        port=_port_of(parts, shown, _DEFAULT_PORTS[scheme]),
        tls=scheme in _TLS_SCHEMES,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def _port_of(parts: SplitResult, shown: str, default: int) -> int:
    try:
        port = parts.port
    except ValueError:
        port_text = parts.netloc.rpartition(":")[2]
        raise ValueError(
            f"broker URL {shown!r}: port {port_text!r} is not a number in 1..65535"
        ) from None
    if port is None:
        return default
    if port == 0:
        raise ValueError(f"broker URL {shown!r}: port 0 is not a number in 1..65535")
    return port


def _redact(url: object) -> str:
    text = str(url)
    scheme, sep, rest = text.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return text
    userinfo, _, hostpart = rest.partition("@")
    user = userinfo.split(":", 1)[0]
    masked = f"{user}:***" if ":" in userinfo else user
    return f"{scheme}://{masked}@{hostpart}"


_REFUSAL_HINTS = {
    # MQTT 3.1.1 CONNACK 4 and 5 as paho names them; Mosquitto answers 5 to a wrong password.
    "Bad user name or password": "check mqtt.username and mqtt.password",
    "Not authorized": "wrong mqtt.username or mqtt.password, or this account may not connect",
}
_PAHO_RECV_ERROR = "failed to receive on socket: "
_SSL_SOURCE = re.compile(r"\s*\(_ssl\.c:\d+\)$")


def describe_refusal(reason: str) -> str:
    """Words for a CONNACK refusal, from paho's name of the reason code."""
    hint = _REFUSAL_HINTS.get(reason)
    text = f"broker refused the login: {reason}"
    return f"{text}; {hint}" if hint else text


def describe_login_drop(paho_error: str | None, reason: str) -> str:
    """Words for a connection the broker closed before its CONNACK.

    `paho_error` is what paho logged about the socket, e.g. "failed to receive on socket:
    [SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required (_ssl.c:2580)"
    when the broker wants a client certificate; `reason` is the disconnect reason code's name.
    """
    if not paho_error:
        return f"connection closed during the login: {reason}"
    detail = _SSL_SOURCE.sub("", paho_error.removeprefix(_PAHO_RECV_ERROR))
    return f"connection closed during the login: {detail}"
