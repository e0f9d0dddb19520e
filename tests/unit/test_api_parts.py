"""The API's parts on their own: event fan-out, metrics text, zone splicing, files, server."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI, HTTPException

from edge.api.events import Event, EventHub
from edge.api.files import check_clip_name, inside, snapshot_file
from edge.api.metrics import counter, gauge, render
from edge.api.routes_alerts import parse_time
from edge.api.server import ApiServer
from edge.api.zonesedit import CameraNotInFileError, replace_zones, zones_of

# --- events -----------------------------------------------------------------------------------


async def _status() -> dict[str, Any]:
    return {"ok": True}


async def _collect(hub: EventHub, sub: Any, until: int) -> list[bytes]:
    out = []
    async for chunk in hub.stream(_status, sub=sub, status_every_s=60.0):
        out.append(chunk)
        if len(out) >= until:
            break
    return out


def test_events_reach_a_client_in_order() -> None:
    async def main() -> list[bytes]:
        hub = EventHub()
        sub = hub.subscribe()
        publisher = threading.Thread(target=lambda: [hub.publish_alert({"n": i}) for i in range(3)])
        publisher.start()
        publisher.join()
        return await _collect(hub, sub, 5)

    chunks = asyncio.run(main())
    assert chunks[0] == b"retry: 3000\n\n"
    assert chunks[1] == b'event: status\ndata: {"ok": true}\n\n'
    assert chunks[2:] == [f'event: alert\ndata: {{"n": {i}}}\n\n'.encode() for i in range(3)]


def test_a_slow_client_is_dropped_and_never_blocks_the_publisher() -> None:
    async def main() -> tuple[EventHub, float, list[bytes]]:
        hub = EventHub(queue_size=8)
        sub = hub.subscribe()
        started = time.perf_counter()
        thread = threading.Thread(target=lambda: [hub.publish(Event("alert", "{}"))
                                                  for _ in range(1000)])  # fmt: skip
        thread.start()
        while thread.is_alive():  # the loop stays free to take the hand-overs
            await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.05)
        return hub, elapsed, await _collect(hub, sub, 100)

    hub, elapsed, chunks = asyncio.run(main())
    assert elapsed < 2.0
    assert hub.dropped == 1 and hub.clients == 0
    assert len(chunks) <= 2 + 8  # the stream ended instead of growing without bound


def test_close_ends_every_stream() -> None:
    async def main() -> list[bytes]:
        hub = EventHub()
        sub = hub.subscribe()
        asyncio.get_running_loop().call_later(0.05, hub.close)
        chunks = await asyncio.wait_for(_collect(hub, sub, 100), 2.0)
        late = await asyncio.wait_for(_collect(hub, hub.subscribe(), 100), 2.0)
        assert len(late) == 2  # a client arriving after close gets an empty stream
        return chunks

    assert len(asyncio.run(main())) == 2


# --- metrics ----------------------------------------------------------------------------------


def test_exposition_text() -> None:
    fps = gauge("gs_camera_fps", "Frames\nper second.").add(2.5, camera='a"b\\c\nd')
    text = render([fps, counter("gs_x_total", "X.").add(3), gauge("gs_empty", "Nothing.")])
    assert text.splitlines() == [
        "# HELP gs_camera_fps Frames\\nper second.",
        "# TYPE gs_camera_fps gauge",
        'gs_camera_fps{camera="a\\"b\\\\c\\nd"} 2.5',
        "# HELP gs_x_total X.",
        "# TYPE gs_x_total counter",
        "gs_x_total 3",
        "# HELP gs_empty Nothing.",
        "# TYPE gs_empty gauge",
    ]
    with pytest.raises(ValueError, match="repeated"):
        render([gauge("gs_a", "a"), gauge("gs_a", "a")])
    with pytest.raises(ValueError, match="label"):
        render([gauge("gs_a", "a").add(1, **{"bad-label": "x"})])


# --- zones in the config text -----------------------------------------------------------------

TEXT = """\
# site comment
site: {id: x}   # the site
node: {id: n}
cameras:
  # first camera
  - id: a
    source: a.mp4
    zones:
      - id: z1   # comment in a zone that gets replaced
        kind: fire_lane
        polygon: [[0, 0], [1, 0], [1, 1]]
      # after the zones
  - id: b
    source: b.mp4
    zones:   # keep me
    - {id: q, kind: lift, polygon: [[0,0],[1,0],[1,1]]}
  - id: c
    source: c.mp4
    zones: []
  - id: d
    source: d.mp4
    zones:  # empty here
  - id: e
    source: e.mp4
sensors: []   # the end
"""
NEW = [{"id": "new", "kind": "no_parking", "name": "西门", "grace_s": 30,
        "polygon": [[0.1, 0.2], [0.3, 0.4], [0.5, 0.9]], "categories": ["vehicle"]}]  # fmt: skip


@pytest.mark.parametrize("camera", list("abcde"))
@pytest.mark.parametrize("zones", [NEW, []], ids=["zones", "none"])
def test_zones_are_replaced_in_place(camera: str, zones: list[dict[str, Any]]) -> None:
    out = replace_zones(TEXT, camera, zones)
    assert zones_of(out, camera) == zones
    before, after = yaml.safe_load(TEXT)["cameras"], yaml.safe_load(out)["cameras"]
    assert [c for c in after if c["id"] != camera] == [c for c in before if c["id"] != camera]
    for comment in ("# site comment", "# the site", "# first camera", "# keep me",
                    "# empty here", "# the end"):  # fmt: skip
        assert out.count(comment) == 1, (comment, out)
    if zones:
        assert "polygon: [[0.1, 0.2], [0.3, 0.4], [0.5, 0.9]]" in out
        assert "name: 西门" in out


def test_zones_of_a_flow_style_file_are_rewritten_whole() -> None:
    text = "site: {id: x}\nnode: {id: n}\ncameras: [{id: a, source: a.mp4}]  # gone\n"
    out = replace_zones(text, "a", NEW)
    assert zones_of(out, "a") == NEW and yaml.safe_load(out)["site"] == {"id": "x"}
    with pytest.raises(CameraNotInFileError):
        replace_zones(text, "zz", NEW)
    with pytest.raises(CameraNotInFileError):
        zones_of("site: {id: x}\n", "a")


# --- files and times --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../x", "..", "/etc/passwd", "a/../../b", "a\x00b", "a\\b", "", "."]
)
def test_inside_refuses_names_that_leave_the_directory(tmp_path: Path, name: str) -> None:
    with pytest.raises(HTTPException) as exc:
        inside(tmp_path, name)
    assert exc.value.status_code == 404


def test_snapshot_ids_and_clip_names(tmp_path: Path) -> None:
    ulid = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    (tmp_path / f"{ulid}-2.jpg").write_bytes(b"jpeg")
    assert snapshot_file(tmp_path, f"{ulid}-2", ulid) == (tmp_path / f"{ulid}-2.jpg").resolve()
    for bad in (f"{ulid}-2.jpg", f"{ulid}", f"{ulid}-x", f"../{ulid}-2", f"{ulid.lower()}-2"):
        with pytest.raises(HTTPException):
            snapshot_file(tmp_path, bad)
    with pytest.raises(HTTPException):  # another alert's snapshot
        snapshot_file(tmp_path, f"{ulid}-2", "01ARZ3NDEKTSV4RRFFQ69G5FAW")
    assert check_clip_name("lift-3_2024.mp4") == "lift-3_2024.mp4"
    for bad in ("a.exe", ".hidden.mp4", "a b.mp4", "a/b.mp4", "a..mp4", "x" * 200 + ".mp4"):
        with pytest.raises(HTTPException):
            check_clip_name(bad)


def test_times_are_iso_or_unix_seconds() -> None:
    assert parse_time("1700000000.5", "since") == 1700000000.5
    assert parse_time("2023-11-14T22:13:20Z", "since") == 1700000000.0
    assert parse_time("2023-11-15T06:13:20+08:00", "since") == 1700000000.0
    assert parse_time("2023-11-14T22:13:20", "since") == 1700000000.0  # naive: UTC
    assert parse_time(None, "since") is None
    for bad in ("yesterday", "nan", "inf"):
        with pytest.raises(HTTPException):
            parse_time(bad, "since")


# --- the server thread ------------------------------------------------------------------------


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, bool]:
        return {"pong": True}

    return app


def test_server_starts_serves_and_stops_promptly() -> None:
    server = ApiServer(_app(), "127.0.0.1", 0)
    assert server.start()
    port = server.bound_port
    assert port is not None
    assert httpx.get(f"http://127.0.0.1:{port}/ping").json() == {"pong": True}
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 3.0
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1.0)


def _blocked(thread: threading.Thread) -> int:
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    return int(next(x for x in status.splitlines() if x.startswith("SigBlk:")).split()[1], 16)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_server_threads_leave_stop_signals_to_the_main_thread() -> None:
    """Else the kernel may deliver SIGTERM to one of them while the main thread sleeps in
    `stop.wait()`, and `edge run` ignores the first SIGTERM (seen with the pages' tests)."""
    before = set(threading.enumerate())
    server = ApiServer(_app(), "127.0.0.1", 0)
    assert server.start()
    try:
        for _ in range(3):  # sync endpoints run in worker threads started by the event loop
            assert httpx.get(f"http://127.0.0.1:{server.bound_port}/ping").status_code == 200
        started = [t for t in threading.enumerate() if t not in before]
        assert len(started) >= 2  # the server thread and at least one worker
        stop_signals = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
        for thread in started:
            assert _blocked(thread) & stop_signals == stop_signals, thread.name
        assert _blocked(threading.main_thread()) & stop_signals == 0
    finally:
        server.stop()


def test_a_port_in_use_is_reported_not_raised() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = ApiServer(_app(), "127.0.0.1", taken.getsockname()[1])
        started = time.monotonic()
        assert server.start() is False
        assert time.monotonic() - started < 5.0
        server.stop()
