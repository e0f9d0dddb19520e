"""Messages passed between pipeline stages: frozen, slotted, typed.

Boxes are normalised to the frame (0..1, x right, y down), so zones and rules never depend on a
camera's resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
"""A BGR image, H x W x 3, as OpenCV delivers it."""


class Category(StrEnum):
    VEHICLE = "vehicle"
    TWO_WHEELER = "two_wheeler"
    PERSON = "person"


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in normalised frame coordinates."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return max(0.0, self.x2 - self.x1)

    @property
    def height(self) -> float:
        return max(0.0, self.y2 - self.y1)

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def bottom_centre(self) -> tuple[float, float]:
        """The ground contact point: what decides whether an object is in a zone."""
        return ((self.x1 + self.x2) / 2.0, self.y2)

    def iou(self, other: Box) -> float:
        ix = min(self.x2, other.x2) - max(self.x1, other.x1)
        iy = min(self.y2, other.y2) - max(self.y1, other.y1)
        if ix <= 0.0 or iy <= 0.0:
            return 0.0
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0.0 else 0.0


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One picture from a camera.

    `ts` is on the pipeline clock's monotonic scale (video time in a replay); `wall_ts` is Unix
    epoch seconds for timestamps. `seq` counts frames read from the source, so gaps show drops.
    """

    camera_id: str
    seq: int
    ts: float
    wall_ts: float
    image: Image

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


@dataclass(frozen=True, slots=True)
class Detection:
    """One object the detector found, already mapped to one of our categories."""

    box: Box
    class_name: str
    category: Category
    confidence: float


@dataclass(frozen=True, slots=True)
class Track:
    """An object followed across frames by the tracker.

    `last_seen` equals the frame time when the tracker matched a detection on this frame;
    otherwise the track is coasting on its prediction (`box`) and `last_seen` is older.
    """

    track_id: int
    box: Box
    class_name: str
    category: Category
    confidence: float
    first_seen: float
    last_seen: float
    hits: int

    def seen_at(self, ts: float) -> bool:
        return self.last_seen >= ts


class AlertKind(StrEnum):
    ILLEGAL_PARKING = "illegal_parking"
    FIRE_LANE_BLOCKED = "fire_lane_blocked"
    EBIKE_IN_LIFT = "ebike_in_lift"
    CAMERA_OFFLINE = "camera_offline"
    SMOKE = "smoke"
    GAS = "gas"
    CO = "co"
    SENSOR_OFFLINE = "sensor_offline"
    SENSOR_FAULT = "sensor_fault"
    SENSOR_TAMPER = "sensor_tamper"
    SENSOR_LOW_BATTERY = "sensor_low_battery"
    # The node itself: its alert store or outbox cannot write (a full disk).
    STORAGE_FAULT = "storage_fault"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    MAJOR = "major"
    CRITICAL = "critical"


class Transition(StrEnum):
    """What happened to a condition. Rules emit these three; the platform's commands and the
    escalation timer make the alert manager publish the others (see alerts/lifecycle.py)."""

    RAISED = "raised"
    UPDATED = "updated"
    CLEARED = "cleared"


@dataclass(frozen=True, slots=True)
class AlertObject:
    """An object that is part of the evidence of an alert."""

    category: Category
    class_name: str
    confidence: float
    box: Box
    track_id: int | None = None


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """A rule's verdict on one condition: raised, still there (updated), or gone (cleared).

    `key` identifies the condition within its source for as long as it is open (for example
    `"cam-1/zone-a/3"`); the alert manager turns it into a stable alert id. `started` and `ts`
    are on the monotonic clock; the manager converts them to wall-clock timestamps.
    """

    key: str
    kind: AlertKind
    transition: Transition
    severity: Severity
    started: float
    ts: float
    camera_id: str | None = None
    zone_id: str | None = None
    sensor_id: str | None = None
    objects: tuple[AlertObject, ...] = ()
    detail: dict[str, float | str | bool] = field(default_factory=dict)

    @property
    def dwell_s(self) -> float:
        return max(0.0, self.ts - self.started)


@dataclass(frozen=True, slots=True)
class Reading:
    """One message from a sensor, decoded: the values it reported, by name.

    Numeric values are in the sensor's configured unit (e.g. %LEL, ppm); booleans are alarm,
    fault, tamper or battery flags. `ts` is on the monotonic clock. `fields` names the message's
    fields (or Modbus registers) the decoder looked at and found present: True if it could read
    them, False if not; an unreadable field is left out of `values`.
    """

    sensor_id: str
    ts: float
    values: dict[str, float | bool]
    fields: dict[str, bool] = field(default_factory=dict)

    @property
    def unreadable(self) -> tuple[str, ...]:
        """The fields present in the message that could not be read, in the order seen."""
        return tuple(name for name, ok in self.fields.items() if not ok)
