"""Evidence clips end to end (issue 13): a node (`edge run`, its own process) reads a camera from
the RTSP bench (the forecourt with a van in the fire lane, 1080p H.264, GOP 2 s), raises the
fire-lane alert on a real broker, names the clip in the payload, and serves an MP4 that plays:
about 10 s (5 s before, 5 s after, from a keyframe), every frame decodable, the camera's own
H.264 (not re-encoded). The same with a camera that sends H.265, as many Chinese CCTV cameras
do by default."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from bench.rtsp.bench import RtspBench
from tests.integration.broker import MosquittoBroker, Subscriber, free_port
from tests.integration.node import NodeProcess, alert_events, find
from tests.integration.rtsp import footage
from tests.schemas import validate

pytestmark = pytest.mark.integration
PREFIX = "grid/xizhen/gate-1"
FORECOURT = "forecourt-1920x1080-g50-3000k"
FORECOURT_H265 = "forecourt-1280x720-g50-2000k-h265"

CONFIG = """\
site: {{id: xizhen, name: 西镇社区}}
node: {{id: gate-1}}
mqtt: {{url: "{url}"}}
models: {{dir: "{models}", detector: yolov8n_int8.onnx, threads: 1}}
storage: {{dir: "{storage}", clips_max_mib: 64}}
api: {{port: {api_port}, public_url: "http://127.0.0.1:{api_port}"}}
cameras:
  - id: forecourt
    source: "{rtsp}"
    detect_fps: 0.5            # a look every keyframe: keyframe-only decoding
    zones:
      - {{id: driveway, kind: fire_lane, grace_s: 4, stationary_window_s: 3,
         polygon: [[0.42, 0.3], [0.62, 0.3], [0.72, 1.0], [0.45, 1.0]]}}
"""


@pytest.fixture(params=[(FORECOURT, "h264", 1920), (FORECOURT_H265, "hevc", 1280)],
                ids=["h264", "h265"])  # fmt: skip
def rtsp(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[tuple[RtspBench, str, int]]:
    """The forecourt camera, and the codec and width its clip must have."""
    name, codec, width = request.param
    with RtspBench({"forecourt": footage(name)}) as bench:
        yield bench, codec, width


def fetch(url: str, timeout_s: float) -> bytes:
    """GET `url`, retrying while it answers 404 (the clip is written after the alert)."""
    end = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.headers["Content-Type"] == "video/mp4"
                data: bytes = response.read()
                return data
        except urllib.error.HTTPError as exc:
            if exc.code != 404 or time.monotonic() > end:
                raise
        time.sleep(0.5)


def test_a_camera_alert_names_a_clip_that_plays(
    tmp_path: Path, broker: MosquittoBroker, models_dir: Path, rtsp: tuple[RtspBench, str, int]
) -> None:
    bench, codec, width = rtsp
    api_port = free_port()
    config = tmp_path / "site.yaml"
    config.write_text(
        CONFIG.format(
            url=broker.url, models=models_dir, storage=tmp_path / "var", api_port=api_port,
            rtsp=bench.url("forecourt"),
        ),
        encoding="utf-8",
    )  # fmt: skip
    sub = Subscriber(broker.port, f"{PREFIX}/#")
    node = NodeProcess(config, tmp_path / "node.log")
    try:
        raised = find(kind="fire_lane_blocked", event="raised")
        assert sub.wait_for(raised, 90), node.text()
        alert = next(a for a in alert_events(sub.messages) if a["event"] == "raised")
        validate("alert", alert)
        clip = alert["evidence"]["clip"]
        assert clip == {
            "url": f"http://127.0.0.1:{api_port}/api/alerts/{alert['id']}/clip.mp4",
            "content_type": "video/mp4",
            "before_s": 5.0,
            "after_s": 5.0,
        }
        data = fetch(clip["url"], 30)
        states = [
            json.loads(m.payload)
            for m in sub.messages
            if m.topic.endswith("/cameras/forecourt/state")
        ]
    finally:
        node.end(signal.SIGTERM)
        sub.close()
    for state in states:
        validate("camera_state", state)
    assert states[-1]["decode"]["mode"] == "keyframes"
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.width) == (codec, width)
        duration = float(container.duration or 0) / av.time_base
        frames = list(container.decode(stream))
    # 5 s before from the keyframe at or before it (GOP 2 s), 5 s after: 10-12 s at 25 fps.
    assert 9.5 <= duration <= 12.5, duration
    assert len(frames) == pytest.approx(duration * 25, abs=2)
    assert frames[0].key_frame and not any(f.is_corrupt for f in frames)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert float(probe.stdout) == pytest.approx(duration, abs=0.1)
