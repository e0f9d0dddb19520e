"""The composition root: builds every part of a live node from a SiteConfig and wires them.

Start order follows the data flow backwards (nothing produces before its consumer exists):
outbox -> MQTT link -> publisher -> detection worker -> cameras. Stop is the reverse, and the
last thing said to the broker is the retained `offline` status.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from edge.alerts.evidence import SnapshotStore
from edge.alerts.ids import UlidFactory
from edge.alerts.manager import AlertManager
from edge.alerts.outbox import Outbox
from edge.clock import Clock
from edge.config.loader import SiteConfig
from edge.mqtt.link import MqttLink, parse_broker_url
from edge.mqtt.publisher import Publisher
from edge.mqtt.topics import Topics
from edge.parts import build_detector, motion_gate_for, node_identity, places_of
from edge.pipeline import CameraPipeline, Detector
from edge.rules.health import CameraHealth
from edge.status import camera_state_payload, status_payload
from edge.video.capture import CameraCapture
from edge.video.slot import LatestFrameSlot
from edge.worker import CameraRuntime, DetectionWorker

log = logging.getLogger(__name__)


class OutboxSink:
    """Alert events go to disk first; the publisher takes them to the broker."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def deliver(self, topic: str, payload: bytes) -> None:
        self._outbox.put(topic, payload, qos=1, retain=False)


@dataclass
class Node:
    """A running edge node. Build with `Node.build`, then `start()` and `stop()`."""

    site: SiteConfig
    clock: Clock
    topics: Topics
    outbox: Outbox
    link: MqttLink
    publisher: Publisher
    manager: AlertManager
    worker: DetectionWorker
    runtimes: list[CameraRuntime]
    captures: list[CameraCapture]
    started_at: float = 0.0
    _stopped: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def build(cls, site: SiteConfig, clock: Clock, *, detector: Detector | None = None) -> Node:
        settings = site.settings
        topics = Topics(settings.topic_prefix)
        storage = site.storage_dir
        outbox = Outbox(
            storage / "outbox.sqlite3", clock=clock, max_rows=settings.storage.max_outbox_rows
        )
        started_at = clock.now()
        cameras = [c for c in settings.cameras if c.enabled]

        def online() -> bytes:
            return status_payload(
                settings.site.id,
                settings.site.name,
                settings.node.id,
                online=True,
                ts=clock.now(),
                started_at=started_at,
                cameras=len(cameras),
                sensors=0,
            )

        link = MqttLink(
            parse_broker_url(settings.mqtt.url),
            client_id=settings.mqtt.client_id or f"gs-{settings.site.id}-{settings.node.id}",
            status_topic=topics.status(),
            online_payload=online,
            offline_payload=status_payload(
                settings.site.id,
                settings.site.name,
                settings.node.id,
                online=False,
                ts=started_at,
                started_at=None,
            ),
            clock=clock,
            keepalive_s=settings.mqtt.keepalive_s,
            # An alarm system should not wait half a minute to reconnect after an outage.
            reconnect_max_s=10.0,
        )
        publisher = Publisher(outbox, link, clock=clock, window=settings.mqtt.max_inflight)
        manager = AlertManager(
            node_identity(settings),
            places_of(settings),
            topics=topics,
            clock=clock,
            sink=OutboxSink(outbox),
            snapshots=SnapshotStore(storage / "snapshots"),
            new_id=UlidFactory(clock),
        )
        shared_detector = detector or build_detector(site)
        runtimes, captures = [], []
        for cam in cameras:
            slot = LatestFrameSlot()
            pipeline = CameraPipeline(
                cam, shared_detector, gate=motion_gate_for(cam), timer=clock.monotonic
            )
            health = CameraHealth(cam.id, cam.offline_after_s, clock.monotonic())
            runtimes.append(CameraRuntime(pipeline, slot, health, 1.0 / cam.detect_fps))
            captures.append(CameraCapture(cam.id, site.camera_source(cam), slot, clock))
        worker = DetectionWorker(runtimes, manager, clock)
        node = cls(
            site,
            clock,
            topics,
            outbox,
            link,
            publisher,
            manager,
            worker,
            runtimes,
            captures,
            started_at,
        )
        worker.on_camera_state = node.publish_camera_state
        return node

    def start(self) -> None:
        log.info(
            "starting node %s/%s: %d cameras, broker %s",
            self.site.settings.site.id,
            self.site.settings.node.id,
            len(self.captures),
            parse_broker_url(self.site.settings.mqtt.url).display(),
        )
        self.link.start()
        self.publisher.start()
        self.worker.start()
        for capture in self.captures:
            capture.start()

    def stop(self, drain_timeout_s: float = 2.0) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        for capture in self.captures:
            capture.stop()
        self.worker.stop()
        self.publisher.stop(drain_timeout_s)
        self.link.stop()
        self.outbox.close()
        log.info("node stopped")

    def publish_camera_state(self, camera_id: str, online: bool) -> None:
        capture = next(c for c in self.captures if c.camera_id == camera_id)
        stats = capture.stats
        last = stats.last_frame_ts
        wall_last = None if last is None else self.clock.now() - (self.clock.monotonic() - last)
        payload = camera_state_payload(
            camera_id,
            online=online,
            ts=self.clock.now(),
            last_frame_at=wall_last,
            fps=stats.fps,
            frames_dropped=stats.frames_dropped,
            reconnects=stats.reconnects,
        )
        self.outbox.put(self.topics.camera_state(camera_id), payload, qos=1, retain=True)
