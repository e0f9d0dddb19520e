"""The site configuration: pydantic models, validated once at start-up.

Every field is documented and bounded; unknown keys are refused (`extra="forbid"`), because a
misspelt `grace_s` silently falling back to a default is how a fire lane goes unwatched.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from edge.config.base import Identifier, StrictModel
from edge.config.secrets import Secret
from edge.config.sensors import Sensor, sensor_list_problems
from edge.messages import Category, Severity
from edge.mqtt.security import parse_broker_url
from edge.mqtt.topics import check_prefix
from edge.rules.geometry import polygon_problem
from grid_contract.hosts import is_loopback

# Bounds on lists: a node runs a capture thread per camera, and a polygon's self-crossing test
# is quadratic in its corners, so neither may grow without limit (the installer page draws
# polygons of a handful of corners).
MAX_CAMERAS = 256
MAX_ZONES_PER_CAMERA = 100
MAX_POLYGON_POINTS = 100
MAX_SENSORS = 1000


class ZoneKind(StrEnum):
    NO_PARKING = "no_parking"
    FIRE_LANE = "fire_lane"
    LIFT = "lift"


class Site(StrictModel):
    id: Identifier = Field(description="Site (community) id, used in topics and alerts.")
    name: str = Field("", max_length=200, description="Human-readable site name, e.g. 西镇社区.")


class Node(StrictModel):
    id: Identifier = Field(description="This edge node's id, unique within the site.")


class Tls(StrictModel):
    ca_file: str | None = Field(
        None, description="CA bundle that signed the broker's certificate; default: system CAs."
    )
    cert_file: str | None = Field(None, description="Client certificate (PEM), if required.")
    key_file: str | None = Field(None, description="Client certificate's private key (PEM).")
    insecure: bool = Field(
        False, description="Skip the broker host name check. Only for testing; never in the field."
    )

    @model_validator(mode="after")
    def _pair(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class Mqtt(StrictModel):
    url: str = Field(
        "mqtt://127.0.0.1:1883",
        max_length=2048,
        description="Broker URL: mqtt://[user:pass@]host[:port] or mqtts:// for TLS.",
    )
    topic_prefix: str | None = Field(
        None,
        max_length=200,
        description="Prefix of every topic; default grid/{site.id}/{node.id}.",
    )
    client_id: str | None = Field(
        None, max_length=128, description="MQTT client id; default gs-{site.id}-{node.id}."
    )
    keepalive_s: int = Field(30, ge=5, le=600, description="MQTT keep-alive interval.")
    max_inflight: int = Field(
        100, ge=1, le=1000, description="Alert messages in flight awaiting PUBACK."
    )
    username: str | None = Field(
        None, max_length=256, description="Broker user name (overrides one in the URL)."
    )
    password: Secret | None = Field(
        None,
        description="Broker password: inline, or {env: NAME} or {file: PATH}. Never logged.",
    )
    tls: Tls | None = Field(
        None, description="TLS settings; TLS is on for mqtts:// URLs or when this is given."
    )
    snapshot_max_kib: int = Field(
        512,
        ge=0,
        le=16_384,
        description="Largest evidence JPEG published on {prefix}/alerts/{kind}/{id}/snapshot, in "
        "KiB; a larger one is served over HTTP only (its URL and sha256 are in the event). "
        "0: never publish pictures over MQTT.",
    )

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if not v.startswith(("mqtt://", "mqtts://", "tcp://")):
            raise ValueError("must start with mqtt://, mqtts:// or tcp://")
        # What `edge run` connects to: a host, a port in 1..65535, no path.
        address = parse_broker_url(v)
        if any(c.isspace() or not c.isprintable() for c in address.host):
            raise ValueError("the host holds spaces or control characters")
        return v

    @field_validator("client_id", "username")
    @classmethod
    def _printable(cls, v: str | None) -> str | None:
        if v is not None and not v.isprintable():
            raise ValueError("must not hold control characters (NUL, newline, ...)")
        return v

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not v or v.startswith("/") or v.endswith("/") or "+" in v or "#" in v:
            raise ValueError("must be a non-empty topic without wildcards or edge slashes")
        check_prefix(v)  # every level a topic level: no NUL, control characters or empty level
        return v


def _default_classes() -> dict[Category, list[str]]:
    return {
        Category.VEHICLE: ["car", "truck", "bus"],
        Category.TWO_WHEELER: ["motorcycle", "bicycle"],
        Category.PERSON: ["person"],
    }


class Models(StrictModel):
    dir: str = Field(
        "models",
        description="Directory holding the ONNX models; relative to the config file. "
        "The --models-dir option or GRID_MODELS_DIR overrides it.",
    )
    detector: str = Field(
        "yolov8n_int8.onnx",
        min_length=1,
        description="Detector file name in `dir`: any Ultralytics detection ONNX export.",
    )
    threads: int = Field(1, ge=1, le=64, description="onnxruntime intra-op threads per lane.")
    lanes: int = Field(
        1,
        ge=1,
        le=16,
        description="Detection lanes: worker threads, each with its own detector session, the "
        "cameras dealt between them. On two cores, 2 lanes of 1 thread judge about 1.65x the "
        "frames of 1 lane (2 threads: 1.2x); each lane costs about 30 MiB (docs/benchmarks.md).",
    )
    verifier: str | None = Field(
        None,
        description="E-bike verifier for lift zones (.npz made by `edge models train-verifier`), "
        "relative to the config file. Unset: lift zones use the detector's two-wheelers only.",
    )
    classes: dict[Category, list[str]] = Field(
        default_factory=_default_classes,
        description="Model class names that count as each category. A custom model may "
        "add e.g. 'ebike' under two_wheeler.",
    )

    @field_validator("classes")
    @classmethod
    def _unique_classes(cls, v: dict[Category, list[str]]) -> dict[Category, list[str]]:
        seen: dict[str, Category] = {}
        for category, names in v.items():
            for name in names:
                if name in seen:
                    raise ValueError(f"class {name!r} is under both {seen[name]} and {category}")
                seen[name] = category
        return v

    def class_map(self) -> dict[str, Category]:
        return {name: cat for cat, names in self.classes.items() for name in names}


class Api(StrictModel):
    enabled: bool = Field(True, description="Serve the HTTP API and the pages from `edge run`.")
    host: str = Field(
        "127.0.0.1",
        min_length=1,
        description="Address to listen on; loopback unless you mean to expose it.",
    )
    port: int = Field(8080, ge=1, le=65535, description="TCP port.")
    public_url: str | None = Field(
        None,
        max_length=500,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="How the platform reaches this API, e.g. http://10.8.0.12:8080 or "
        "https://node-1.xizhen.example (a proxy). Alert evidence URLs start with it, so the "
        "platform can fetch pictures and clips; without it they are paths on this node.",
    )
    token: Secret | None = Field(
        None,
        description="Bearer token for writes (config, zones, acknowledge...): inline, "
        "{env: NAME} or {file: PATH}. Without one, writes are refused.",
    )
    protect_reads: bool | None = Field(
        None,
        description="Require the token for reads too (status, alerts, pictures). Default: yes "
        "when `host` is not a loopback address (the API is reachable from the network), no on "
        "loopback.",
    )
    allowed_hosts: list[str] | None = Field(
        None,
        max_length=100,
        description="Host names (or addresses) the API answers to, in the Host header and in a "
        "browser's Origin; anything else is refused (421 / 403), so a web page cannot reach the "
        "node through DNS rebinding. localhost, 127.0.0.1 and ::1 are always allowed; `*` allows "
        "any. Default: those and `host`, and, when `host` is 0.0.0.0 or ::, any IP address "
        "(rebinding needs a DNS name): list the names operators browse to.",
    )
    max_connections: int = Field(
        200,
        ge=8,
        le=10_000,
        description="Open HTTP connections at most (also at most a third of the process's open "
        "files limit). Beyond it a new connection replaces the oldest idle or slow one.",
    )
    header_timeout_s: float = Field(
        10.0,
        ge=1.0,
        le=300.0,
        description="A connection must send its whole request header within this time of "
        "opening (or of its previous response), or it is closed.",
    )
    body_timeout_s: float = Field(
        15.0,
        ge=1.0,
        le=600.0,
        description="A request body that stalls this long (no byte arrives) is abandoned.",
    )

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if not _HOST_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a host name, an IP address or *")
        return value

    def reads_protected(self, listening_on: str | None = None) -> bool:
        """Whether reads need the token: `protect_reads`, or by default whether the API
        listens (on `listening_on`, default `host`) beyond loopback."""
        if self.protect_reads is not None:
            return self.protect_reads
        return not is_loopback(listening_on or self.host)


_HOST_NAME = re.compile(r"\*|\[?[A-Za-z0-9_.:%-]+\]?")


class Commands(StrictModel):
    key: Secret | None = Field(
        None,
        description="This node's command key (at least 16 characters; `edge keygen` makes one): "
        "inline, {env: NAME} or {file: PATH}. The platform signs every command with it "
        "(mqtt/topics.md, Commands); the node obeys nothing unsigned, stale or replayed.",
    )
    allow_unsigned: bool = Field(
        False,
        description="Obey unsigned commands when no key is set. Only for a lab: anyone who can "
        "publish on the broker could then silence an alarm.",
    )
    max_age_s: float = Field(
        120.0,
        ge=5.0,
        le=3600.0,
        description="A signed command is obeyed only this close to its signing time (either "
        "way: clocks drift). Older ones are refused as stale; the platform re-signs and resends.",
    )

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if self.key is not None and self.allow_unsigned:
            raise ValueError("give either key or allow_unsigned: true, not both")
        return self


class Alerts(StrictModel):
    escalate_after_s: float = Field(
        300.0,
        ge=10.0,
        le=86_400.0,
        description="An alert nobody acknowledged in this time is re-sent once, escalated "
        "(the 5-minute response rule of many communities).",
    )
    reraise_after_resolve_s: float = Field(
        300.0,
        ge=0.0,
        le=86_400.0,
        description="After `resolve`, a condition still present this much later raises a new "
        "alert. After `release` (false alarm) it never does until it clears.",
    )
    language: Literal["zh-CN", "en"] = Field(
        "zh-CN",
        description="Language written on evidence pictures (rule, objects, place): zh-CN or en. "
        "Applies at the next restart.",
    )
    timezone: str = Field(
        "Asia/Shanghai",
        max_length=64,
        description="IANA time zone of the time stamped on evidence pictures.",
    )
    stamp_font: str | None = Field(
        None,
        max_length=1024,
        description="TrueType/OpenType font with Chinese glyphs for evidence pictures; default "
        "the first system CJK font found (fonts-wqy-microhei, fonts-noto-cjk, ...), English "
        "text without one. Relative to the config file.",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r} (an IANA name such as Asia/Shanghai)"
            ) from None
        return v


class Storage(StrictModel):
    dir: str = Field(
        "var",
        description="Directory for the alert outbox and snapshots; relative to the config file.",
    )
    snapshots_max_mib: int = Field(
        1024,
        ge=1,
        le=10_000_000,
        description="Evidence snapshots kept, in MiB; the oldest are deleted beyond it, so "
        "pictures never fill the disk the outbox needs.",
    )
    verifier_crops_max: int = Field(
        500, ge=1, le=100_000, description="Lift alert crops kept for the verifier's feedback."
    )
    max_outbox_rows: int = Field(
        1_000_000, ge=100, description="Outbox bound; beyond it new alerts are refused loudly."
    )
    clips_max_mib: int = Field(
        2048,
        ge=1,
        le=10_000_000,
        description="Evidence clips kept, in MiB; the oldest are deleted beyond it, like the "
        "snapshots. A 10 s clip of a 3 Mbit/s main stream is about 4 MiB.",
    )


# Defaults per zone kind (DESIGN §4). A field left out of a zone takes its kind's default.
_KIND_DEFAULTS: dict[ZoneKind, dict[str, object]] = {
    ZoneKind.NO_PARKING: {
        "release_hold_s": 600.0,
        "grace_s": 300.0,
        "clear_after_s": 60.0,
        "categories": [Category.VEHICLE],
        "min_confidence": 0.35,
        "severity": Severity.WARNING,
    },
    ZoneKind.FIRE_LANE: {
        "release_hold_s": 300.0,
        "grace_s": 60.0,
        "clear_after_s": 30.0,
        "categories": [Category.VEHICLE, Category.TWO_WHEELER],
        "min_confidence": 0.35,
        "severity": Severity.MAJOR,
    },
    ZoneKind.LIFT: {
        "release_hold_s": 60.0,
        "grace_s": 0.0,
        "clear_after_s": 10.0,
        "categories": [Category.TWO_WHEELER],
        "min_confidence": 0.3,
        "severity": Severity.CRITICAL,
    },
}

Point = tuple[float, float]


class LiftActions(StrictModel):
    door_hold: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
        description="Actuator name: {prefix}/actuators/{name} gets door-hold on at raise and "
        "off at clear, release or resolve (the lift controller keeps the doors open).",
    )
    voice_prompt: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
        description="Actuator name for a voice prompt played at raise.",
    )
    voice_text: str = Field(
        "电动车请勿进入电梯，请立即推出。",
        max_length=200,
        description="What the voice prompt says.",
    )


class Zone(StrictModel):
    id: Identifier = Field(description="Zone id, unique within its camera.")
    kind: ZoneKind = Field(description="Rule applied: no_parking | fire_lane | lift.")
    name: str = Field("", max_length=200, description="Label shown to operators.")
    polygon: list[Point] = Field(
        max_length=MAX_POLYGON_POINTS,
        description="Corners in normalised image coordinates (0..1, x right, y down).",
    )
    categories: list[Category] | None = Field(
        None, max_length=16, description="Object categories that count. Default by kind."
    )
    min_confidence: float | None = Field(
        None, ge=0.01, le=1.0, description="Detections below this are ignored. Default by kind."
    )
    min_area: float = Field(
        0.0005,
        ge=0.0,
        le=1.0,
        description="Smallest box area as a fraction of the frame; filters far-away specks.",
    )
    grace_s: float | None = Field(
        None,
        ge=0.0,
        le=86_400.0,
        description="Seconds an object must stay (stationary) before the alert is raised.",
    )
    clear_after_s: float | None = Field(
        None,
        ge=0.5,
        le=86_400.0,
        description="Seconds the zone must be free of the object before the alert clears.",
    )
    update_every_s: float = Field(
        60.0, ge=1.0, le=86_400.0, description="How often an open alert is re-sent with dwell."
    )
    stationary_iou: float = Field(
        0.6,
        ge=0.1,
        le=0.99,
        description="Overlap with where the object stopped that still counts as not moved.",
    )
    stationary_window_s: float = Field(
        10.0,
        gt=0.0,
        le=3600.0,
        description="An object counts as stopped when it has stayed put for this long.",
    )
    max_gap_s: float | None = Field(
        None,
        gt=0.0,
        le=86_400.0,
        description="Before the alert is raised, a stopped object unseen this long starts "
        "over (its dwell resets); default clear_after_s. Must exceed stationary_window_s, "
        "the time a re-found object needs to count as stopped again.",
    )
    confirm_s: float = Field(
        1.0, gt=0.0, le=60.0, description="Lift: window in which min_hits must be seen."
    )
    min_hits: int = Field(
        3, ge=1, le=100, description="Lift: frames with a two-wheeler needed within confirm_s."
    )
    severity: Severity | None = Field(None, description="Alert severity. Default by kind.")
    release_hold_s: float | None = Field(
        None,
        ge=0.0,
        le=86_400.0,
        description="After an operator releases an alert as a false alarm, how long its place "
        "stays silent once the object is no longer seen, so a vehicle hidden by a passing bus "
        "or an e-bike the model loses for a moment does not come back as a new alert. A "
        "different object at the same place within this time is taken for the released one. "
        "Default by kind: no_parking 600, fire_lane 300, lift 60.",
    )
    verifier_threshold: float | None = Field(
        None,
        gt=0.0,
        lt=1.0,
        description="Lift with a verifier: score a frame must reach to count as a hit; default "
        "the verifier file's (0.5). Lower finds more e-bikes and raises more false alarms.",
    )
    verifier_frames: int = Field(
        3,
        ge=1,
        le=50,
        description="Lift with a verifier: verified frames one e-bike track needs (its box "
        "moving on from frame to frame, gaps up to confirm_s) before any of them counts as a "
        "hit; a one-off verdict elsewhere in the car starts a new track. 1 judges frames alone.",
    )
    verifier_rider: bool = Field(
        False,
        description="Lift with a verifier: also require a person on or beside the e-bike on "
        "at least one frame of its track (the rider-and-vehicle pattern). Off by default: an "
        "e-bike wheeled in with its rider out of view would never alarm.",
    )
    actions: LiftActions | None = Field(
        None, description="Lift only: actuators driven while the alert is open."
    )

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, v: list[Point]) -> list[Point]:
        problem = polygon_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("categories")
    @classmethod
    def _categories(cls, v: list[Category] | None) -> list[Category] | None:
        if v is not None and not v:
            raise ValueError("is empty, so the zone would watch for nothing; leave it out")
        return v

    @model_validator(mode="after")
    def _kind_defaults(self) -> Self:
        for name, value in _KIND_DEFAULTS[self.kind].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.kind is not ZoneKind.LIFT and self.gap_tolerance <= self.stationary_window_s:
            raise ValueError(
                f"max_gap_s ({self.gap_tolerance:g}, default clear_after_s) must be longer than "
                f"stationary_window_s ({self.stationary_window_s:g}), or a vehicle that drops "
                "out of detection for a moment would start its grace period over"
            )
        return self

    # Typed accessors: the defaults above guarantee these are set after validation.
    @property
    def grace(self) -> float:
        assert self.grace_s is not None
        return self.grace_s

    @property
    def clear_after(self) -> float:
        assert self.clear_after_s is not None
        return self.clear_after_s

    @property
    def gap_tolerance(self) -> float:
        return self.max_gap_s if self.max_gap_s is not None else self.clear_after

    @property
    def category_set(self) -> frozenset[Category]:
        assert self.categories is not None
        return frozenset(self.categories)

    @property
    def confidence_floor(self) -> float:
        assert self.min_confidence is not None
        return self.min_confidence

    @property
    def release_hold(self) -> float:
        assert self.release_hold_s is not None
        return self.release_hold_s

    @property
    def alert_severity(self) -> Severity:
        assert self.severity is not None
        return self.severity


class Camera(StrictModel):
    id: Identifier = Field(description="Camera id, unique within the node.")
    source: str = Field(
        min_length=1,
        description="rtsp:// or http(s):// URL, a video file path (relative to the config "
        "file), or a device index such as '0'.",
    )
    substream: str | None = Field(
        None,
        min_length=1,
        description="The camera's second, smaller stream (e.g. 640x360), read instead of "
        "`source` when every frame must be decoded (detect_fps above the keyframe rate, as for "
        "lifts). Same forms as `source`.",
    )
    decode: Literal["auto", "full", "keyframes"] = Field(
        "auto",
        description="auto: decode only keyframes when detect_fps is at or below the stream's "
        "measured keyframe rate (parking: a keyframe every 1-4 s is all a rule needs, at a "
        "tenth of the CPU), else every frame. full / keyframes force the choice.",
    )
    enabled: bool = Field(True, description="A disabled camera is not opened.")
    detect_fps: float = Field(
        0.0,
        ge=0.0,
        le=30.0,
        description="Detections per second. Default 5 for a camera with a lift zone (an alert "
        "within a second needs several looks), else 2 (parking needs no more).",
    )
    grid: str | None = Field(None, max_length=64, description="网格 id, copied onto alerts.")
    location: str | None = Field(None, max_length=200, description="Where it is, free text.")
    building: str | None = Field(None, max_length=64, description="Building, e.g. 3号楼.")
    floor: str | None = Field(None, max_length=32, description="Floor, e.g. B1.")
    lon: float | None = Field(None, ge=-180.0, le=180.0, description="Longitude (WGS-84).")
    lat: float | None = Field(None, ge=-90.0, le=90.0, description="Latitude (WGS-84).")
    offline_after_s: float = Field(
        30.0,
        ge=1.0,
        le=3600.0,
        description="No frame for this long raises camera_offline and freezes the zone rules.",
    )
    motion_gate: bool | None = Field(
        None,
        description="Skip detection when the picture has not changed. Default: on, except for "
        "cameras with a lift zone, where a second matters.",
    )
    zones: list[Zone] = Field(
        default_factory=list,
        max_length=MAX_ZONES_PER_CAMERA,
        description="Zones drawn on this camera.",
    )

    @model_validator(mode="after")
    def _rates(self) -> Self:
        if self.detect_fps == 0.0:
            has_lift = any(z.kind is ZoneKind.LIFT for z in self.zones)
            object.__setattr__(self, "detect_fps", 5.0 if has_lift else 2.0)
        for zone in self.zones:
            needed = zone.min_hits / zone.confirm_s
            if zone.kind is ZoneKind.LIFT and self.detect_fps < needed:
                raise ValueError(
                    f"detect_fps {self.detect_fps:g} is too low for lift zone {zone.id!r}: "
                    f"{zone.min_hits} hits within {zone.confirm_s:g} s need at least {needed:g}"
                )
        if self.offline_after_s < 3.0 / self.detect_fps:
            raise ValueError(
                f"offline_after_s {self.offline_after_s:g} is shorter than three detection "
                f"periods at detect_fps {self.detect_fps:g}; the camera would flap offline"
            )
        return self

    @property
    def gated(self) -> bool:
        if self.motion_gate is not None:
            return self.motion_gate
        return not any(z.kind is ZoneKind.LIFT for z in self.zones)


class Video(StrictModel):
    """How the node reads its cameras (every camera; per-camera choices are on the camera)."""

    decode_threads: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Frames decoded at once across all cameras. Default: the number of CPU "
        "cores. Each camera's decoder is single-threaded; a camera that falls behind is "
        "degraded to keyframes (its state says `degraded`).",
    )
    rtsp_transport: Literal["tcp", "udp"] = Field(
        "tcp", description="RTSP over TCP (interleaved, no lost packets) or UDP."
    )
    clips: bool = Field(
        True,
        description="Keep an MP4 clip (the stream as sent, not re-encoded) around every camera "
        "alert, named in the alert's `evidence.clip`.",
    )
    clip_pre_s: float = Field(
        5.0, ge=0.0, le=30.0, description="Seconds of the clip before the alert (from a keyframe)."
    )
    clip_post_s: float = Field(5.0, ge=0.0, le=30.0, description="Seconds after the alert.")


class Settings(StrictModel):
    site: Site
    node: Node
    mqtt: Mqtt = Field(default_factory=Mqtt)
    models: Models = Field(default_factory=Models)
    storage: Storage = Field(default_factory=Storage)
    alerts: Alerts = Field(default_factory=Alerts)
    api: Api = Field(default_factory=Api)
    video: Video = Field(default_factory=Video)
    commands: Commands = Field(
        default_factory=Commands, description="Who the node takes platform commands from."
    )
    cameras: list[Camera] = Field(default_factory=list, max_length=MAX_CAMERAS)
    sensors: list[Sensor] = Field(
        default_factory=list,
        max_length=MAX_SENSORS,
        description="Smoke, gas and CO detectors (MQTT or Modbus TCP).",
    )

    @model_validator(mode="after")
    def _sensor_list(self) -> Self:
        problems = sensor_list_problems(self.sensors)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def topic_prefix(self) -> str:
        return self.mqtt.topic_prefix or f"grid/{self.site.id}/{self.node.id}"

    def camera(self, camera_id: str) -> Camera:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        known = ", ".join(c.id for c in self.cameras) or "none"
        raise KeyError(f"no camera {camera_id!r} in the config (known: {known})")
