"""What the HTTP API needs from a node, and the adapter over the live `edge.app.Node`.

The routes only see `NodeBackend`, so the API can be served over anything that provides it;
`LiveBackend` is the one `edge run` uses. Every method is safe to call from the API's threads:
the node's parts it reaches (alert manager and store, frame slots, capture and sensor counters,
outbox) are the thread-safe meeting points listed in docs/architecture.md.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from edge.alerts.lifecycle import CommandResult
from edge.alerts.store import Actor
from edge.api.metrics import Family
from edge.api.observe import node_metrics, node_status
from edge.commands import Outcome
from edge.config.loader import SiteConfig
from edge.messages import Frame
from edge.parts import build_detector
from edge.pipeline import Detector, Seen, low_floor

if TYPE_CHECKING:
    from edge.app import Node

AlertListener = Callable[[dict[str, Any]], None]


class NodeBackend(Protocol):
    @property
    def site(self) -> SiteConfig:
        """The config the node runs now (changes on reload)."""
        ...

    def now(self) -> float:
        """Wall-clock time, from the node's clock."""
        ...

    def api_token(self) -> str | None: ...

    def status(self) -> dict[str, Any]:
        """The /api/status document."""
        ...

    def metrics(self) -> list[Family]: ...

    def latest_frame(self, camera_id: str) -> Frame | None: ...

    def latest_seen(self, camera_id: str) -> Seen | None:
        """What the model found on the camera's latest judged frame."""
        ...

    def alert_payloads(
        self,
        *,
        state: str | None,
        kind: str | None,
        camera: str | None,
        since: float | None,
        until: float | None,
        limit: int,
    ) -> list[str]:
        """Last payloads (JSON text) of matching alerts, newest first."""
        ...

    def alert_payload(self, alert_id: str) -> str | None: ...

    def command(self, action: str, alert_id: str, actor: Actor) -> CommandResult:
        """ack, release or resolve, through the alert manager (published like MQTT's)."""
        ...

    def add_alert_listener(self, listener: AlertListener) -> None:
        """Called with every alert payload the manager publishes, on the manager's thread."""
        ...

    def reload(self) -> Outcome:
        """Apply the config file as it is now on disk."""
        ...

    def test_detector(self, site: SiteConfig) -> Detector:
        """A detector for replays, never the one the live worker is using."""
        ...


class LiveBackend:
    """A `NodeBackend` over a running `edge.app.Node`."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._lock = threading.Lock()
        self._detector: Detector | None = None
        self._detector_key: object = None

    @property
    def site(self) -> SiteConfig:
        return self._node.site

    def now(self) -> float:
        return self._node.clock.now()

    def api_token(self) -> str | None:
        return self._node.site.api_token()

    def status(self) -> dict[str, Any]:
        return node_status(self._node)

    def metrics(self) -> list[Family]:
        return node_metrics(self._node)

    def latest_frame(self, camera_id: str) -> Frame | None:
        return self._node.cameras.latest_frame(camera_id)

    def latest_seen(self, camera_id: str) -> Seen | None:
        return self._node.cameras.latest_seen(camera_id)

    def alert_payloads(
        self,
        *,
        state: str | None,
        kind: str | None,
        camera: str | None,
        since: float | None,
        until: float | None,
        limit: int,
    ) -> list[str]:
        return self._node.store.query(
            state=state, kind=kind, camera=camera, since=since, until=until, limit=limit
        )

    def alert_payload(self, alert_id: str) -> str | None:
        return self._node.store.payload(alert_id)

    def command(self, action: str, alert_id: str, actor: Actor) -> CommandResult:
        return self._node.manager.command(action, alert_id, actor)

    def add_alert_listener(self, listener: AlertListener) -> None:
        self._node.manager.add_listener(lambda _record, payload: listener(payload))

    def reload(self) -> Outcome:
        return self._node.reload()

    def test_detector(self, site: SiteConfig) -> Detector:
        # The live detector reuses one input buffer, so a replay gets its own, kept between
        # tests while the model and the score floor stay the same.
        models = site.settings.models
        key = (site.detector_path, models, min((low_floor(c) for c in site.settings.cameras),
                                               default=0.1))  # fmt: skip
        with self._lock:
            if self._detector is None or key != self._detector_key:
                self._detector = build_detector(site)
                self._detector_key = key
            return self._detector
