"""Where the broker is: `mqtt://host:port` (TLS and logins come with the security slice)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORT = 1883


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def parse_broker_url(url: str) -> BrokerAddress:
    parts = urlsplit(url)
    if parts.scheme != "mqtt":
        raise ValueError(f"broker URL {url!r}: only mqtt://HOST:PORT is supported so far")
    if not parts.hostname:
        raise ValueError(f"broker URL {url!r} has no host")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise ValueError(f"broker URL {url!r}: {exc}") from None
    return BrokerAddress(parts.hostname, port)
