"""Where the broker is and how the console logs in: `mqtt://HOST:PORT` or `mqtts://HOST:PORT`.

The user name is `--broker-username`; the password comes from `--broker-password-file` or the
environment (GRID_CONSOLE_BROKER_PASSWORD), never from the command line or the URL, where `ps`
and shell histories would show it. TLS is the node's own (grid_contract/broker_tls.py): the
broker's chain always verified, against `--broker-ca-file` or the system CAs, and a client
certificate with `--broker-cert-file` / `--broker-key-file` for a broker that asks for one.

Everything is read and checked here, once, at start: a password file that cannot be read or a
CA file that is no CA refuses the start naming the option and the file.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from grid_contract.broker_tls import TlsConfigError, TlsNames, TlsOptions
from grid_contract.hosts import is_loopback

logger = logging.getLogger(__name__)

DEFAULT_PORT = 1883
TLS_PORT = 8883
ENV_PASSWORD = "GRID_CONSOLE_BROKER_PASSWORD"
_PORTS = {"mqtt": DEFAULT_PORT, "mqtts": TLS_PORT}
_TLS_NAMES = TlsNames("broker-ca-file", "broker-cert-file", "broker-key-file")


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """The broker and the console's login. The password never appears in a repr or a log."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_options: TlsOptions | None = None

    @property
    def url(self) -> str:
        """The address for logs: no password."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}"

    def tls_context(self) -> ssl.SSLContext | None:
        """The client TLS context, or None for plain MQTT; a ValueError names the bad file."""
        if not self.tls:
            return None
        try:
            return (self.tls_options or TlsOptions()).context(_TLS_NAMES)
        except TlsConfigError as exc:
            files = _files_of(self.tls_options or TlsOptions(), exc.option)
            raise ValueError(
                f"{exc.option}: {files}: TLS 文件无法使用 / the TLS file cannot be used: "
                f"{exc.reason}"
            ) from None


@dataclass(frozen=True, slots=True)
class BrokerLogin:
    """The login and TLS options as given (`--broker-username` ...), not yet read."""

    username: str | None = None
    password_file: Path | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


def parse_broker_url(url: str) -> BrokerAddress:
    """`mqtt://HOST[:PORT]` (1883) or `mqtts://HOST[:PORT]` (8883), without a login."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _PORTS:
        raise ValueError(
            f"broker: {url!r}: 只支持 mqtt:// 和 mqtts:// / use mqtt://HOST:PORT or "
            "mqtts://HOST:PORT"
        )
    shown = url if "@" not in parts.netloc else f"{scheme}://***@{parts.hostname}"
    if "@" in parts.netloc:
        raise ValueError(
            f"broker: {shown!r}: 地址中不能写用户名或密码 / no user or password in the URL: "
            "use --broker-username and --broker-password-file"
        )
    if not parts.hostname:
        raise ValueError(f"broker: {url!r}: 缺少主机 / the URL has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"broker: {url!r}: 多余的路径或参数 / unexpected path or query")
    try:
        port = parts.port or _PORTS[scheme]
    except ValueError:
        raise ValueError(f"broker: {url!r}: 端口无效 / the port is not in 1-65535") from None
    return BrokerAddress(parts.hostname, port, tls=scheme == "mqtts")


def broker_address(url: str, login: BrokerLogin, env: Mapping[str, str]) -> BrokerAddress:
    """The address with its login and TLS files, each read and checked now."""
    address = parse_broker_url(url)
    password = _password(login, env)
    if password is not None and not login.username:
        source = "broker-password-file" if login.password_file else ENV_PASSWORD
        raise ValueError(
            f"{source}: 有密码但没有用户名 / a password needs --broker-username as well"
        )
    given = {"broker-ca-file": login.ca_file, "broker-cert-file": login.cert_file,
             "broker-key-file": login.key_file}  # fmt: skip
    named = [name for name, path in given.items() if path is not None]
    if named and not address.tls:
        raise ValueError(
            f"{named[0]}: 只用于 mqtts:// 的代理地址 / only for an mqtts:// broker URL "
            f"(the broker is {address.url})"
        )
    if (login.cert_file is None) != (login.key_file is None):
        raise ValueError(
            "broker-cert-file: 客户端证书和私钥要一起给出 / the client certificate and "
            "--broker-key-file go together"
        )
    options = None
    if named:
        options = TlsOptions(ca_file=login.ca_file, cert_file=login.cert_file,
                             key_file=login.key_file)  # fmt: skip
    address = BrokerAddress(
        address.host, address.port, address.tls, login.username or None, password, options
    )
    address.tls_context()  # a bad CA, certificate or key refuses the start now
    if password is not None and not address.tls and not is_loopback(address.host):
        logger.warning(
            "代理 %s 的密码以明文发送 / the broker password for %s is sent without TLS: "
            "use mqtts://",
            address.url,
            address.url,
        )
    return address


def _password(login: BrokerLogin, env: Mapping[str, str]) -> str | None:
    """From the file, else the environment; a file wins, being named on purpose."""
    if login.password_file is None:
        return env.get(ENV_PASSWORD) or None
    path = login.password_file
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(
            f"broker-password-file: {path}: 无法读取密码文件 / cannot read the password file "
            f"({exc.strerror})"
        ) from None
    except UnicodeDecodeError:
        raise ValueError(
            f"broker-password-file: {path}: 密码文件不是 UTF-8 文本 / the password file is not "
            "UTF-8 text"
        ) from None
    lines = text.splitlines()
    password = lines[0] if lines else ""  # the first line, without its newline
    if not password:
        raise ValueError(
            f"broker-password-file: {path}: 密码文件是空的 / the password file is empty"
        )
    return password


def _files_of(options: TlsOptions, option: str) -> str:
    if option == _TLS_NAMES.ca_file:
        return str(options.ca_file)
    return f"{options.cert_file} / {options.key_file}"
