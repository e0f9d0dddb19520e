"""The `sensors:` list of the site config: smoke, gas and CO detectors over MQTT or Modbus TCP.

A sensor is read one way only: `mqtt` (zigbee2mqtt state messages or generic JSON with a dotted
field path) or `modbus` (a register scaled to the sensor's unit, plus status bits). Numeric
readings are judged against two levels with hysteresis and a minimum duration, and only when they
lie in the value's physical range (`plausible`); the defaults per kind, and where they come from,
are in `_KIND_THRESHOLDS` and `_KIND_PLAUSIBLE` below.

This module must not import `edge.config.model`: that module imports `Sensor` from here for
`Settings.sensors`, so the small base pieces are repeated rather than imported in a circle.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Self

from pydantic import Field, field_validator, model_validator

from edge.config.base import Identifier, StrictModel
from edge.messages import Severity

SensorId = Identifier


class SensorKind(StrEnum):
    """What the sensor detects; the value is also the alert kind of its alarm."""

    SMOKE = "smoke"
    GAS = "gas"
    CO = "co"


class MqttFormat(StrEnum):
    ZIGBEE2MQTT = "zigbee2mqtt"
    JSON = "json"


class RegisterTable(StrEnum):
    HOLDING = "holding"
    INPUT = "input"


class MqttSource(StrictModel):
    topic: str = Field(
        min_length=1,
        max_length=200,
        description="Topic the sensor publishes its state on, e.g. zigbee2mqtt/smoke-1. "
        "For zigbee2mqtt, <topic>/availability is subscribed too.",
    )
    format: MqttFormat = Field(
        MqttFormat.ZIGBEE2MQTT,
        description="zigbee2mqtt: the device's state object as zigbee2mqtt publishes it "
        "(smoke, gas, carbon_monoxide, battery_low, tamper, fault_alarm, ...); json: any JSON "
        "object, the value taken from `field`.",
    )
    field: str | None = Field(
        None,
        max_length=200,
        pattern=r"^[^.\s]+(\.[^.\s]+)*$",
        description="Dotted path to the numeric value, e.g. 'gas_value' or 'data.co.ppm' (a "
        "number segment indexes a list). Required for json; optional for zigbee2mqtt.",
    )
    unit: str | None = Field(
        None,
        min_length=1,
        max_length=16,
        description="Unit of the value, e.g. %LEL or ppm; default by kind (gas %LEL, co ppm).",
    )

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        if "+" in v or "#" in v or "\x00" in v or v.startswith("/") or v.endswith("/"):
            raise ValueError("must be one topic: no wildcards (+, #), no leading or trailing /")
        return v

    @model_validator(mode="after")
    def _field_for_json(self) -> Self:
        if self.format is MqttFormat.JSON and self.field is None:
            raise ValueError("format json needs `field`: the dotted path of the value to read")
        return self


class StatusBits(StrictModel):
    """Bit numbers (0 = least significant) in the status register; leave out what is absent."""

    alarm1: int | None = Field(None, ge=0, le=15, description="Device's level-1 alarm bit.")
    alarm2: int | None = Field(None, ge=0, le=15, description="Device's level-2 alarm bit.")
    fault: int | None = Field(None, ge=0, le=15, description="Sensor fault bit.")
    comms_fault: int | None = Field(
        None, ge=0, le=15, description="Device-reported communication fault (e.g. lost head)."
    )

    def items(self) -> list[tuple[str, int]]:
        names = ("alarm1", "alarm2", "fault", "comms_fault")
        return [(n, bit) for n in names if (bit := getattr(self, n)) is not None]

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        used: dict[int, str] = {}
        for name, bit in self.items():
            if bit in used:
                raise ValueError(f"bit {bit} is used for both {used[bit]} and {name}")
            used[bit] = name
        return self


class ModbusSource(StrictModel):
    host: str = Field(
        min_length=1, max_length=253, pattern=r"^[^\s/]+$", description="Gateway or device."
    )
    port: int = Field(502, ge=1, le=65535, description="Modbus TCP port.")
    unit: int = Field(1, ge=0, le=247, description="Modbus unit (device) id behind the host.")
    # Spelt `register` in the config; the attribute name avoids shadowing ABCMeta.register.
    value_register: int | None = Field(
        None,
        alias="register",
        ge=0,
        le=65535,
        description="Address (0-based) of the measured value; leave out for a status-only device.",
    )
    table: RegisterTable = Field(
        RegisterTable.HOLDING, description="holding (function 3) or input (function 4) registers."
    )
    count: int = Field(
        1, ge=1, le=2, description="Registers in the value: 1 (16 bit) or 2 (32 bit, high first)."
    )
    signed: bool = Field(False, description="The raw value is two's complement.")
    scale: float = Field(
        1.0, ge=-1e6, le=1e6, description="value = raw * scale + offset, in unit_of_measure."
    )
    offset: float = Field(0.0, ge=-1e9, le=1e9, description="Added after scaling.")
    unit_of_measure: str | None = Field(
        None, min_length=1, max_length=16, description="Unit of the value; default by kind."
    )
    status_register: int | None = Field(
        None, ge=0, le=65535, description="Address of a status word in the same table."
    )
    status_bits: StatusBits = Field(
        default_factory=StatusBits, description="Meaning of the status register's bits."
    )
    poll_s: float = Field(5.0, ge=0.1, le=3600.0, description="Seconds between polls.")
    timeout_s: float = Field(2.0, ge=0.1, le=30.0, description="Connect and response timeout.")
    failures_before_offline: int = Field(
        3,
        ge=1,
        le=100,
        description="Consecutive failed polls after which the sensor is reported offline "
        "(unreachable) without waiting for offline_after_s.",
    )

    @model_validator(mode="after")
    def _something_to_read(self) -> Self:
        if self.scale == 0.0:
            raise ValueError("scale 0 would turn every reading into the offset")
        if self.value_register is None and self.status_register is None:
            raise ValueError("give `register` (the value), `status_register`, or both")
        if self.status_register is None and self.status_bits.items():
            raise ValueError("status_bits need `status_register`")
        if self.status_register is not None and not self.status_bits.items():
            raise ValueError("status_register needs at least one of status_bits")
        return self


class Thresholds(StrictModel):
    """Levels in the sensor's unit. A value left out takes the kind's default."""

    level1: float | None = Field(
        None, ge=-1e9, le=1e9, description="At or above this the level-1 alarm is raised."
    )
    level2: float | None = Field(
        None, ge=-1e9, le=1e9, description="At or above this the alarm is upgraded to level 2."
    )
    hysteresis: float | None = Field(
        None,
        ge=0.0,
        le=1e9,
        description="A level ends only below its threshold minus this, so a value hovering "
        "at the threshold does not flap.",
    )
    min_duration_s: float | None = Field(
        None,
        ge=0.0,
        le=3600.0,
        description="A crossing (and the return below) must last this long to count; "
        "filters single-sample spikes.",
    )


class Plausible(StrictModel):
    """The range a reading can physically take, in the sensor's unit: the device's measuring
    range. A reading outside it says the sensor is broken, not the air: it raises `sensor_fault`
    (with the reading and this range in its detail), never raises or clears the alarm, and the
    sensor keeps its last good value until plausible readings return. A value left out takes
    the kind's default when the sensor reports in the kind's unit."""

    min: float | None = Field(
        None, ge=-1e9, le=1e9, description="Lowest plausible reading (inclusive)."
    )
    max: float | None = Field(
        None, ge=-1e9, le=1e9, description="Highest plausible reading (inclusive)."
    )


class SensorSeverities(StrictModel):
    level1: Severity = Field(Severity.MAJOR, description="Numeric level 1; device alarm 1.")
    level2: Severity = Field(
        Severity.CRITICAL,
        description="Numeric level 2; device alarm 2; a boolean alarm (smoke/gas/CO true).",
    )
    fault: Severity = Field(Severity.WARNING, description="Fault, comms-fault, failed self-test.")
    tamper: Severity = Field(Severity.WARNING, description="Cover opened or device removed.")
    low_battery: Severity = Field(Severity.INFO, description="Battery low.")
    offline: Severity = Field(Severity.MAJOR, description="Silent, unavailable or unreachable.")


# Thresholds per kind, in the kind's default unit.
# - gas: GB/T 50493-2019 (石油化工可燃气体和有毒气体检测报警设计标准) sets the combustible-gas
#   level-1 alarm at <= 25 %LEL and level 2 at <= 50 %LEL. A 5 s debounce is one poll at the
#   default Modbus rate: two consecutive readings must agree.
# - co: level 1 at 50 ppm, the lowest alarm point of EN 50291-1 (domestic CO alarms: alarm within
#   60-90 min at 50 ppm) and the OSHA 8-hour PEL; level 2 at 150 ppm, where UL 2034 requires an
#   alarm within 10-50 min. CO harms by accumulated dose, so a 60 s minimum duration costs little
#   and ignores transients (a passing car, a gas hob lit). GB/T 50493 puts toxic-gas level 1 at
#   100 % of the occupational limit (GBZ 2.1: CO PC-STEL 30 mg/m3, about 26 ppm); an industrial
#   site should set that explicitly.
# - smoke: no numeric default; smoke detectors report a boolean alarm, and a density field needs
#   thresholds chosen for that device.
_KIND_THRESHOLDS: dict[SensorKind, Thresholds] = {
    SensorKind.GAS: Thresholds(level1=25.0, level2=50.0, hysteresis=5.0, min_duration_s=5.0),
    SensorKind.CO: Thresholds(level1=50.0, level2=150.0, hysteresis=10.0, min_duration_s=60.0),
}
_KIND_UNITS: dict[SensorKind, str] = {SensorKind.GAS: "%LEL", SensorKind.CO: "ppm"}
# Physical range per kind, in the kind's default unit (issue 12: a gas reading of -1e300 once
# cleared a critical alarm). The top is the end of the scale: 100 %LEL is the lower explosive
# limit itself, the full scale of every %LEL detector (a detector past it should say so with its
# own alarm flag or bit, which is judged on its own); 10,000 ppm is the top of the high-range CO
# cells sold (domestic and car-park detectors measure 0-1,000 ppm). The bottom allows the zero
# drift real catalytic and electrochemical cells show, 5 % of the usual measuring range
# (0-100 %LEL, 0-1,000 ppm), so a detector reading -1 in clean air is not a fault. A sensor in
# another unit has no default: it must give `plausible`, as it must give its thresholds.
_KIND_PLAUSIBLE: dict[SensorKind, Plausible] = {
    SensorKind.GAS: Plausible(min=-5.0, max=100.0),
    SensorKind.CO: Plausible(min=-50.0, max=10_000.0),
}
# For thresholds the user starts from scratch (no kind default).
_GENERIC_HYSTERESIS = 0.0
_GENERIC_MIN_DURATION_S = 5.0

# Silence after which a sensor is offline, by how it is read:
# - Modbus: polled every few seconds by us, so a minute of no answer is a real outage.
# - zigbee2mqtt: battery devices sleep and report only on change or on their reporting interval.
#   For standard ZCL devices (Heiman and most others) zigbee2mqtt sets the battery report's
#   maximum interval to 65,000 s (about 18 h): a healthy, quiet detector may say nothing for
#   that long. zigbee2mqtt itself marks such passive devices offline after 25 h (its default
#   availability timeout). Xiaomi devices send an hourly heartbeat, but an hourly default would
#   raise sensor_offline every night for every Heiman detector. The availability topic, which
#   counts at once, gives the faster verdict; sites with hourly devices can set 3900 s.
# - generic JSON: usually a mains gateway; 10 minutes, as zigbee2mqtt's active-device timeout.
_OFFLINE_MODBUS_S = 60.0
_OFFLINE_ZIGBEE2MQTT_S = 25 * 3600.0
_OFFLINE_JSON_S = 600.0

_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


class Sensor(StrictModel):
    id: SensorId = Field(description="Sensor id, unique within the node.")
    kind: SensorKind = Field(description="smoke | gas | co: what it detects.")
    name: str = Field("", max_length=200, description="Label shown to operators.")
    enabled: bool = Field(True, description="A disabled sensor is neither subscribed nor polled.")
    grid: str | None = Field(None, max_length=64, description="网格 id, copied onto alerts.")
    location: str | None = Field(None, max_length=200, description="Where it is, free text.")
    building: str | None = Field(None, max_length=64, description="Building, e.g. 5号楼.")
    floor: str | None = Field(None, max_length=32, description="Floor, e.g. 1F.")
    lon: float | None = Field(None, ge=-180.0, le=180.0, description="Longitude (WGS-84).")
    lat: float | None = Field(None, ge=-90.0, le=90.0, description="Latitude (WGS-84).")
    mqtt: MqttSource | None = Field(None, description="Read from MQTT (give this or modbus).")
    modbus: ModbusSource | None = Field(None, description="Poll over Modbus TCP.")
    thresholds: Thresholds | None = Field(
        None,
        description="Levels for the numeric value; default by kind (gas 25/50 %LEL, co "
        "50/150 ppm). Only for sensors with a numeric value.",
    )
    plausible: Plausible | None = Field(
        None,
        description="Physical range of the numeric value, in its unit (the device's measuring "
        "range); a reading outside it is a sensor_fault, never an alarm or a clear. Default by "
        "kind: gas -5..100 %LEL, co -50..10,000 ppm; required for a value in another unit. "
        "The thresholds must lie inside it. Only for sensors with a numeric value.",
    )
    offline_after_s: float | None = Field(
        None,
        ge=5.0,
        le=7 * 86_400.0,
        description="Silence after which sensor_offline is raised. Default: Modbus 60 s, "
        "zigbee2mqtt 25 h (battery devices report rarely), json 600 s.",
    )
    update_every_s: float = Field(
        60.0, ge=1.0, le=86_400.0, description="An open alarm is re-sent at most this often."
    )
    severities: SensorSeverities = Field(
        default_factory=SensorSeverities, description="Alert severity per condition."
    )

    @model_validator(mode="after")
    def _resolve(self) -> Self:
        if (self.mqtt is None) == (self.modbus is None):
            raise ValueError("give exactly one of `mqtt` or `modbus`: how the node reads it")
        if _SEVERITY_RANK[self.severities.level2] < _SEVERITY_RANK[self.severities.level1]:
            raise ValueError(
                f"severities.level2 ({self.severities.level2}) is lower than severities.level1 "
                f"({self.severities.level1}); an upgrade must never lower the severity"
            )
        self._resolve_thresholds()
        self._resolve_plausible()
        if self.offline_after_s is None:
            object.__setattr__(self, "offline_after_s", self._default_offline())
        if self.modbus is not None and self.offline_after < 3 * self.modbus.poll_s:
            raise ValueError(
                f"offline_after_s {self.offline_after:g} is shorter than three polls at "
                f"modbus.poll_s {self.modbus.poll_s:g}; the sensor would flap offline"
            )
        return self

    def _resolve_thresholds(self) -> None:
        given = self.thresholds
        if not self.numeric:
            if given is not None:
                raise ValueError(
                    "thresholds need a numeric value: set mqtt.field or modbus.register"
                )
            return
        default = _KIND_THRESHOLDS.get(self.kind)
        kind_unit = _KIND_UNITS.get(self.kind)
        # Levels and hysteresis are in the kind's unit: never apply them to another unit.
        in_unit = default if self.unit == kind_unit else None
        merged = {name: _pick(given, in_unit, name) for name in ("level1", "level2", "hysteresis")}
        merged["min_duration_s"] = _pick(given, default, "min_duration_s")
        if merged["level1"] is None:
            raise ValueError(
                f"this {self.kind} sensor reports in {self.unit!r} but the default thresholds "
                f"are in {kind_unit}; give thresholds.level1 and level2 in {self.unit}"
                if default is not None
                else f"a {self.kind} sensor has no default thresholds; set thresholds.level1 "
                f"(and level2) in {self.unit or 'its unit'}"
            )
        merged["hysteresis"] = _or(merged["hysteresis"], _GENERIC_HYSTERESIS)
        merged["min_duration_s"] = _or(merged["min_duration_s"], _GENERIC_MIN_DURATION_S)
        t = Thresholds(**merged)
        _check_levels(t)
        object.__setattr__(self, "thresholds", t)

    def _resolve_plausible(self) -> None:
        given = self.plausible
        if not self.numeric:
            if given is not None:
                raise ValueError(
                    "plausible needs a numeric value: set mqtt.field or modbus.register"
                )
            return
        kind_unit = _KIND_UNITS.get(self.kind)
        default = _KIND_PLAUSIBLE.get(self.kind) if self.unit == kind_unit else None
        low, high = _pick(given, default, "min"), _pick(given, default, "max")
        if low is None or high is None:
            raise ValueError(
                f"this {self.kind} sensor reports in {self.unit!r} but the default plausible "
                f"range is in {kind_unit}; give plausible.min and plausible.max in {self.unit} "
                "(the device's measuring range)"
                if _KIND_PLAUSIBLE.get(self.kind) is not None
                else f"a {self.kind} sensor has no default plausible range; set plausible.min "
                f"and plausible.max in {self.unit or 'its unit'} (the device's measuring range)"
            )
        if low >= high:
            raise ValueError(f"plausible.min ({low:g}) must be below plausible.max ({high:g})")
        _check_range(self.limits, low, high)
        object.__setattr__(self, "plausible", Plausible(min=low, max=high))

    def _default_offline(self) -> float:
        if self.modbus is not None:
            return _OFFLINE_MODBUS_S
        assert self.mqtt is not None
        if self.mqtt.format is MqttFormat.ZIGBEE2MQTT:
            return _OFFLINE_ZIGBEE2MQTT_S
        return _OFFLINE_JSON_S

    # Typed accessors: the validator above guarantees these after construction.
    @property
    def numeric(self) -> bool:
        """Whether the sensor delivers a numeric value judged against thresholds."""
        if self.modbus is not None:
            return self.modbus.value_register is not None
        return self.mqtt is not None and self.mqtt.field is not None

    @property
    def unit(self) -> str:
        given = self.mqtt.unit if self.mqtt is not None else None
        if self.modbus is not None:
            given = self.modbus.unit_of_measure
        return given or _KIND_UNITS.get(self.kind, "")

    @property
    def limits(self) -> Thresholds:
        """Resolved thresholds (every field set); only for numeric sensors."""
        assert self.thresholds is not None, "limits asked of a sensor without a numeric value"
        return self.thresholds

    @property
    def plausible_range(self) -> tuple[float, float]:
        """Resolved (min, max) of a plausible reading; only for numeric sensors."""
        p = self.plausible
        assert p is not None and p.min is not None and p.max is not None, (
            "plausible_range asked of a sensor without a numeric value"
        )
        return p.min, p.max

    @property
    def offline_after(self) -> float:
        assert self.offline_after_s is not None
        return self.offline_after_s

    @property
    def availability_topic(self) -> str | None:
        if self.mqtt is None or self.mqtt.format is not MqttFormat.ZIGBEE2MQTT:
            return None
        return f"{self.mqtt.topic}/availability"


def _pick(given: StrictModel | None, default: StrictModel | None, name: str) -> float | None:
    value: float | None = getattr(given, name) if given is not None else None
    if value is None and default is not None:
        value = getattr(default, name)
    return value


def _or(value: float | None, fallback: float) -> float:
    return fallback if value is None else value


def _check_levels(t: Thresholds) -> None:
    assert t.level1 is not None and t.hysteresis is not None
    if t.level2 is None:
        return
    if t.level2 <= t.level1:
        raise ValueError(
            f"thresholds.level2 ({t.level2:g}) must be above thresholds.level1 ({t.level1:g})"
        )
    gap = t.level2 - t.level1
    if t.hysteresis >= gap:
        raise ValueError(
            f"thresholds.hysteresis ({t.hysteresis:g}) must be smaller than the gap between "
            f"level1 and level2 ({gap:g}), or a value back under level 2 would still count as "
            "level 2"
        )


def _check_range(t: Thresholds, low: float, high: float) -> None:
    assert t.level1 is not None and t.hysteresis is not None
    if t.level1 - t.hysteresis <= low:
        raise ValueError(
            f"thresholds.level1 ({t.level1:g}) less the hysteresis ({t.hysteresis:g}) must be "
            f"above plausible.min ({low:g}): the alarm ends only below that, so it could never "
            "clear"
        )
    top, name = (t.level1, "level1") if t.level2 is None else (t.level2, "level2")
    if top > high:
        raise ValueError(
            f"thresholds.{name} ({top:g}) is above plausible.max ({high:g}): a reading there "
            "would be refused as implausible, so that level could never be reached"
        )


def sensor_list_problems(sensors: Sequence[Sensor]) -> list[str]:
    """Problems across the list: duplicate ids, one MQTT topic or Modbus register read twice.

    Meant for the Settings validator: `if problems: raise ValueError("; ".join(problems))`.
    """
    problems: list[str] = []
    ids: set[str] = set()
    topics: dict[str, str] = {}
    registers: dict[tuple[str, int, int, str, int | None, int | None], str] = {}
    for s in sensors:
        if s.id in ids:
            problems.append(f"sensor id {s.id!r} is used twice")
        ids.add(s.id)
        if s.mqtt is not None:
            for topic in (s.mqtt.topic, s.availability_topic):
                if topic is None:
                    continue
                if topic in topics:
                    problems.append(f"sensors {topics[topic]!r} and {s.id!r} share topic {topic}")
                topics[topic] = s.id
        if s.modbus is not None:
            m = s.modbus
            where = (m.host, m.port, m.unit, m.table.value, m.value_register, m.status_register)
            if where in registers:
                problems.append(
                    f"sensors {registers[where]!r} and {s.id!r} read the same Modbus registers"
                )
            registers[where] = s.id
    return problems
