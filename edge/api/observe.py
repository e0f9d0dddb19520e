"""The node seen from outside: the /api/status document and the /metrics families.

Only counters and snapshots that are safe to read from another thread are used: capture stats
(under the capture's lock), pipeline stats (plain integers the worker increments), the sensor
hub's counters (under its lock), publisher stats and the outbox size.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from edge import __version__
from edge.alerts.payload import iso
from edge.api.metrics import Family, counter, gauge
from edge.status import decode_json

if TYPE_CHECKING:
    from edge.app import Node


def _wall(node: Node, mono: float | None) -> float | None:
    if mono is None:
        return None
    return node.clock.now() - (node.clock.monotonic() - mono)


def _cameras(node: Node) -> list[dict[str, Any]]:
    now = node.clock.monotonic()
    out = []
    for cam in node.site.settings.cameras:
        stats = node.cameras.capture_stats(cam.id) if cam.enabled else None
        last = stats.last_frame_ts if stats else None
        # By the last frame only: a looped file or a reconnecting stream is briefly not
        # "connected" between two frames without being offline.
        online = last is not None and now - last < cam.offline_after_s
        wall = _wall(node, last)
        out.append({
            "id": cam.id, "location": cam.location, "grid": cam.grid, "enabled": cam.enabled,
            "online": online, "fps": round(stats.fps, 2) if stats else 0.0,
            "last_frame_at": iso(wall) if wall is not None else None,
            "frames_read": stats.frames_read if stats else 0,
            "frames_dropped": stats.frames_dropped if stats else 0,
            "reconnects": stats.reconnects if stats else 0, "zones": len(cam.zones),
            # Pages show what the installer named a zone, not its id.
            "zone_names": {z.id: z.name for z in cam.zones},
            "degraded": node.cameras.degraded(cam.id),
            "decode": decode_json(stats.decode if stats else None),
            "frames_decoded": stats.decode.frames_decoded if stats and stats.decode else 0,
        })  # fmt: skip
    return out


def _sensors(node: Node) -> list[dict[str, Any]]:
    counters = node.sensors.counters
    out = []
    for s in node.site.settings.sensors:
        seen = _wall(node, counters.last_seen.get(s.id))
        out.append({
            "id": s.id, "kind": s.kind.value, "name": s.name, "location": s.location,
            "grid": s.grid, "enabled": s.enabled,
            # Read over the node's broker link (or Modbus): unheard while that link is down.
            "via": "mqtt" if s.mqtt is not None else "modbus",
            "online": s.enabled and seen is not None and s.id not in counters.offline,
            "last_seen_at": iso(seen) if seen is not None else None,
        })  # fmt: skip
    return out


def node_status(node: Node) -> dict[str, Any]:
    settings = node.site.settings
    open_alerts = node.manager.open_alerts()
    down = _wall(node, node.link.down_since)
    return {
        "node": {
            "site": {"id": settings.site.id, "name": settings.site.name or settings.site.id},
            "id": settings.node.id,
            "version": __version__,
            "started_at": iso(node.started_at),
            "broker_connected": node.link.connected,
            "broker_down_since": iso(down) if down is not None else None,
            "outbox_backlog": node.outbox.size(),
        },
        "cameras": _cameras(node),
        "sensors": _sensors(node),
        "alerts": {
            "open": len(open_alerts),
            "by_kind": dict(Counter(r.kind.value for r in open_alerts)),
        },
    }


def _camera_families(node: Node) -> list[Family]:
    fps = gauge("gs_camera_fps", "Frames per second read from the camera (last 5 s).")
    online = gauge("gs_camera_online", "1 when frames arrive, 0 when the camera is offline.")
    read = counter("gs_camera_frames_read_total", "Frames read from the camera.")
    dropped = counter(
        "gs_camera_frames_dropped_total",
        "Frames replaced before detection took them (includes frames beyond detect_fps).",
    )
    reconnects = counter("gs_camera_reconnects_total", "Reconnections to the camera.")
    degraded = gauge(
        "gs_camera_degraded",
        "1 while the camera is judged below its detect_fps (decoding or detection behind).",
    )
    keyframes = gauge(
        "gs_camera_keyframes_only", "1 when only keyframes are decoded, 0 for every frame."
    )
    interval = gauge(
        "gs_camera_keyframe_interval_seconds", "Measured seconds between the stream's keyframes."
    )
    decoded = counter("gs_camera_frames_decoded_total", "Frames the decoder was given and decoded.")
    errors = counter("gs_camera_decode_errors_total", "Corrupt or undecodable frames.")
    for cam in _cameras(node):
        fps.add(cam["fps"], camera=cam["id"])
        online.add(cam["online"], camera=cam["id"])
        read.add(cam["frames_read"], camera=cam["id"])
        dropped.add(cam["frames_dropped"], camera=cam["id"])
        reconnects.add(cam["reconnects"], camera=cam["id"])
        degraded.add(cam["degraded"], camera=cam["id"])
        dec = cam["decode"]
        if dec is not None:
            keyframes.add(dec["mode"] == "keyframes", camera=cam["id"])
            if dec["keyframe_interval_s"] is not None:
                interval.add(dec["keyframe_interval_s"], camera=cam["id"])
            decoded.add(cam["frames_decoded"], camera=cam["id"])
            errors.add(dec["errors"], camera=cam["id"])
    return [fps, online, read, dropped, reconnects, degraded, keyframes, interval, decoded, errors]


def _pipeline_families(node: Node) -> list[Family]:
    frames = counter("gs_pipeline_frames_total", "Frames judged by the pipeline.")
    runs = counter("gs_detections_run_total", "Frames on which the model ran.")
    skips = counter(
        "gs_detections_skipped_total", "Frames the motion gate judged without running the model."
    )
    seconds = counter("gs_inference_seconds_total", "Time spent in the model.")
    mean = gauge("gs_inference_ms", "Mean inference time per model run, milliseconds.")
    for rt in node.cameras.runtimes:
        s, cid = rt.pipeline.stats, rt.camera_id
        frames.add(s.frames, camera=cid)
        runs.add(s.detections_run, camera=cid)
        skips.add(s.detections_skipped, camera=cid)
        seconds.add(s.inference_s, camera=cid)
        mean.add(1000.0 * s.inference_s / s.detections_run if s.detections_run else 0.0, camera=cid)
    errors = counter("gs_worker_errors_total", "Errors in the detection worker (frames, chores).")
    return [frames, runs, skips, seconds, mean, errors.add(node.worker_errors)]


def _delivery_families(node: Node) -> list[Family]:
    p = node.publisher.stats()
    return [
        gauge("gs_broker_connected", "1 while connected to the MQTT broker.").add(p.connected),
        gauge("gs_outbox_backlog", "Messages in the outbox: unsent plus awaiting PUBACK.").add(
            p.backlog
        ),
        gauge("gs_publisher_in_flight", "Messages sent and awaiting PUBACK.").add(p.in_flight),
        gauge("gs_outbox_oldest_age_seconds", "Age of the oldest message in the outbox.").add(
            p.oldest_age_s or 0.0
        ),
        counter("gs_published_total", "Messages handed to the broker.").add(p.published),
        counter("gs_acked_total", "Messages acknowledged by the broker.").add(p.acked),
        counter("gs_resent_total", "Messages sent again after a reconnect.").add(p.resent),
        counter("gs_rejected_total", "Messages the MQTT client refused.").add(p.rejected),
    ]


def _sensor_families(node: Node) -> list[Family]:
    c = node.sensors.counters
    now = node.clock.monotonic()
    age = gauge("gs_sensor_last_seen_age_seconds", "Seconds since the sensor's last message.")
    online = gauge("gs_sensor_online", "1 while the sensor reports, 0 when silent or offline.")
    for s in node.site.settings.sensors:
        seen = c.last_seen.get(s.id)
        if seen is not None:
            age.add(max(0.0, now - seen), sensor=s.id)
        online.add(seen is not None and s.id not in c.offline, sensor=s.id)
    malformed = counter("gs_sensor_malformed_total", "Sensor messages refused, by reason.")
    for reason, n in sorted(c.malformed.items()):
        malformed.add(n, reason=reason)
    return [
        age, online, malformed,
        counter("gs_sensor_messages_total", "Sensor messages received.").add(c.received),
        counter("gs_sensor_decoded_total", "Sensor messages decoded.").add(c.decoded),
        counter("gs_sensor_unknown_topic_total", "Messages on no sensor's topic.").add(
            c.unknown_topics
        ),
        counter("gs_sensor_rule_errors_total", "Errors in sensor rules.").add(c.rule_errors),
    ]  # fmt: skip


def _alert_families(node: Node) -> list[Family]:
    by = Counter((r.kind.value, r.state) for r in node.manager.open_alerts())
    alerts = gauge("gs_alerts_open", "Open alerts by kind and state (open, acknowledged).")
    for (kind, state), n in sorted(by.items()):
        alerts.add(n, kind=kind, state=state)
    commands = counter("gs_commands_total", "Platform commands over MQTT, by outcome.")
    for name, n in sorted(node.commands.counters.items()):
        commands.add(n, outcome=name)
    refused = counter(
        "gs_commands_refused_total",
        "Platform commands not obeyed, by cause (unsigned, malformed, bad_signature, stale, "
        "replayed, no_key, retained).",
    )
    for cause, n in sorted(node.commands.refused.items()):
        refused.add(n, cause=cause)
    manager = node.manager
    return [
        alerts, commands, refused,
        gauge("gs_alert_transitions_waiting", "Transitions held in memory for the disk.").add(
            manager.pending_count
        ),
        counter("gs_alert_write_failures_total", "Failed durable writes of transitions.").add(
            manager.write_failures
        ),
        counter("gs_alert_transitions_dropped_total", "Transitions dropped, queue full.").add(
            manager.dropped
        ),
        gauge("gs_storage_fault", "1 while a storage_fault alert is raised.").add(
            int(manager.storage_faulted)
        ),
        counter("gs_snapshots_published_total", "Evidence JPEGs queued for MQTT.").add(
            manager.snapshots_published
        ),
        counter("gs_snapshots_mqtt_skipped_total", "Evidence over mqtt.snapshot_max_kib.").add(
            manager.snapshots_too_large
        ),
    ]  # fmt: skip


def node_metrics(node: Node) -> list[Family]:
    info = gauge("gs_build_info", "The node's version.").add(1, version=__version__)
    started = gauge("gs_start_time_seconds", "When the node started, Unix time.")
    return [
        info,
        started.add(node.started_at),
        *_camera_families(node),
        *_pipeline_families(node),
        *_delivery_families(node),
        *_sensor_families(node),
        *_alert_families(node),
    ]
