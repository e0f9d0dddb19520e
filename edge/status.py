"""Retained state messages: the node's status (and its last will), each camera's and each
sensor's state."""

from __future__ import annotations

import json

from edge import __version__
from edge.alerts.manager import iso
from edge.video.decoding import DecodeState

STATUS_SCHEMA = "grid-sentinel.status/1"
CAMERA_SCHEMA = "grid-sentinel.camera_state/1"
SENSOR_SCHEMA = "grid-sentinel.sensor_state/1"


def status_payload(
    site_id: str,
    site_name: str,
    node_id: str,
    *,
    online: bool,
    ts: float,
    started_at: float | None,
    cameras: int | None = None,
    sensors: int | None = None,
) -> bytes:
    return json.dumps(
        {
            "schema": STATUS_SCHEMA,
            "site": {"id": site_id, "name": site_name or site_id},
            "node": node_id,
            "state": "online" if online else "offline",
            "version": __version__,
            "started_at": iso(started_at) if started_at is not None else None,
            "ts": iso(ts),
            "cameras": cameras,
            "sensors": sensors,
        }
    ).encode()


def camera_state_payload(
    camera_id: str,
    *,
    online: bool,
    ts: float,
    last_frame_at: float | None,
    fps: float | None,
    frames_dropped: int,
    reconnects: int,
    degraded: bool = False,
    decode: dict[str, object] | None = None,
) -> bytes:
    state = "offline" if not online else "degraded" if degraded else "online"
    extra = {"decode": decode} if decode is not None else {}
    return json.dumps(
        {
            "schema": CAMERA_SCHEMA,
            "camera": camera_id,
            "state": state,
            "ts": iso(ts),
            "last_frame_at": iso(last_frame_at) if last_frame_at is not None else None,
            "fps": round(fps, 2) if fps is not None else None,
            "frames_dropped": frames_dropped,
            "reconnects": reconnects,
            **extra,
        }
    ).encode()


def decode_json(state: DecodeState | None) -> dict[str, object] | None:
    """A camera's decoding for its state message and /api/status."""
    if state is None:
        return None
    interval = state.keyframe_interval_s
    return {
        "mode": state.mode.value,
        "substream": state.substream,
        "keyframe_interval_s": round(interval, 3) if interval is not None else None,
        "degraded": state.degraded,
        "lag_s": round(state.lag_s, 3),
        "errors": state.decode_errors,
    }


def sensor_state_payload(
    sensor_id: str,
    kind: str,
    *,
    online: bool,
    ts: float,
    last_reading_at: float | None,
    values: dict[str, float | bool],
) -> bytes:
    return json.dumps(
        {
            "schema": SENSOR_SCHEMA,
            "sensor": sensor_id,
            "kind": kind,
            "state": "online" if online else "offline",
            "ts": iso(ts),
            "last_reading_at": iso(last_reading_at) if last_reading_at is not None else None,
            "values": values,
        },
        ensure_ascii=False,
    ).encode()
