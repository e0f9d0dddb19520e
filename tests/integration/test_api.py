"""The HTTP API (docs/api.md) against a real node: real config file, detector, cameras on files,
SQLite alert store and outbox; TestClient for most, the real uvicorn server for the event stream.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from edge.api.app import create_app
from edge.api.backend import LiveBackend
from edge.app import Node
from edge.clock import SystemClock
from edge.config.loader import load_config
from edge.config.model import Models
from edge.detect.onnx_yolo import OnnxYoloDetector
from edge.messages import AlertEvent, AlertKind, AlertObject, Box, Category, Severity, Transition
from tests.integration.broker import MosquittoBroker, Subscriber, free_port
from tests.integration.node import NodeProcess, alert_events
from tests.schemas import validate

pytestmark = pytest.mark.integration

TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PREFIX = "grid/xizhen/gate-1"
FORECOURT = "images/parking/forecourt_parked_cars_qengineering.jpg"
DRIVEWAY = [[0.42, 0.3], [0.62, 0.3], [0.72, 1.0], [0.45, 1.0]]

SITE = """\
# Grid Sentinel: the API test site
site: {{id: xizhen, name: 西镇社区}}
node: {{id: gate-1}}
mqtt: {{url: "{mqtt}"}}
models: {{dir: "{models}", detector: yolov8n_int8.onnx}}
storage: {{dir: var}}
api: {api}
alerts: {{escalate_after_s: 3600}}
cameras:
  # the forecourt in front of building 3
  - id: forecourt
    source: "{data}/{forecourt}"
    detect_fps: 2
    grid: G-03
    location: 3号楼前
    zones:
      - {{id: driveway, kind: fire_lane, grace_s: 2, stationary_window_s: 1, clear_after_s: 3,
         polygon: [[0.42, 0.3], [0.62, 0.3], [0.72, 1.0], [0.45, 1.0]]}}
  - id: lot
    source: "{data}/images/street/bus_ultralytics.jpg"
    detect_fps: 1
    zones:  # the lot's own zones
      - id: front
        kind: no_parking
        polygon: [[0.0, 0.6], [1.0, 0.6], [1.0, 1.0], [0.0, 1.0]]
  - id: gate
    source: rtsp://127.0.0.1:9/never
    enabled: false
"""


@pytest.fixture(scope="module")
def detector(models_dir: Path) -> OnnxYoloDetector:
    return OnnxYoloDetector(
        models_dir / "yolov8n_int8.onnx", Models().class_map(), conf_threshold=0.1
    )


class Site:
    """A config file in tmp and the node built from it."""

    def __init__(self, tmp: Path, models: Path, data: Path, detector: OnnxYoloDetector) -> None:
        self.tmp, self.models, self.data, self.detector = tmp, models, data, detector
        self.path = tmp / "site.yaml"
        self.nodes: list[Node] = []

    def write(self, api: str, mqtt: str = "mqtt://127.0.0.1:9") -> str:
        text = SITE.format(
            mqtt=mqtt, models=self.models, data=self.data, forecourt=FORECOURT, api=api
        )
        self.path.write_text(text, encoding="utf-8")
        return text

    def node(
        self,
        api: str = f"{{enabled: false, token: {TOKEN}}}",
        full: bool = False,
        mqtt: str = "mqtt://127.0.0.1:9",
    ) -> Node:
        self.write(api, mqtt)
        node = Node(load_config(self.path), SystemClock(), lanes=[(self.detector, None)])
        self.nodes.append(node)
        if full:
            node.start()
        else:  # no broker: the camera side and the alert manager are enough
            for worker in node.workers:
                worker.start()
            node.cameras.start()
        return node

    @property
    def storage(self) -> Path:
        return self.tmp / "var"


@pytest.fixture
def site(
    tmp_path: Path, models_dir: Path, data_dir: Path, detector: OnnxYoloDetector
) -> Iterator[Site]:
    s = Site(tmp_path, models_dir, data_dir, detector)
    yield s
    for node in s.nodes:
        node.stop(drain_timeout_s=0)


def client(node: Node) -> TestClient:
    # The API answers only to its own names (Host checked): not TestClient's "testserver".
    return TestClient(create_app(LiveBackend(node)), base_url="http://localhost")


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def first_frame(node: Node, camera: str = "forecourt") -> None:
    wait_until(lambda: node.cameras.latest_frame(camera), 10.0, f"a frame from {camera}")


def raise_alert(node: Node, key: str, camera: str = "forecourt", zone: str = "driveway") -> str:
    """An alert through the real manager (evidence from the camera's latest frame)."""
    now = node.clock.monotonic()
    car = AlertObject(Category.VEHICLE, "car", 0.8, Box(0.45, 0.55, 0.58, 0.82), 7)
    event = AlertEvent(
        key,
        AlertKind.FIRE_LANE_BLOCKED,
        Transition.RAISED,
        Severity.MAJOR,
        now - 70.0,
        now,
        camera_id=camera,
        zone_id=zone,
        objects=(car,),
        detail={"grace_s": 60.0},
    )
    payloads = node.manager.handle([event], node.cameras.latest_frame(camera))
    return str(payloads[0]["id"])


def is_jpeg(data: bytes) -> np.ndarray:
    assert data[:3] == b"\xff\xd8\xff"
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


# --- health, metrics, status, live picture ----------------------------------------------------

SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$'
)


def parse_exposition(text: str) -> tuple[dict[str, str], dict[str, dict[str, float]]]:
    """Prometheus text format: every sample belongs to a family declared with HELP and TYPE.
    Returns the types by name and the samples by name and label set."""
    types: dict[str, str] = {}
    helped: set[str] = set()
    samples: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split(" ")[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "untyped") and name not in types
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        assert m[1] in types and m[1] in helped, f"{m[1]} has no TYPE or HELP"
        samples.setdefault(m[1], {})[m[2] or ""] = float(m[4])
    return types, samples


def test_health_metrics_status(site: Site) -> None:
    node = site.node()
    first_frame(node)
    with client(node) as c:
        assert c.get("/healthz").json() == {"ok": True}
        wait_until(lambda: node.cameras.runtimes[0].pipeline.stats.detections_run, 10, "a run")
        res = c.get("/metrics")
        assert res.status_code == 200 and res.headers["content-type"].startswith("text/plain")
        types, samples = parse_exposition(res.text)
        for name in (
            "gs_camera_fps",
            "gs_camera_frames_dropped_total",
            "gs_inference_ms",
            "gs_outbox_backlog",
            "gs_publisher_in_flight",
            "gs_alerts_open",
            "gs_sensor_malformed_total",
            "gs_sensor_last_seen_age_seconds",
            "gs_commands_total",
            "gs_camera_reconnects_total",
            "gs_alert_events_total",
            "gs_api_event_clients",
        ):
            assert name in types, name
        assert types["gs_camera_frames_read_total"] == "counter"
        assert samples["gs_camera_frames_read_total"]['{camera="forecourt"}'] > 0
        assert samples["gs_inference_ms"]['{camera="forecourt"}'] > 0
        assert samples["gs_camera_online"]['{camera="forecourt"}'] == 1

        status = c.get("/api/status").json()
    assert status["node"]["site"] == {"id": "xizhen", "name": "西镇社区"}
    assert status["node"]["id"] == "gate-1" and status["node"]["broker_connected"] is False
    cams = {cam["id"]: cam for cam in status["cameras"]}
    assert cams["forecourt"]["online"] and cams["forecourt"]["zones"] == 1
    assert cams["forecourt"]["grid"] == "G-03" and cams["forecourt"]["location"] == "3号楼前"
    assert cams["forecourt"]["last_frame_at"].endswith("Z")
    assert cams["gate"]["online"] is False and cams["gate"]["last_frame_at"] is None
    assert status["sensors"] == [] and isinstance(status["alerts"]["open"], int)


def test_snapshot_with_and_without_zones(site: Site) -> None:
    node = site.node()
    with client(node) as c:
        assert c.get("/api/cameras/gate/snapshot.jpg").status_code == 404  # no frame, ever
        assert c.get("/api/cameras/nope/snapshot.jpg").status_code == 404
        first_frame(node)
        plain = is_jpeg(c.get("/api/cameras/forecourt/snapshot.jpg").content)
        res = c.get("/api/cameras/forecourt/snapshot.jpg?zones=1")
        assert res.headers["content-type"] == "image/jpeg"
        drawn = is_jpeg(res.content)
    assert plain.shape == drawn.shape
    diff = np.abs(plain.astype(int) - drawn.astype(int)).sum(axis=2) > 60
    w = diff.shape[1]
    # The outline is drawn along the driveway's edges, and nowhere far from them.
    assert diff.sum() > 1000
    assert not diff[:, : int(0.3 * w)].any()


# --- config and zones -------------------------------------------------------------------------


def test_config_read_and_validate(site: Site) -> None:
    node = site.node()
    text = site.path.read_text(encoding="utf-8")
    with client(node) as c:
        assert c.get("/api/config").status_code == 401  # it may hold secrets: always the token
        doc = c.get("/api/config", headers=AUTH).json()
        assert doc == {
            "yaml": text,
            "file": "site.yaml",
            "version": hashlib.sha256(text.encode()).hexdigest(),
        }
        bad = text.replace("[0.72, 1.0], [0.45, 1.0]]", "]").replace(
            "detect_fps: 1", "detect_fsp: 1"
        )
        res = c.post("/api/config/validate", json={"yaml": bad}, headers=AUTH).json()
        assert res["ok"] is False
        by_path = {e["path"]: e for e in res["errors"]}
        polygon = by_path["cameras[0].zones[0].polygon"]
        assert "at least 3 points" in polygon["message"]
        lines = bad.splitlines()
        assert polygon["line"] == 1 + next(i for i, t in enumerate(lines) if "[[0.42, 0.3]" in t)
        assert "did you mean 'detect_fps'" in by_path["cameras[1].detect_fsp"]["message"]
        missing = text.replace(FORECOURT, "images/parking/no-such.jpg")
        res = c.post("/api/config/validate", json={"yaml": missing}, headers=AUTH).json()
        assert [e["path"] for e in res["errors"]] == ["cameras[0].source"]
        res = c.post("/api/config/validate", json={"yaml": "site: [\n"}, headers=AUTH).json()
        assert res["ok"] is False and res["errors"][0]["line"] is not None
        assert c.post("/api/config/validate", json={"yaml": text}, headers=AUTH).json() == {
            "ok": True,
            "errors": [],
        }
        assert c.post("/api/config/validate", json={}, headers=AUTH).status_code == 400


def test_config_put_writes_atomically_and_applies(site: Site) -> None:
    node = site.node()
    first_frame(node)
    old = site.path.read_text(encoding="utf-8")
    cameras_before = node.cameras
    with client(node) as c:
        version = c.get("/api/config", headers=AUTH).json()["version"]
        new = old.replace("location: 3号楼前", "location: 3号楼东侧  # moved")
        res = c.put("/api/config", json={"yaml": new, "version": version}, headers=AUTH)
        assert res.status_code == 200 and res.json()["ok"] is True, res.text
        assert res.json()["version"] == hashlib.sha256(new.encode()).hexdigest()
        assert site.path.read_text(encoding="utf-8") == new
        assert (site.tmp / "site.yaml.prev").read_text(encoding="utf-8") == old
        assert node.site.settings.camera("forecourt").location == "3号楼东侧"
        assert node.cameras is not cameras_before  # cameras rebuilt, without a restart
        first_frame(node)

        # The version read before is stale now: refused, nothing written.
        stale = c.put("/api/config", json={"yaml": old, "version": version}, headers=AUTH)
        assert stale.status_code == 409 and site.path.read_text(encoding="utf-8") == new
        # An invalid config: 422 with the issues, the file and the running config untouched.
        bad = new.replace("grace_s: 2,", "grace_s: -5,")
        res = c.put("/api/config", json={"yaml": bad, "version": None}, headers=AUTH)
        assert res.status_code == 422
        assert [e["path"] for e in res.json()["errors"]] == ["cameras[0].zones[0].grace_s"]
        assert site.path.read_text(encoding="utf-8") == new
        assert node.site.settings.camera("forecourt").zones[0].grace_s == 2
        assert sorted(p.name for p in site.tmp.iterdir() if p.is_file()) == [
            "site.yaml",
            "site.yaml.prev",
        ]
        assert c.put("/api/config", json={"yaml": old, "version": None}).status_code == 401


def test_zones_read_and_replace(site: Site) -> None:
    node = site.node()
    before = site.path.read_text(encoding="utf-8")
    with client(node) as c:
        zones = c.get("/api/cameras/forecourt/zones").json()
        assert zones == {
            "camera": "forecourt",
            "zones": [
                {
                    "id": "driveway",
                    "kind": "fire_lane",
                    "grace_s": 2,
                    "stationary_window_s": 1,
                    "clear_after_s": 3,
                    "polygon": DRIVEWAY,
                }
            ],
        }
        assert c.get("/api/cameras/nope/zones").status_code == 404

        new = [
            {
                "id": "front",
                "kind": "no_parking",
                "name": "前门",
                "grace_s": 120,
                "polygon": [[0.1, 0.6], [0.9, 0.6], [0.9, 0.95], [0.1, 0.95]],
            },
            {
                "id": "bay",
                "kind": "fire_lane",
                "categories": ["vehicle"],
                "polygon": [[0.0, 0.0], [0.2, 0.0], [0.2, 0.2]],
            },
        ]
        res = c.put("/api/cameras/lot/zones", json={"zones": new}, headers=AUTH)
        assert res.status_code == 200 and res.json()["ok"], res.text
        assert c.get("/api/cameras/lot/zones").json()["zones"] == new
        after = site.path.read_text(encoding="utf-8")
        # Everything but the lot's zones is byte for byte what it was, comments included.
        head = before[: before.index("  - id: lot")]
        assert after.startswith(head) and after.endswith(
            "  - id: gate\n    source: rtsp://127.0.0.1:9/never\n    enabled: false\n"
        )
        assert "zones:  # the lot's own zones" in after
        assert [z.id for z in node.site.settings.camera("lot").zones] == ["front", "bay"]
        assert (site.tmp / "site.yaml.prev").read_text(encoding="utf-8") == before

        bad = [{**new[0], "grace_s": -1}]
        res = c.put("/api/cameras/lot/zones", json={"zones": bad}, headers=AUTH)
        assert res.status_code == 422
        (err,) = res.json()["errors"]
        assert err["path"] == "cameras[1].zones[0].grace_s" and err["line"] is not None
        assert site.path.read_text(encoding="utf-8") == after
        res = c.put("/api/cameras/lot/zones", json={"zones": [], "version": "0" * 64}, headers=AUTH)
        assert res.status_code == 409
        assert c.put("/api/cameras/nope/zones", json={"zones": []}, headers=AUTH).status_code == 404


# --- alerts -----------------------------------------------------------------------------------


def test_alerts_list_get_snapshot(site: Site) -> None:
    node = site.node()
    first_frame(node)
    first = raise_alert(node, "manual/1")
    time.sleep(0.01)
    second = raise_alert(node, "manual/2", camera="lot", zone="front")
    with client(node) as c:
        listed = c.get("/api/alerts?kind=fire_lane_blocked&state=open").json()["alerts"]
        ids = [a["id"] for a in listed]
        assert ids.index(second) < ids.index(first)  # newest first
        for a in listed:
            validate("alert", a)
        assert [a["id"] for a in c.get("/api/alerts?camera=lot").json()["alerts"]] == [second]
        assert c.get("/api/alerts?state=resolved").json()["alerts"] == []
        assert c.get("/api/alerts?limit=1").json()["alerts"][0]["id"] != first
        future = time.time() + 3600
        assert c.get(f"/api/alerts?since={future}").json()["alerts"] == []
        assert len(c.get("/api/alerts?since=2020-01-01T00:00:00Z").json()["alerts"]) >= 2
        assert c.get("/api/alerts?until=2020-01-01T00:00:00%2B08:00").json()["alerts"] == []
        assert c.get("/api/alerts?since=yesterday").status_code == 400
        assert c.get("/api/alerts?limit=0").status_code == 400

        alert = c.get(f"/api/alerts/{first}").json()
        assert alert["id"] == first and alert["source"]["camera"] == "forecourt"
        assert c.get("/api/alerts/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404
        evidence = alert["evidence"]
        res = c.get(evidence["url"])
        assert res.status_code == 200 and res.headers["content-type"] == "image/jpeg"
        is_jpeg(res.content)
        assert hashlib.sha256(res.content).hexdigest() == evidence["sha256"]
        # Another alert's snapshot id under this alert: not found.
        other = c.get(f"/api/alerts/{second}").json()["evidence"]["snapshot_id"]
        assert c.get(f"/api/alerts/{first}/snapshots/{other}.jpg").status_code == 404


def test_ack_release_resolve(site: Site) -> None:
    node = site.node()
    first_frame(node)
    a, b = raise_alert(node, "manual/a"), raise_alert(node, "manual/b")
    rows_before = node.outbox.size()
    with client(node) as c:
        url = f"/api/alerts/{a}/ack"
        assert c.post(url, json={"by": "zhang"}).status_code == 401
        wrong = {"Authorization": "Bearer no"}
        assert c.post(url, json={"by": "zhang"}, headers=wrong).status_code == 401
        res = c.post(url, json={"by": "张三", "note": "on my way"}, headers=AUTH).json()
        assert res["ok"] is True
        alert = res["alert"]
        validate("alert", alert)
        assert (alert["state"], alert["event"], alert["seq"]) == ("acknowledged", "acknowledged", 2)
        assert alert["actor"]["by"] == "张三" and alert["actor"]["note"] == "on my way"
        again = c.post(url, json={"by": "li"}, headers=AUTH).json()
        assert again["ok"] and again["message"] == "already acknowledged"
        assert again["alert"]["seq"] == 2

        res = c.post(f"/api/alerts/{a}/resolve", json={"by": "zhang"}, headers=AUTH).json()
        assert res["ok"] and res["alert"]["state"] == "resolved"
        assert c.get(f"/api/alerts/{a}").json()["state"] == "resolved"
        res = c.post(f"/api/alerts/{a}/ack", json={"by": "li"}, headers=AUTH).json()
        assert res["ok"] is False and "already resolved" in res["message"]

        res = c.post(f"/api/alerts/{b}/release", headers=AUTH).json()  # no body: by "operator"
        assert res["ok"] and res["alert"]["state"] == "released"
        assert res["alert"]["actor"]["by"] == "operator"
        assert {x.id for x in node.manager.open_alerts()}.isdisjoint({a, b})

        assert c.post(f"/api/alerts/{b}/snooze", headers=AUTH).status_code in (400, 404, 405)
        unknown = "/api/alerts/01ARZ3NDEKTSV4RRFFQ69G5FAV/ack"
        assert c.post(unknown, json={"by": "x"}, headers=AUTH).status_code == 404
    # Each transition went to the outbox for MQTT, like a platform command's.
    rows = node.outbox.pending(100)
    assert len(rows) >= rows_before + 3
    events = [
        json.loads(r.payload)
        for r in rows
        if "/alerts/" in r.topic and not r.topic.endswith("/snapshot")
    ]
    assert [(e["id"], e["event"]) for e in events if e["id"] in (a, b)][-3:] == [
        (a, "acknowledged"),
        (a, "resolved"),
        (b, "released"),
    ]


# --- auth -------------------------------------------------------------------------------------


def test_writes_refused_without_a_configured_token(site: Site) -> None:
    node = site.node(api="{enabled: false}")
    with client(node) as c:
        assert c.get("/api/status").status_code == 200
        for method, url in (
            ("PUT", "/api/config"),
            ("POST", "/api/config/validate"),
            ("PUT", "/api/cameras/lot/zones"),
            ("PUT", "/api/clips/a.mp4"),
            ("POST", "/api/alerts/01ARZ3NDEKTSV4RRFFQ69G5FAV/ack"),
        ):
            res = c.request(method, url, json={"yaml": ""}, headers=AUTH)
            assert res.status_code == 403, (method, url)
            assert "no api.token" in res.json()["detail"]


def test_protected_reads(site: Site) -> None:
    site.tmp.joinpath("token").write_text(TOKEN + "\n")
    node = site.node(api="{enabled: false, token: {file: token}, protect_reads: true}")
    first_frame(node)
    with client(node) as c:
        assert c.get("/healthz").status_code == 200
        for url in (
            "/api/status",
            "/metrics",
            "/api/alerts",
            "/api/cameras/lot/zones",
            "/api/cameras/forecourt/snapshot.jpg",
            "/api/clips",
        ):
            assert c.get(url).status_code == 401, url
            assert c.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
            assert c.get(url, headers=AUTH).status_code == 200, url
            assert c.get(f"{url}?token={TOKEN}").status_code == 200, url
        # A token in the query string is for reads only (img and EventSource cannot send headers).
        assert c.post(f"/api/config/validate?token={TOKEN}", json={"yaml": ""}).status_code == 401
        assert c.get("/operator").status_code == 200 and c.get("/").status_code == 200


# --- files ------------------------------------------------------------------------------------

HOSTILE = [
    "..%2f..%2fetc%2fpasswd",
    "..%2F..%2Fsite.yaml",
    "%2fetc%2fpasswd",
    "%2e%2e%2fsecret.txt",
    "..",
    "%2e%2e",
    "...",
    "%00",
    "a%00b.jpg",
    "x" * 4000,
    "..%5c..%5csecret.txt",
    "01ARZ3NDEKTSV4RRFFQ69G5FAV-1%2f..%2f..%2f..%2fsecret",
    "%252e%252e%252fsecret.txt",
    "01ARZ3NDEKTSV4RRFFQ69G5FAV-1%00",
    "/etc/passwd",
    "C:%5cWindows%5cwin.ini",
]
ULID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
OPENED: list[str] = []
RECORDING = threading.Event()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and RECORDING.is_set() and isinstance(args[0], str | bytes | os.PathLike):
        OPENED.append(os.path.realpath(os.fsdecode(args[0])))


def test_no_request_reaches_a_file_outside_the_data_dirs(site: Site) -> None:
    node = site.node()
    first_frame(node)
    alert = raise_alert(node, "manual/1")
    secret = site.tmp / "secret.txt"
    secret.write_text("TOPSECRET")
    storage = site.storage
    for sub in ("snapshots", "clips", "replay-snapshots"):
        (storage / sub).mkdir(parents=True, exist_ok=True)
    # Planted links that name a valid id but point outside: still refused.
    (storage / "snapshots" / f"{ULID}-1.jpg").symlink_to(secret)
    (storage / "replay-snapshots" / f"{ULID}-1.jpg").symlink_to(secret)
    (storage / "clips" / "planted.mp4").symlink_to(secret)
    urls = [
        f"/api/alerts/{ULID}/snapshots/{ULID}-1.jpg",
        f"/api/test-snapshots/{ULID}-1.jpg",
    ]
    for x in HOSTILE:
        urls += [
            f"/api/alerts/{x}",
            f"/api/alerts/{x}/snapshots/{x}.jpg",
            f"/api/alerts/{ULID}/snapshots/{x}.jpg",
            f"/api/test-snapshots/{x}.jpg",
            f"/api/cameras/{x}/snapshot.jpg",
            f"/api/cameras/{x}/zones",
            f"/static/{x}",
            f"/api/clips/{x}",
        ]
    if _audit not in getattr(sys, "_gs_audit", ()):
        sys.addaudithook(_audit)
        sys._gs_audit = (_audit,)  # type: ignore[attr-defined]
    with client(node) as c:
        c.get("/api/status")  # warm up lazy imports and mimetypes before recording
        OPENED.clear()
        RECORDING.set()
        try:
            for url in urls:
                res = c.get(url, follow_redirects=False)
                # (httpx drops dot segments: "/static/.." is "/", the redirect to the page)
                redirect = res.status_code == 307 and res.headers["location"] == "/operator"
                assert res.status_code in (400, 404, 405) or redirect, (url, res.status_code)
                assert b"TOPSECRET" not in res.content and b"root:" not in res.content
            for x in HOSTILE:
                res = c.put(f"/api/clips/{x}", content=b"TOPSECRET", headers=AUTH)
                assert res.status_code in (400, 404, 405), (x, res.status_code)
                body = {
                    "clip": x.replace("%2f", "/").replace("%2F", "/").replace("%00", "\x00"),
                    "zones": None,
                }
                res = c.post("/api/cameras/forecourt/test-clip", json=body, headers=AUTH)
                assert res.status_code in (400, 404), (x, res.status_code)
            res = c.post(
                "/api/cameras/forecourt/test-clip", json={"clip": "planted.mp4"}, headers=AUTH
            )
            assert res.status_code == 404
            legit = c.get(f"/api/alerts/{alert}").json()["evidence"]["url"]
            assert c.get(legit).status_code == 200  # the hook does see the files served
        finally:
            RECORDING.clear()
    allowed = (str(storage.resolve()) + os.sep, str(site.path.resolve()))
    outside = [
        p for p in OPENED if p.startswith(str(site.tmp.resolve())) and not p.startswith(allowed)
    ]
    assert outside == [] and str(secret.resolve()) not in OPENED
    assert not any(p.startswith("/etc/") for p in OPENED)
    assert str((storage / "snapshots" / f"{alert}-1.jpg").resolve()) in OPENED
    assert [p.name for p in (storage / "clips").iterdir()] == ["planted.mp4"]
    assert secret.read_text() == "TOPSECRET"


# --- test a clip ------------------------------------------------------------------------------


def test_upload_clip_and_test_zones_on_it(site: Site, data_dir: Path) -> None:
    node = site.node()
    image = (data_dir / FORECOURT).read_bytes()
    with client(node) as c:
        res = c.put("/api/clips/forecourt-still.jpg", content=image, headers=AUTH)
        assert res.status_code == 200 and res.json()["bytes"] == len(image)
        assert (site.storage / "clips" / "forecourt-still.jpg").read_bytes() == image
        clips = c.get("/api/clips").json()["clips"]
        assert [x["name"] for x in clips] == ["forecourt-still.jpg"]
        junk = c.put("/api/clips/junk.mp4", content=b"not a video at all", headers=AUTH)
        assert junk.status_code == 400
        assert sorted(p.name for p in (site.storage / "clips").iterdir()) == ["forecourt-still.jpg"]

        zone = {
            "id": "lane",
            "kind": "fire_lane",
            "grace_s": 2,
            "stationary_window_s": 1,
            "clear_after_s": 3,
            "polygon": DRIVEWAY,
        }
        body = {"clip": "forecourt-still.jpg", "zones": [zone], "still_seconds": 6}
        res = c.post("/api/cameras/lot/test-clip", json=body, headers=AUTH)
        assert res.status_code == 200, res.text
        result = res.json()
        assert result["frames"] >= 6 and result["video_s"] >= 5 and result["wall_s"] > 0
        kinds = {(a["kind"], a["source"]["camera"], a["source"]["zone"]) for a in result["alerts"]}
        assert kinds == {("fire_lane_blocked", "lot", "lane")}
        url = result["alerts"][0]["evidence"]["url"]
        assert url.startswith("/api/test-snapshots/")
        snap = c.get(url)
        assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg"
        is_jpeg(snap.content)
        # Nothing was saved: the lot still has its own zone, and no alert reached the store.
        assert [z.id for z in node.site.settings.camera("lot").zones] == ["front"]
        assert c.get(f"/api/alerts/{result['alerts'][0]['id']}").status_code == 404

        bad = {**body, "zones": [{**zone, "polygon": [[0, 0], [1, 1]]}]}
        res = c.post("/api/cameras/lot/test-clip", json=bad, headers=AUTH)
        assert res.status_code == 422
        assert res.json()["errors"][0]["path"] == "cameras[1].zones[0].polygon"
        missing = {**body, "clip": "nope.mp4"}
        assert c.post("/api/cameras/lot/test-clip", json=missing, headers=AUTH).status_code == 404
        assert c.post("/api/cameras/nope/test-clip", json=body, headers=AUTH).status_code == 404


# --- the real server: Node.start() serves the API; events stream to a page ----------------------


def read_events(response: httpx.Response, into: list[tuple[str, dict[str, Any]]]) -> None:
    name, data = "", ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and name:
            into.append((name, json.loads(data)))
            name, data = "", ""


def test_node_serves_the_api_and_streams_alerts(site: Site, broker: MosquittoBroker) -> None:
    port = free_port()
    api = f"{{host: 127.0.0.1, port: {port}, token: {TOKEN}}}"
    node = site.node(api=api, full=True, mqtt=broker.url)
    base = f"http://127.0.0.1:{port}"
    assert node.api is not None and node.api.started
    subscriber = Subscriber(broker.port, f"{PREFIX}/alerts/#")
    events: list[tuple[str, dict[str, Any]]] = []
    try:
        with httpx.Client(base_url=base, timeout=httpx.Timeout(10.0)) as http:
            assert http.get("/healthz").json() == {"ok": True}
            with http.stream("GET", "/api/events") as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                reader = threading.Thread(target=read_events, args=(stream, events), daemon=True)
                reader.start()
                # The forecourt's parked car raises a real fire-lane alert within seconds.
                raised = wait_until(
                    lambda: next(
                        (
                            d
                            for n, d in events
                            if n == "alert"
                            and d["event"] == "raised"
                            and d["kind"] == "fire_lane_blocked"
                        ),
                        None,
                    ),
                    30.0,
                    "a raised alert on the event stream",
                )
                assert events[0][0] == "status" and events[0][1]["node"]["id"] == "gate-1"
                validate("alert", raised)
                res = http.post(
                    f"/api/alerts/{raised['id']}/ack", json={"by": "operator-1"}, headers=AUTH
                )
                assert res.json()["alert"]["state"] == "acknowledged"
                wait_until(
                    lambda: any(n == "alert" and d["event"] == "acknowledged" for n, d in events),
                    5.0,
                    "the ack on the stream",
                )
                # ...and on MQTT, as a platform command's transition would be.
                assert subscriber.wait_for(
                    lambda msgs: any(
                        a["id"] == raised["id"] and a["event"] == "acknowledged"
                        for a in alert_events(msgs)
                    ),
                    10.0,
                )
                started = time.monotonic()
                node.stop(drain_timeout_s=0)  # with a page still connected
                assert time.monotonic() - started < 6.0
                reader.join(5.0)
                assert not reader.is_alive()  # the server ended the stream
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{base}/healthz", timeout=1.0)
    finally:
        subscriber.close()


def test_edge_run_serves_the_api_and_stops_on_one_sigterm(site: Site) -> None:
    """`edge run` serves the API; with a page listening, one SIGTERM stops it at once (the
    API's threads leave stop signals to the main thread: tests/unit/test_api_parts.py)."""
    port = free_port()
    site.write(f"{{host: 127.0.0.1, port: {port}, token: {TOKEN}}}")
    base = f"http://127.0.0.1:{port}"
    node = NodeProcess(site.path, site.tmp / "node.log")
    try:
        wait_until(lambda: _answers(f"{base}/healthz"), 30.0, "the api of edge run")
        for _ in range(3):
            assert httpx.get(f"{base}/api/status").status_code == 200
        with httpx.stream("GET", f"{base}/api/events", timeout=10.0) as stream:
            assert next(stream.iter_lines()) == "retry: 3000"
            started = time.monotonic()
            assert node.end(signal.SIGTERM, timeout=10.0) == 0, node.text()
        assert time.monotonic() - started < 8.0
        assert "http api stopped" in node.text() and "node stopped" in node.text()
    finally:
        if node.proc.poll() is None:
            node.end(signal.SIGKILL)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False
