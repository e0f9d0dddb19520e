"""Topic names of the MQTT contract (mqtt/topics.md), built in one place.

Every id that becomes a topic level is checked here: a `+`, `#` or `/` inside an id would
silently change which subscriptions match, so it is refused with a clear error instead.
"""

from __future__ import annotations

DEFAULT_PREFIX_TEMPLATE = "grid/{site}/{node}"

_FORBIDDEN = ("+", "#", "/", "\x00")


def check_segment(value: str, what: str) -> str:
    """Return `value` if it can be one topic level, else raise ValueError naming `what`."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    bad = [c for c in _FORBIDDEN if c in value]
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise ValueError(f"{what} {value!r} contains {shown}, which MQTT topic levels cannot hold")
    if value != value.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError(f"{what} {value!r} has surrounding spaces or control characters")
    return value


def check_prefix(prefix: str) -> str:
    """Return `prefix` if it is a valid topic prefix of one or more levels."""
    if not prefix:
        raise ValueError("topic prefix must not be empty")
    if prefix.startswith("$"):
        raise ValueError(f"topic prefix {prefix!r} must not start with '$' (reserved by brokers)")
    for level in prefix.split("/"):
        check_segment(level, f"topic prefix {prefix!r}: level")
    return prefix


class Topics:
    """Builds the topics of one node under its prefix (default `grid/{site}/{node}`)."""

    __slots__ = ("_prefix",)

    def __init__(self, prefix: str) -> None:
        self._prefix = check_prefix(prefix)

    @classmethod
    def for_node(cls, site: str, node: str, template: str = DEFAULT_PREFIX_TEMPLATE) -> Topics:
        """Topics of node `node` at site `site`; `template` may use `{site}` and `{node}`."""
        check_segment(site, "site id")
        check_segment(node, "node id")
        try:
            prefix = template.format(site=site, node=node)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"topic prefix template {template!r} may only use {{site}} and {{node}}: {exc}"
            ) from exc
        return cls(prefix)

    @property
    def prefix(self) -> str:
        return self._prefix

    def status(self) -> str:
        return f"{self._prefix}/status"

    def alert(self, kind: str) -> str:
        return f"{self._prefix}/alerts/{check_segment(kind, 'alert kind')}"

    def alert_snapshot(self, kind: str, alert_id: str) -> str:
        return f"{self.alert(kind)}/{check_segment(alert_id, 'alert id')}/snapshot"

    def camera_state(self, camera: str) -> str:
        return f"{self._prefix}/cameras/{check_segment(camera, 'camera id')}/state"

    def sensor_state(self, sensor: str) -> str:
        return f"{self._prefix}/sensors/{check_segment(sensor, 'sensor id')}/state"

    def actuator(self, name: str) -> str:
        return f"{self._prefix}/actuators/{check_segment(name, 'actuator name')}"

    def cmd(self, command: str) -> str:
        """The topic the platform publishes command `command` on (e.g. `ack`)."""
        return f"{self._prefix}/cmd/{check_segment(command, 'command')}"

    def cmd_base(self) -> str:
        """What every command topic starts with; the command name follows."""
        return f"{self._prefix}/cmd/"

    def responses(self) -> str:
        """Where the node answers each command (ok or why not)."""
        return f"{self._prefix}/responses"

    def camera_snapshot(self, camera: str) -> str:
        """A fresh JPEG of a camera, published on the `snapshot` command."""
        return f"{self._prefix}/cameras/{check_segment(camera, 'camera id')}/snapshot"

    def cmd_filter(self) -> str:
        """The subscription filter for every command addressed to this node."""
        return f"{self._prefix}/cmd/#"

    def all_filter(self) -> str:
        """A subscription filter matching everything this node publishes or receives."""
        return f"{self._prefix}/#"

    def __repr__(self) -> str:
        return f"Topics({self._prefix!r})"
