"""Everything one app instance shares between its routes (no module-level state anywhere)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.api.auth import Auth
from edge.api.backend import NodeBackend
from edge.api.configfile import ConfigFile
from edge.api.connections import ConnectionGuard, HttpLimits
from edge.api.events import EventHub
from edge.api.metrics import Family, counter, gauge


@dataclass
class ApiContext:
    backend: NodeBackend
    auth: Auth
    hub: EventHub
    config: ConfigFile
    # Where the node's stores were opened; a storage.dir change applies at the next restart.
    storage: Path
    # The HTTP server's connection bookkeeping (limits fixed at start, like host and port).
    connections: ConnectionGuard
    # One clip test at a time: a replay is CPU-bound and shares the cores with live detection.
    test_lock: threading.Lock = field(default_factory=threading.Lock)
    alert_events: Counter[tuple[str, str]] = field(default_factory=Counter)
    _counter_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, backend: NodeBackend) -> ApiContext:
        site = backend.site
        listening_on = site.settings.api.host  # reads are protected by where it listens
        ctx = cls(
            backend=backend,
            auth=Auth(
                backend.api_token,
                lambda: backend.site.settings.api.reads_protected(listening_on),
            ),
            hub=EventHub(),
            config=ConfigFile(site.path, site.models_dir_override),
            storage=site.storage_dir,
            connections=ConnectionGuard(HttpLimits.from_api(site.settings.api)),
        )
        backend.add_alert_listener(ctx.on_alert)
        return ctx

    @property
    def snapshots_dir(self) -> Path:
        return self.storage / "snapshots"

    @property
    def clips_dir(self) -> Path:
        return self.storage / "clips"

    @property
    def test_snapshots_dir(self) -> Path:
        return self.storage / "replay-snapshots"

    def on_alert(self, payload: dict[str, Any]) -> None:
        """The alert manager's listener: count, then fan out to the event streams."""
        with self._counter_lock:
            self.alert_events[(str(payload.get("kind")), str(payload.get("event")))] += 1
        self.hub.publish_alert(payload)

    def api_metrics(self) -> list[Family]:
        events = counter(
            "gs_alert_events_total", "Alert transitions published since start, by kind and event."
        )
        with self._counter_lock:
            for (kind, event), n in sorted(self.alert_events.items()):
                events.add(n, kind=kind, event=event)
        return [
            events,
            gauge("gs_api_event_clients", "Pages connected to /api/events.").add(self.hub.clients),
            counter("gs_api_event_clients_dropped_total", "Event clients dropped as too slow.").add(
                self.hub.dropped
            ),
            gauge("gs_api_connections", "Open HTTP connections.").add(self.connections.open_count),
            self._dropped_connections(),
        ]

    def _dropped_connections(self) -> Family:
        family = counter(
            "gs_api_connections_dropped_total",
            "HTTP connections closed by the node, by reason (evicted, refused, header_timeout, "
            "body_timeout).",
        )
        for reason, n in sorted(dict(self.connections.dropped).items()):
            family.add(n, reason=reason)
        return family
