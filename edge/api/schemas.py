"""Request and response bodies, as the OpenAPI document describes them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from edge.config.bounded import MAX_CONFIG_BYTES
from edge.messages import Detection

AlertPayload = dict[str, Any]  # mqtt/schemas/alert.json
Zone = dict[str, Any]  # a zone as in the YAML; validated with the whole config


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Issue(BaseModel):
    line: int | None = Field(description="1-based line in the config text, if known.")
    path: str = Field(description="Key path, e.g. cameras[1].zones[0].polygon.")
    message: str
    type: str = Field(
        "",
        description="pydantic's error type, e.g. greater_than_equal; empty "
        "for the node's own checks. The pages translate by it.",
    )
    ctx: dict[str, str | float] = Field(
        default_factory=dict, description='The error\'s limits, e.g. {"ge": 0}.'
    )


class ConfigText(Body):
    yaml: str = Field(max_length=MAX_CONFIG_BYTES, description="The whole site config.")


class ConfigPut(ConfigText):
    version: str | None = Field(
        None, max_length=64, description="sha256 of the file as read; null to overwrite."
    )


class ConfigDocument(BaseModel):
    yaml: str
    file: str
    version: str


class Validation(BaseModel):
    ok: bool
    errors: list[Issue]


class Applied(BaseModel):
    ok: bool = Field(description="The config was written and applied.")
    version: str = Field(description="sha256 of the file now on disk.")
    message: str


class ZonesPut(Body):
    zones: list[Zone] = Field(max_length=100)
    version: str | None = Field(
        None, max_length=64, description="sha256 of the config file as read; null: no check."
    )


class ZoneList(BaseModel):
    camera: str
    zones: list[Zone]


class ZoneFields(BaseModel):
    fields: list[dict[str, Any]] = Field(description="One per setting; see docs/api.md.")


class AlertList(BaseModel):
    alerts: list[AlertPayload]


class ActionBody(Body):
    by: str = Field("operator", min_length=1, max_length=128, description="Who acts.")
    note: str | None = Field(None, max_length=1000)


class ActionResult(BaseModel):
    ok: bool
    message: str
    alert: AlertPayload | None


class Clip(BaseModel):
    name: str
    bytes: int
    modified_at: str


class ClipList(BaseModel):
    clips: list[Clip]


class ClipTestRequest(Body):
    clip: str = Field(max_length=200, description="A clip name from GET /api/clips.")
    zones: list[Zone] | None = Field(
        None, max_length=100, description="Zones to test (unsaved); null: the saved ones."
    )
    still_seconds: float = Field(
        5.0, gt=0.0, le=3600.0, description="How long an image is watched, video seconds."
    )


class ClipTestResult(BaseModel):
    alerts: list[AlertPayload] = Field(description="Last payload of each alert, as raised.")
    frames: int
    video_s: float
    wall_s: float


class Ok(BaseModel):
    ok: bool


class DetectedObject(BaseModel):
    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2, normalised.")
    class_name: str = Field(serialization_alias="class", description="The model's class name.")
    category: str = Field(description="vehicle, two_wheeler or person.")
    confidence: float

    @classmethod
    def of(cls, d: Detection) -> DetectedObject:
        b = d.box
        box = (round(b.x1, 4), round(b.y1, 4), round(b.x2, 4), round(b.y2, 4))
        return cls(box=box, class_name=d.class_name, category=d.category.value,
                   confidence=round(d.confidence, 3))  # fmt: skip


class Detections(BaseModel):
    camera: str
    at: str | None = Field(description="When the frame was read (ISO 8601); null before one.")
    detections: list[DetectedObject]
