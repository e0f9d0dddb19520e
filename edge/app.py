"""The composition root: builds every part of a live node from a SiteConfig and wires them.

Start order follows the data flow backwards (nothing produces before its consumer exists):
outbox -> MQTT link -> publisher -> detection workers -> cameras. Stop is the reverse, and the
last thing said to the broker is the retained `offline` status. A `reload` command rebuilds
only the camera side (captures, pipelines, workers); the outbox, the link and the alert state
carry on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import cv2

from edge.alerts.actuators import ActuatorDriver
from edge.alerts.evidence import SnapshotStore, annotate
from edge.alerts.ids import UlidFactory
from edge.alerts.lifecycle import LifecyclePolicy
from edge.alerts.manager import AlertManager
from edge.alerts.outbox import Outbox
from edge.alerts.payload import JsonDict
from edge.alerts.store import AlertRecord, AlertStore
from edge.api.app import create_app
from edge.api.backend import LiveBackend
from edge.api.server import ApiServer
from edge.cameras import CameraSet, Lane
from edge.clock import Clock
from edge.commandauth import CommandGate, SqliteNonces
from edge.commands import CommandHandler, Outcome
from edge.config.check import check_config
from edge.config.loader import ConfigError, SiteConfig
from edge.config.model import LiftActions
from edge.messages import AlertEvent, AlertKind
from edge.mqtt.clientid import client_id
from edge.mqtt.link import MqttLink
from edge.mqtt.publisher import Publisher
from edge.mqtt.security import broker_settings
from edge.mqtt.topics import Topics
from edge.parts import (
    build_lanes,
    lifecycle_policy,
    node_identity,
    places_of,
    sensor_places,
    stamper_for,
)
from edge.sensors.hub import SensorHub, SensorState
from edge.status import camera_state_payload, decode_json, sensor_state_payload, status_payload
from edge.verify.feedback import save_feedback
from edge.verify.runtime import LiftVerifier
from edge.video.clips import ClipStore, ClipWriter, alert_clips_dir
from edge.worker import DetectionWorker
from grid_contract.signing import Verifier

log = logging.getLogger(__name__)


class OutboxSink:
    """Messages go to disk first; the publisher takes them to the broker."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def deliver(self, topic: str, payload: bytes) -> None:
        self._outbox.put(topic, payload, qos=1, retain=False)


def lift_actions(site: SiteConfig) -> dict[tuple[str, str], LiftActions]:
    return {
        (c.id, z.id): z.actions
        for c in site.settings.cameras
        for z in c.zones
        if z.actions is not None
    }


class Node:
    """A running edge node. `Node(site, clock)`, then `start()` and `stop()`.

    `lanes` replaces the detectors the config would build (tests and benchmarks share theirs).
    """

    def __init__(
        self, site: SiteConfig, clock: Clock, *, lanes: Sequence[Lane] | None = None
    ) -> None:
        settings = site.settings
        self.site = site
        self.clock = clock
        self.topics = Topics(settings.topic_prefix)
        storage = site.storage_dir
        self.outbox = Outbox(
            storage / "outbox.sqlite3", clock=clock, max_rows=settings.storage.max_outbox_rows
        )
        self.sink = OutboxSink(self.outbox)
        self.started_at = clock.now()
        self.link = self._build_link()
        self.publisher = Publisher(
            self.outbox, self.link, clock=clock, window=settings.mqtt.max_inflight
        )
        self.store = AlertStore(storage / "alerts.sqlite3")
        # Evidence clips: each camera keeps its last seconds of stream; an alert's are written
        # by one thread (`storage.clips_max_mib` bounds the directory, like the snapshots').
        self.clips = ClipWriter(
            ClipStore(alert_clips_dir(storage), max_bytes=settings.storage.clips_max_mib * 2**20)
        )
        self.cameras = CameraSet(
            site, clock, lanes or build_lanes(site), clip_sink=self.clips.submit
        )
        self.manager = AlertManager(
            node_identity(settings, clips=True),
            places_of(settings),
            topics=self.topics,
            clock=clock,
            sink=self.sink,
            snapshots=SnapshotStore(
                storage / "snapshots",
                max_bytes=settings.storage.snapshots_max_mib * 2**20,
                stamper=stamper_for(site),
            ),
            new_id=UlidFactory(clock),
            store=self.store,
            snapshot_mqtt_max_bytes=settings.mqtt.snapshot_max_kib * 1024,
        )
        self.sensors = SensorHub(
            [s for s in settings.sensors if s.enabled],
            clock,
            self._sensor_events,
            on_state=self.publish_sensor_state,
        )
        self.manager.reconfigure(
            places_of(settings), sensor_places(settings), self._policy(site), rebase=False
        )
        self.actuators = ActuatorDriver(lift_actions(site), self.topics, self.sink, clock)
        self.manager.add_listener(self.actuators)
        self.manager.add_listener(self._verifier_feedback)
        self.manager.add_listener(self._clip_for_alert)
        self.nonces = SqliteNonces(storage / "commands.sqlite3", clock)
        self.commands = CommandHandler(
            self.manager, self.topics, self.sink, clock,
            reload=self.reload, snapshot=self.snapshot, gate=self._command_gate(site),
        )  # fmt: skip
        self.workers = self._build_workers()
        self.api: ApiServer | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def _verifier_feedback(self, record: AlertRecord, payload: JsonDict) -> None:
        """A lift alarm the platform released is a labelled negative for the next training,
        one it resolved (handled on site) a confirmed e-bike."""
        verifier = self.cameras.verifier
        label = {"released": "other", "resolved": "ebike"}.get(str(payload["event"]))
        crop_id = record.detail.get("crop_id")
        if not isinstance(verifier, LiftVerifier) or label is None or not isinstance(crop_id, str):
            return
        crop = verifier.crops.load(crop_id) if verifier.crops else None
        if crop is not None:
            save_feedback(crop, label, self.site.storage_dir / "verifier" / "feedback")

    def _clip_for_alert(self, record: AlertRecord, payload: JsonDict) -> None:
        """A zone alert just raised: its camera gathers the clip around this moment."""
        if payload.get("event") != "raised" or record.camera_id is None:
            return
        if record.kind is AlertKind.CAMERA_OFFLINE or record.zone_id is None:
            return
        if not self.cameras.request_clip(record.camera_id, record.id, self.clock.monotonic()):
            log.warning(
                "alert %s: no clip (camera %s holds no H.264 or H.265 packets: just connected, "
                "another codec, or a capture device)", record.id, record.camera_id,
            )  # fmt: skip

    def _command_gate(self, site: SiteConfig) -> CommandGate:
        key = site.command_key()
        commands = site.settings.commands
        verifier = (
            Verifier(key, self.nonces, max_age_s=commands.max_age_s) if key is not None else None
        )
        return CommandGate(verifier, self.clock, allow_unsigned=commands.allow_unsigned)

    def _policy(self, site: SiteConfig) -> LifecyclePolicy:
        return lifecycle_policy(site, self.cameras.first_frame_after, self.sensors.first_heard)

    def _sensor_events(self, events: list[AlertEvent]) -> None:
        # Called on the MQTT network thread or a Modbus poller; the manager is thread-safe.
        self.manager.handle(events)

    def _build_link(self) -> MqttLink:
        settings = self.site.settings
        clock = self.clock

        def online() -> bytes:
            return status_payload(
                settings.site.id, settings.site.name, settings.node.id, online=True,
                ts=clock.now(), started_at=self.started_at, cameras=len(settings.cameras),
                sensors=len(settings.sensors),
            )  # fmt: skip

        return MqttLink(
            broker_settings(self.site),
            client_id=client_id(
                self.site.storage_dir, settings.site.id, settings.node.id, settings.mqtt.client_id
            ),
            status_topic=self.topics.status(),
            online_payload=online,
            offline_payload=status_payload(
                settings.site.id,
                settings.site.name,
                settings.node.id,
                online=False,
                ts=self.started_at,
                started_at=None,
            ),
            clock=clock,
            keepalive_s=settings.mqtt.keepalive_s,
            # An alarm system should not wait half a minute to reconnect after an outage.
            reconnect_max_s=10.0,
            # A persistent session: the broker queues the QoS 1 sensor alarms and commands
            # sent while the node is cut off or restarting, and delivers them on reconnect.
            clean_session=False,
        )

    def _build_workers(self) -> list[DetectionWorker]:
        chores = [self.manager.tick, lambda: self.sensors.check(self.clock.monotonic())]
        return [
            DetectionWorker(
                self.cameras.of_lane(k),
                self.manager,
                self.clock,
                on_camera_state=self.publish_camera_state,
                housekeeping=chores if k == 0 else (),  # once per node, not once per lane
            )
            for k in range(len(self.cameras.lanes))
        ]

    @property
    def worker_errors(self) -> int:
        return sum(w.errors for w in self.workers)

    def start(self) -> None:
        settings = self.site.settings
        log.info(
            "starting node %s/%s: %d cameras in %d detection lane(s), broker %s",
            settings.site.id, settings.node.id, len(self.cameras.captures),
            len(self.workers), self.link.address.display(),
        )  # fmt: skip
        self.link.subscribe(
            self.topics.cmd_filter(), 1, self.commands.handle,
            on_retained=self.commands.ignore_retained,
        )  # fmt: skip
        for topic in self.sensors.mqtt_topics():
            self.link.subscribe(topic, 1, self.sensors.handle_mqtt)
        self.link.start()
        self.publisher.start()
        for worker in self.workers:
            worker.start()
        self.sensors.start()
        self.clips.start()
        self.cameras.start()
        self._start_api()

    def _start_api(self) -> None:
        api = self.site.settings.api
        if api.enabled:
            self.api = ApiServer(create_app(LiveBackend(self)), api.host, api.port)
            self.api.start()

    def stop(self, drain_timeout_s: float = 2.0) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.api is not None:
            self.api.stop()
        self.cameras.stop()
        self.sensors.stop()
        for worker in self.workers:
            worker.stop()
        self.clips.stop()
        self.publisher.stop(drain_timeout_s)
        self.link.stop()
        self.outbox.close()
        self.store.close()
        self.nonces.close()
        log.info("node stopped")

    def reload(self) -> Outcome:
        """Re-read the config file; a bad one is refused and the running one kept."""
        try:
            # The check `edge run` makes: a file accepted here starts the node after a reboot.
            new = check_config(self.site.path, models_dir=self.site.models_dir_override)
        except ConfigError as exc:
            return Outcome(False, "config refused, running one kept:\n" + str(exc))
        changed = new.settings.models != self.site.settings.models
        lanes = build_lanes(new) if changed else None
        with self._lock:
            self.cameras.stop()
            for worker in self.workers:
                worker.stop()
            self.site = new
            self.cameras = self.cameras.rebuilt(new, lanes)
            self.manager.reconfigure(
                places_of(new.settings), sensor_places(new.settings), self._policy(new)
            )
            self.actuators.actions = lift_actions(new)
            self.workers = self._build_workers()
            for worker in self.workers:
                worker.start()
            self.cameras.start()
        note = " (mqtt, storage, sensor and command-key changes apply at the next restart)"
        log.info("config reloaded from %s", new.path)
        return Outcome(True, f"reloaded {len(new.settings.cameras)} cameras{note}")

    def snapshot(self, camera_id: str) -> Outcome:
        """Publish the camera's latest picture, zones drawn, as JPEG bytes."""
        frame = self.cameras.latest_frame(camera_id)
        if frame is None:
            return Outcome(False, f"no picture from camera {camera_id!r} yet (or no such camera)")
        zones = [list(z.polygon) for z in self.site.settings.camera(camera_id).zones]
        image = frame.image
        for zone in zones:
            image = annotate(image, zone, ())
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            return Outcome(False, "could not encode the picture")
        self.sink.deliver(self.topics.camera_snapshot(camera_id), buf.tobytes())
        return Outcome(True, f"snapshot of {camera_id} published ({len(buf)} bytes)")

    def _wall(self, monotonic: float | None) -> float | None:
        """A monotonic time of this process as Unix time, for payloads."""
        return (
            None if monotonic is None else self.clock.now() - (self.clock.monotonic() - monotonic)
        )

    def publish_sensor_state(self, state: SensorState) -> None:
        payload = sensor_state_payload(
            state.sensor_id, state.kind, online=state.online, ts=self.clock.now(),
            last_reading_at=self._wall(state.last_heard), values=dict(state.values),
        )  # fmt: skip
        self.outbox.put(self.topics.sensor_state(state.sensor_id), payload, qos=1, retain=True)

    def publish_camera_state(self, camera_id: str, online: bool) -> None:
        stats = self.cameras.capture_stats(camera_id)
        if stats is None:
            return
        payload = camera_state_payload(
            camera_id, online=online, ts=self.clock.now(),
            last_frame_at=self._wall(stats.last_frame_ts),
            fps=stats.fps, frames_dropped=stats.frames_dropped, reconnects=stats.reconnects,
            degraded=self.cameras.degraded(camera_id), decode=decode_json(stats.decode),
        )  # fmt: skip
        self.outbox.put(self.topics.camera_state(camera_id), payload, qos=1, retain=True)
