"""One truth about a config: what `PUT /api/config`, `POST /api/config/validate`, the `reload`
command and `edge run` accept is what `edge check-config` accepts (issue 12, item 7).

Before, the API checked a proposed config with the loader only: `mqtt://127.0.0.1:99999` was
written and "reloaded", and the node refused to start at the next reboot.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edge.app import Node
from edge.config.check import check_config
from edge.config.model import Models
from edge.detect.onnx_yolo import OnnxYoloDetector
from tests.integration.broker import free_port
from tests.integration.test_api import AUTH, TOKEN, Site

pytestmark = pytest.mark.integration

GOOD_URL = 'url: "mqtt://127.0.0.1:9"'
BAD_URL = 'url: "mqtt://127.0.0.1:99999"'


@pytest.fixture(scope="module")
def lane_detector(models_dir: Path) -> OnnxYoloDetector:
    return OnnxYoloDetector(
        models_dir / "yolov8n_int8.onnx", Models().class_map(), conf_threshold=0.1
    )


@pytest.fixture
def api_site(
    tmp_path: Path, models_dir: Path, data_dir: Path, lane_detector: OnnxYoloDetector
) -> Iterator[Site]:
    s = Site(tmp_path, models_dir, data_dir, lane_detector)
    yield s
    for node in s.nodes:
        node.stop(drain_timeout_s=0)


def serve(site: Site) -> tuple[Node, str]:
    port = free_port()
    node = site.node(api=f"{{host: 127.0.0.1, port: {port}, token: {TOKEN}}}", full=True)
    assert node.api is not None and node.api.started
    return node, f"http://127.0.0.1:{port}"


def test_put_config_with_port_99999_is_refused_and_the_file_kept(api_site: Site) -> None:
    node, base = serve(api_site)
    before = api_site.path.read_bytes()
    text = before.decode("utf-8")
    assert GOOD_URL in text
    bad = text.replace(GOOD_URL, BAD_URL)
    line = 1 + next(i for i, t in enumerate(bad.splitlines()) if BAD_URL in t)
    with httpx.Client(base_url=base, headers=AUTH, timeout=httpx.Timeout(30.0)) as http:
        version = http.get("/api/config").json()["version"]
        checked = http.post("/api/config/validate", json={"yaml": bad}).json()
        assert checked["ok"] is False
        assert [(e["line"], e["path"]) for e in checked["errors"]] == [(line, "mqtt.url")]
        assert "port '99999' is not a number in 1..65535" in checked["errors"][0]["message"]
        res = http.put("/api/config", json={"yaml": bad, "version": version})
        assert res.status_code == 422, res.text
        assert [e["path"] for e in res.json()["errors"]] == ["mqtt.url"]
        # Nothing written, nothing reloaded: the file is still one `edge run` starts with.
        assert api_site.path.read_bytes() == before
        assert not (api_site.tmp / "site.yaml.prev").exists()
        assert node.site.settings.mqtt.url == "mqtt://127.0.0.1:9"
        check_config(api_site.path)
        # The same refusal for a key written twice: YAML would have kept the last one.
        twice = text.replace("alerts: {escalate_after_s: 3600}\n", "alerts: {}\nalerts: {}\n")
        res = http.put("/api/config", json={"yaml": twice, "version": version})
        assert res.status_code == 422
        assert "duplicate key 'alerts'" in res.json()["errors"][0]["message"]
        assert api_site.path.read_bytes() == before


def test_what_the_api_accepts_edge_run_starts_with(api_site: Site) -> None:
    node, base = serve(api_site)
    text = api_site.path.read_text(encoding="utf-8")
    new = text.replace("location: 3号楼前", "location: 3号楼东侧")
    with httpx.Client(base_url=base, headers=AUTH, timeout=httpx.Timeout(30.0)) as http:
        assert http.post("/api/config/validate", json={"yaml": new}).json()["ok"] is True
        res = http.put("/api/config", json={"yaml": new, "version": None})
        assert res.status_code == 200 and res.json()["ok"] is True, res.text
    assert node.site.settings.camera("forecourt").location == "3号楼东侧"
    started = Node(check_config(api_site.path), node.clock, lanes=node.cameras.lanes)
    started.stop(drain_timeout_s=0)


def test_the_reload_command_refuses_what_check_config_refuses(api_site: Site) -> None:
    node = api_site.node()
    text = api_site.path.read_text(encoding="utf-8")
    for bad in (text.replace(GOOD_URL, BAD_URL), text + "site: {id: other}\n"):
        api_site.path.write_text(bad, encoding="utf-8")
        outcome = node.reload()
        assert not outcome.ok and "config refused, running one kept" in outcome.message
        assert "site.yaml:" in outcome.message
        assert node.site.settings.site.id == "xizhen"
        assert node.site.settings.mqtt.url == "mqtt://127.0.0.1:9"


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        (GOOD_URL, BAD_URL, "mqtt.url"),
        ("storage: {dir: var}", "storage: {dir: /proc/self/no-such/var}", "storage.dir"),
    ],
    ids=["port 99999", "storage dir"],
)
def test_edge_run_refuses_with_the_lines_check_config_prints(
    api_site: Site, old: str, new: str, path: str
) -> None:
    text = api_site.write(f"{{enabled: false, token: {TOKEN}}}")
    assert old in text
    api_site.path.write_text(text.replace(old, new), encoding="utf-8")

    def edge(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "edge", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    checked = edge("check-config", str(api_site.path))
    run = edge("run", "--config", str(api_site.path), "--duration", "1")
    assert checked.returncode == run.returncode == 2, run.stderr
    lines = [line for line in checked.stderr.splitlines() if line.startswith("site.yaml:")]
    assert [line.split(" ")[1] for line in lines] == [f"{path}:"], checked.stderr
    assert lines[0] in run.stderr
