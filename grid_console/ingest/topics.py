"""Which contract topic a message came on, and the subscriptions that cover every node.

Nodes publish under `{root}/{site}/{node}` (the default prefix, mqtt/topics.md). Each topic is
checked against what grid_contract.topics builds for that prefix, so the console and the node
agree on the shapes by construction, not by two copies of the same string formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from grid_contract.topics import Topics, check_prefix, check_segment


class Channel(StrEnum):
    ALERT = "alert"
    SNAPSHOT = "snapshot"
    STATUS = "status"
    CAMERA_STATE = "camera_state"
    SENSOR_STATE = "sensor_state"


@dataclass(frozen=True, slots=True)
class Route:
    channel: Channel
    site: str
    node: str
    prefix: str
    # The alert kind, camera id or sensor id the topic names (None for status).
    subject: str | None = None
    alert_id: str | None = None  # snapshots only


class TopicMap:
    def __init__(self, root: str, share_group: str | None = None) -> None:
        self.root = check_prefix(root)
        if share_group is not None:
            check_segment(share_group, "share group")
        self.share_group = share_group
        self._root_levels = len(root.split("/"))

    def filters(self) -> list[str]:
        """QoS 1 subscriptions, as sent to the broker (`$share/{group}/...` for replicas)."""
        node = f"{self.root}/+/+"
        plain = [
            f"{node}/status",
            f"{node}/alerts/+",
            f"{node}/alerts/+/+/snapshot",
            f"{node}/cameras/+/state",
            f"{node}/sensors/+/state",
        ]
        if self.share_group is None:
            return plain
        return [f"$share/{self.share_group}/{f}" for f in plain]

    def route(self, topic: str) -> Route | None:
        """What `topic` is, or None if it is none of the contract's topics we subscribe to."""
        levels = topic.split("/")
        if levels[: self._root_levels] != self.root.split("/"):
            return None
        rest = levels[self._root_levels :]
        if len(rest) < 3:
            return None
        site, node, tail = rest[0], rest[1], rest[2:]
        try:
            topics = Topics(f"{self.root}/{site}/{node}")
            return _match(topics, site, node, tail, topic)
        except ValueError:  # a level that cannot be an id
            return None


def _match(topics: Topics, site: str, node: str, tail: list[str], topic: str) -> Route | None:
    prefix = topics.prefix
    if tail == ["status"]:
        return Route(Channel.STATUS, site, node, prefix)
    if len(tail) == 2 and tail[0] == "alerts" and topic == topics.alert(tail[1]):
        return Route(Channel.ALERT, site, node, prefix, subject=tail[1])
    if (
        len(tail) == 4
        and topic == topics.alert_snapshot(tail[1], tail[2])
        and tail[3] == "snapshot"
    ):
        return Route(Channel.SNAPSHOT, site, node, prefix, subject=tail[1], alert_id=tail[2])
    if len(tail) == 3 and tail[0] == "cameras" and topic == topics.camera_state(tail[1]):
        return Route(Channel.CAMERA_STATE, site, node, prefix, subject=tail[1])
    if len(tail) == 3 and tail[0] == "sensors" and topic == topics.sensor_state(tail[1]):
        return Route(Channel.SENSOR_STATE, site, node, prefix, subject=tail[1])
    return None
