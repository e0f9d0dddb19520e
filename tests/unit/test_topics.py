"""The MQTT contract: topic builders, broker URLs, schemas against their documented examples."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from edge.mqtt.link import BrokerAddress, parse_broker_url
from edge.mqtt.topics import Topics

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "mqtt" / "schemas"

T = Topics.for_node("xizhen", "gate-1")


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (T.status, "grid/xizhen/gate-1/status"),
        (lambda: T.alert("illegal_parking"), "grid/xizhen/gate-1/alerts/illegal_parking"),
        (
            lambda: T.alert_snapshot("ebike_in_lift", "01JD6ZQ0000000000000000000"),
            "grid/xizhen/gate-1/alerts/ebike_in_lift/01JD6ZQ0000000000000000000/snapshot",
        ),
        (lambda: T.camera_state("lift-3"), "grid/xizhen/gate-1/cameras/lift-3/state"),
        (lambda: T.sensor_state("smoke-2F"), "grid/xizhen/gate-1/sensors/smoke-2F/state"),
        (lambda: T.actuator("door-hold"), "grid/xizhen/gate-1/actuators/door-hold"),
        (lambda: T.cmd("ack"), "grid/xizhen/gate-1/cmd/ack"),
        (T.cmd_filter, "grid/xizhen/gate-1/cmd/#"),
        (T.all_filter, "grid/xizhen/gate-1/#"),
        (Topics("plant/7").status, "plant/7/status"),
        (Topics.for_node("s", "n", "x/{node}/{site}").status, "x/n/s/status"),
        (Topics.for_node("西镇", "门岗-1").status, "grid/西镇/门岗-1/status"),
    ],
)
def test_topic_builders(build: Callable[[], str], expected: str) -> None:
    assert build() == expected


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: T.alert(""), "alert kind must be a non-empty"),
        (lambda: T.alert("a/b"), "alert kind 'a/b' contains '/'"),
        (lambda: T.alert_snapshot("smoke", "id+1"), r"alert id 'id\+1' contains '\+'"),
        (lambda: T.camera_state("cam#1"), "camera id 'cam#1' contains '#'"),
        (lambda: T.sensor_state(" s1"), "surrounding spaces"),
        (lambda: T.actuator("door\x00"), "actuator name"),
        (lambda: T.cmd("a/b"), "command"),
        (lambda: Topics.for_node("a/b", "n"), "site id 'a/b'"),
        (lambda: Topics.for_node("s", "+"), "node id '\\+'"),
        (lambda: Topics.for_node("s", "n", "grid/{zone}"), "may only use"),
        (lambda: Topics(""), "must not be empty"),
        (lambda: Topics("grid//x"), "topic prefix 'grid//x': level must be a non-empty"),
        (lambda: Topics("grid/x/"), "topic prefix 'grid/x/': level must be a non-empty"),
        (lambda: Topics("$SYS/x"), "reserved"),
        (lambda: Topics("grid/#"), "contains '#'"),
    ],
)
def test_invalid_ids_are_refused(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker.local", BrokerAddress("broker.local", 1883, False, None, None)),
        ("mqtt://10.0.0.5:1884", BrokerAddress("10.0.0.5", 1884, False, None, None)),
        ("tcp://localhost:1883", BrokerAddress("localhost", 1883, False, None, None)),
        ("mqtts://mq.example.cn", BrokerAddress("mq.example.cn", 8883, True, None, None)),
        ("MQTTS://mq.example.cn:9883/", BrokerAddress("mq.example.cn", 9883, True, None, None)),
        ("mqtt://edge:s3cr%40t@h:1883", BrokerAddress("h", 1883, False, "edge", "s3cr@t")),
        ("mqtt://edge@h", BrokerAddress("h", 1883, False, "edge", None)),
        ("mqtt://[::1]:1883", BrokerAddress("::1", 1883, False, None, None)),
    ],
)
def test_parse_broker_url(url: str, expected: BrokerAddress) -> None:
    assert parse_broker_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("broker.local:1883", "needs a scheme"),
        ("http://broker", "unsupported scheme 'http'"),
        ("mqtt://", "missing host"),
        ("mqtt://:1883", "missing host"),
        ("mqtt://h:port", "port 'port' is not a number"),
        ("mqtt://h:70000", "port '70000' is not a number"),
        ("mqtt://h:0", "port 0"),
        ("mqtt://h:1883/topic", "unexpected path"),
        ("mqtt://h?x=1", "unexpected path"),
    ],
)
def test_parse_broker_url_errors(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_broker_url(url)


def test_password_never_shown() -> None:
    address = parse_broker_url("mqtt://edge:hunter2@h:1883")
    assert "hunter2" not in repr(address)
    assert "hunter2" not in address.display()
    with pytest.raises(ValueError) as info:
        parse_broker_url("mqtt://edge:hunter2@h:bad")
    assert "hunter2" not in str(info.value)
    assert "edge:***@h" in str(info.value)


# -- schemas ------------------------------------------------------------------------------


def _schema(name: str) -> dict[str, Any]:
    return dict(json.loads((SCHEMAS / name).read_text(encoding="utf-8")))


def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(_schema(name), format_checker=Draft202012Validator.FORMAT_CHECKER)


def _doc_examples() -> list[tuple[str, dict[str, Any]]]:
    """Every ```json block in topics.md whose payload names a schema."""
    text = (REPO / "mqtt" / "topics.md").read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL):
        payload = json.loads(block)
        if isinstance(payload, dict) and "schema" in payload:
            found.append((str(payload["schema"]), payload))
    return found


SCHEMA_FILES = {
    "grid-sentinel.alert/1": "alert.json",
    "grid-sentinel.status/1": "status.json",
    "grid-sentinel.camera_state/1": "camera_state.json",
    "grid-sentinel.sensor_state/1": "sensor_state.json",
    "grid-sentinel.response/1": "response.json",
    "grid-sentinel.actuator/1": "actuator.json",
}


@pytest.mark.parametrize("name", sorted(SCHEMA_FILES.values()))
def test_schemas_are_valid_2020_12(name: str) -> None:
    schema = _schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert schema["properties"]["schema"]["const"] in SCHEMA_FILES


def test_documented_examples_match_the_schemas() -> None:
    examples = _doc_examples()
    assert {schema for schema, _ in examples} == set(SCHEMA_FILES)
    for schema_id, payload in examples:
        errors = list(_validator(SCHEMA_FILES[schema_id]).iter_errors(payload))
        assert not errors, f"{schema_id} example: {[e.message for e in errors]}"


def _alert_example() -> dict[str, Any]:
    return next(p for s, p in _doc_examples() if s == "grid-sentinel.alert/1")


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda a: a.update(id="01jd6zq0000000000000000000"), "id"),
        (lambda a: a.update(id="01JD6ZQ00000000000000000IL"), "id"),
        (lambda a: a.update(seq=0), "seq"),
        (lambda a: a.update(kind="Illegal-Parking"), "kind"),
        (lambda a: a.update(severity="high"), "severity"),
        (lambda a: a.update(started_at="2026-11-23 14:20:01"), "started_at"),
        (lambda a: a.update(extra=1), ""),
        (lambda a: a["objects"][0].update(box=[0.1, 0.2, 1.3, 0.5]), "objects/0/box/2"),
        (lambda a: a["objects"][0].update(confidence=1.5), "objects/0/confidence"),
        (lambda a: a["evidence"].update(sha256="xyz"), "evidence"),
        (lambda a: a["detail"].update(nested={"a": 1}), "detail/nested"),
        (lambda a: a["location"].pop("lon"), "location"),
        (lambda a: a.update(event="raised", seq=2), "seq"),
        (lambda a: a.update(state="cleared", cleared_at=None), "cleared_at"),
        (lambda a: a.update(event="escalated", escalated=False), "escalated"),
    ],
)
def test_alert_schema_rejects(change: Callable[[dict[str, Any]], None], path: str) -> None:
    alert = _alert_example()
    change(alert)
    errors = list(_validator("alert.json").iter_errors(alert))
    assert errors, "expected the change to be rejected"
    assert any("/".join(str(p) for p in e.absolute_path).startswith(path) for e in errors)


def test_alert_kind_accepts_kinds_added_later() -> None:
    alert = _alert_example()
    alert["kind"] = "door_propped_open"
    assert not list(_validator("alert.json").iter_errors(alert))
