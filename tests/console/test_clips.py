"""A node's evidence clip on the case (issue 16): fetched from the node once when the case is
opened, kept by sha256, served to those who may read the case; every way the node can fail
recorded and not retried in a tight loop. Against a real local HTTP server serving a real MP4
made from the shared footage at test time."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from grid_console.app import Console
from grid_console.cases.models import CaseEvent
from grid_console.clips.fetch import FetchLimits
from grid_console.clips.service import ClipSettings
from grid_console.clips.tokens import NodeTokens, parse_node_tokens
from grid_console.ingest.broker import parse_broker_url
from grid_console.settings import Settings
from grid_console.snapshots.models import Snapshot
from tests.console.clipserver import ClipServer, make_mp4
from tests.console.conftest import Backend
from tests.console.fakeclock import FakeClock
from tests.console.helpers import (
    ADMIN_PASSWORD,
    NodeStandIn,
    api_as,
    case_of,
    seed,
    started,
    wait_until,
)
from tests.console.pagekit import (
    DESKTOP,
    Served,
    assert_translated,
    sign_in,
)
from tests.console.payloads import alert, encode, new_alert_id
from tests.integration.broker import HOST, MosquittoBroker, free_port
from tests.schemas import validate

pytestmark = pytest.mark.integration

PASSWORD = "patrol-password-1"
NODE_TOKEN = "node-api-token-0123456789abcdef"
MAX_BYTES = 4 * 1024 * 1024
TIMEOUT_MS = 15_000
FOOTAGE = "data/videos/road_traffic_cars.mp4"


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    shared = Path(os.environ.get("GRID_SHARED_DIR", "/work/shared")) / FOOTAGE
    if not shared.is_file():
        pytest.skip(f"shared footage {FOOTAGE} is missing (GRID_SHARED_DIR)")
    content = make_mp4(shared, tmp_path_factory.mktemp("clip") / "clip.mp4")
    assert content[4:8] == b"ftyp" and len(content) < MAX_BYTES
    return content


@pytest.fixture
def node_server(mp4: bytes) -> Iterator[ClipServer]:
    server = ClipServer(mp4, token=NODE_TOKEN, huge=MAX_BYTES + 1)
    yield server
    server.close()


def _console(
    tmp_path: Path,
    broker: MosquittoBroker,
    backend: Backend,
    clock: FakeClock,
    prefetch_s: float = 0.0,  # most tests here are about fetching on open
) -> Console:
    token_file = tmp_path / "gate-1.token"
    token_file.write_text(NODE_TOKEN + "\n", encoding="utf-8")
    clips = ClipSettings(
        limits=FetchLimits(max_bytes=MAX_BYTES, timeout_s=1.5),
        tokens=parse_node_tokens([f"xizhen/gate-1={token_file}"]),
        retry_s=60,
        max_attempts=3,
        prefetch_s=prefetch_s,
    )
    settings = Settings(
        data_dir=tmp_path / "console", broker=parse_broker_url(broker.url), db_url=backend.url,
        admin_password=ADMIN_PASSWORD, cookie_secure=False, clips=clips,
    )  # fmt: skip
    return Console(settings, clock, announce=lambda _: None)


def raise_with_clip(
    console: Console, broker: MosquittoBroker, url: str | None, *, node: str = "gate-1",
    grid: str = "A-05", alert_id: str | None = None,
) -> int:  # fmt: skip
    """A parking alert whose evidence names `url` as its clip (None: no clip at all)."""
    alert_id = alert_id or new_alert_id()
    body = alert(alert_id, 1, "raised", kind="illegal_parking", severity="warning", grid=grid,
                 at=console._clock())  # fmt: skip
    body["node"] = node
    digest = "0" * 64
    body["evidence"] = {
        "snapshot_id": "s1", "url": f"/api/alerts/{alert_id}/snapshots/s1.jpg",
        "content_type": "image/jpeg", "width": 640, "height": 360, "bytes": 1000,
        "sha256": digest,
    }  # fmt: skip
    if url is not None:
        body["evidence"]["clip"] = {"url": url, "content_type": "video/mp4",
                                    "before_s": 5.0, "after_s": 5.0}  # fmt: skip
    validate("alert", body)
    publisher = NodeStandIn(broker, client_id=f"node-{alert_id[-8:]}")
    try:
        publisher.publish(f"grid/xizhen/{node}/alerts/illegal_parking", encode(body))
    finally:
        publisher.close()
    case = wait_until(lambda: case_of(console, alert_id), what="the case")
    assert case is not None
    return case.id


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def console(
    tmp_path: Path, broker: MosquittoBroker, backend: Backend, clock: FakeClock
) -> Iterator[Console]:
    instance = started(_console(tmp_path, broker, backend, clock))
    seed(instance, grids=[("A-05", None), ("B-01", None)],
         people=[("zhaoop", "operator", []), ("lipatrol", "patrol", ["A-05"]),
                 ("wangpatrol", "patrol", ["B-01"])], password=PASSWORD)  # fmt: skip
    yield instance
    instance.stop()


def clip_events(console: Console, case: int, action: str) -> list[dict[str, Any]]:
    with Session(console.engine) as session:
        rows = session.execute(
            select(CaseEvent.detail)
            .where(CaseEvent.case_id == case, CaseEvent.action == action)
            .order_by(CaseEvent.id)
        ).scalars()
        return [dict(d) for d in rows]


def test_a_clip_is_fetched_once_kept_by_sha256_and_served_by_role(
    console: Console, broker: MosquittoBroker, node_server: ClipServer, mp4: bytes
) -> None:
    first, second = new_alert_id(), new_alert_id()
    node_server.behaviour.update({first: "token", second: "ok"})
    case = raise_with_clip(console, broker, node_server.url(first), alert_id=first)
    operator = api_as(console, "zhaoop", PASSWORD)
    reply = operator.get(f"/api/cases/{case}/clip")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "video/mp4"
    assert reply.content == mp4
    assert node_server.auth[first] == f"Bearer {NODE_TOKEN}", "the node's token was sent"
    # Opened again, by anyone allowed: from the database, the node is not asked again.
    assert operator.get(f"/api/cases/{case}/clip").content == mp4
    assert api_as(console, "lipatrol", PASSWORD).get(f"/api/cases/{case}/clip").content == mp4
    assert node_server.count(first) == 1
    # Another grid's patrol: as if the case did not exist; nobody signed in: 401.
    assert api_as(console, "wangpatrol", PASSWORD).get(f"/api/cases/{case}/clip").status_code == 404
    assert TestClient(console.app).get(f"/api/cases/{case}/clip").status_code == 401
    digest = hashlib.sha256(mp4).hexdigest()
    assert [e["sha256"] for e in clip_events(console, case, "clip_fetched")] == [digest]
    # The clip is evidence of the case, not a picture: not among the snapshots, not public.
    evidence = operator.get(f"/api/pages/cases/{case}/evidence").json()
    assert digest not in evidence["snapshots"]
    assert TestClient(console.app).get(f"/api/snapshots/{digest}").status_code == 404
    # The same bytes from another alert's clip: stored once.
    other = raise_with_clip(console, broker, node_server.url(second), alert_id=second)
    assert operator.get(f"/api/cases/{other}/clip").content == mp4
    with Session(console.engine) as session:
        rows = session.execute(select(Snapshot.content_type, Snapshot.size)).all()
    assert rows == [("video/mp4", len(mp4))]


def test_a_missing_clip_is_asked_for_again_after_a_pause_and_then_given_up(
    console: Console, broker: MosquittoBroker, node_server: ClipServer, clock: FakeClock
) -> None:
    alert_id = new_alert_id()  # the server answers 404 for it: not written yet
    case = raise_with_clip(console, broker, node_server.url(alert_id), alert_id=alert_id)
    operator = api_as(console, "zhaoop", PASSWORD)
    reply = operator.get(f"/api/cases/{case}/clip")
    assert reply.status_code == 404
    detail = reply.json()["detail"]
    assert (detail["reason"], detail["attempts"]) == ("not_found", 1)
    assert detail["retry_at"] is not None and "节点上没有" in detail["message"]
    for _ in range(5):  # the page polled, people reopened it: the node is not asked
        assert operator.get(f"/api/cases/{case}/clip").json()["detail"]["reason"] == "not_found"
    assert node_server.count(alert_id) == 1
    clock.advance(61)
    assert operator.get(f"/api/cases/{case}/clip").json()["detail"]["attempts"] == 2
    clock.advance(61)
    last = operator.get(f"/api/cases/{case}/clip").json()["detail"]
    assert (last["attempts"], last["retry_at"]) == (3, None), "given up after max_attempts"
    clock.advance(3600)
    operator.get(f"/api/cases/{case}/clip")
    assert node_server.count(alert_id) == 3
    assert [e["reason"] for e in clip_events(console, case, "clip_failed")] == ["not_found"] * 3
    # Once the node has it, a later case of the same alert... is the same case; a new alert
    # whose clip is there is fetched at once.
    fresh = new_alert_id()
    node_server.behaviour[fresh] = "ok"
    ok = raise_with_clip(console, broker, node_server.url(fresh), alert_id=fresh)
    assert operator.get(f"/api/cases/{ok}/clip").status_code == 200


@pytest.mark.parametrize(
    ("how", "reason", "final"),
    [
        ("huge_announced", "too_big", True),
        ("huge_counted", "too_big", True),
        ("not_mp4", "not_mp4", True),
        ("slow", "timeout", False),
    ],
)
def test_a_clip_the_node_cannot_give_is_refused_in_words(
    console: Console, broker: MosquittoBroker, node_server: ClipServer, clock: FakeClock,
    *, how: str, reason: str, final: bool,
) -> None:  # fmt: skip
    alert_id = new_alert_id()
    node_server.behaviour[alert_id] = how
    case = raise_with_clip(console, broker, node_server.url(alert_id), alert_id=alert_id)
    operator = api_as(console, "zhaoop", PASSWORD)
    reply = operator.get(f"/api/cases/{case}/clip")
    assert reply.status_code == 502, reply.text
    detail = reply.json()["detail"]
    assert detail["reason"] == reason and " / " in detail["message"], detail
    assert (detail["retry_at"] is None) is final
    clock.advance(61)
    operator.get(f"/api/cases/{case}/clip")
    assert node_server.count(alert_id) == (1 if final else 2)
    with Session(console.engine) as session:
        assert session.execute(select(Snapshot)).first() is None, "nothing partial kept"


def test_no_clip_unreachable_relative_and_a_token_the_node_wants(
    console: Console, broker: MosquittoBroker, node_server: ClipServer
) -> None:
    operator = api_as(console, "zhaoop", PASSWORD)
    none = raise_with_clip(console, broker, None)
    reply = operator.get(f"/api/cases/{none}/clip")
    assert reply.status_code == 404 and reply.json()["detail"]["reason"] == "none"
    assert clip_events(console, none, "clip_failed") == [], "nothing to fetch is no failure"
    dead = new_alert_id()
    closed = f"http://{HOST}:{free_port()}/api/alerts/{dead}/clip.mp4"
    case = raise_with_clip(console, broker, closed, alert_id=dead)
    assert operator.get(f"/api/cases/{case}/clip").json()["detail"]["reason"] == "unreachable"
    relative = new_alert_id()
    case = raise_with_clip(console, broker, f"/api/alerts/{relative}/clip.mp4", alert_id=relative)
    detail = operator.get(f"/api/cases/{case}/clip").json()["detail"]
    assert (detail["reason"], detail["retry_at"]) == ("bad_url", None)
    # gate-2 has no token configured: its node refuses, and the case says why.
    wanted = new_alert_id()
    node_server.behaviour[wanted] = "token"
    case = raise_with_clip(console, broker, node_server.url(wanted), node="gate-2",
                           alert_id=wanted)  # fmt: skip
    reply = operator.get(f"/api/cases/{case}/clip")
    assert reply.status_code == 502 and reply.json()["detail"]["reason"] == "refused"
    assert node_server.auth[wanted] is None


def test_node_token_entries_are_checked() -> None:
    tokens = parse_node_tokens(["/etc/all.token", "xizhen/gate-1=/etc/g1.token"])
    assert tokens.files.default == Path("/etc/all.token")
    assert tokens.files.per_node == {("xizhen", "gate-1"): Path("/etc/g1.token")}
    assert NodeTokens().token_for("xizhen", "gate-1") is None
    for bad, named in ((["a", "b"], "more than one"), (["x=y"], "not FILE or"),
                       (["s/n=a", "s/n=b"], "named twice")):  # fmt: skip
        with pytest.raises(ValueError, match=named):
            parse_node_tokens(bad)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_case_page_plays_the_clip_and_says_why_not(
    console: Console, broker: MosquittoBroker, node_server: ClipServer,
    open_tab: Callable[..., Any],
) -> None:  # fmt: skip
    good, missing = new_alert_id(), new_alert_id()
    node_server.behaviour[good] = "token"
    playing = raise_with_clip(console, broker, node_server.url(good), alert_id=good)
    absent = raise_with_clip(console, broker, node_server.url(missing), alert_id=missing)
    served = Served(console)
    try:
        desk = open_tab(DESKTOP)
        sign_in(desk, served.base, "zhaoop", PASSWORD, timeout_ms=TIMEOUT_MS)
        desk.goto(f"{served.base}/cases/{playing}")
        desk.locator("#clip-video").wait_for(timeout=TIMEOUT_MS)
        # Chromium decoded the MP4's header: a real, playable video, not just bytes.
        desk.wait_for_function(
            "() => { const v = document.getElementById('clip-video');"
            " return v && v.readyState >= 1 && v.videoWidth > 0; }",
            timeout=TIMEOUT_MS,
        )
        desk.wait_for_timeout(3500)  # a poll redraws the detail: the same video stays
        assert desk.evaluate("() => document.getElementById('clip-video').videoWidth") > 0
        link = desk.locator("#clip-download")
        assert link.get_attribute("download") == f"case-{playing}.mp4"
        assert link.inner_text() == "下载视频"
        assert node_server.count(good) == 1
        desk.goto(f"{served.base}/cases/{absent}")
        message = desk.locator("#clip p[data-clip='not_found']")
        message.wait_for(timeout=TIMEOUT_MS)
        assert message.inner_text().startswith("节点上没有这段视频")
        assert "重新打开案件可再试" in message.inner_text()
        assert_translated(desk)
        desk.click("#lang")
        desk.locator("#clip p:has-text('The node has no clip')").wait_for(timeout=TIMEOUT_MS)
        assert node_server.count(missing) == 1, "the page's polling did not ask the node again"
    finally:
        served.stop()


def hevc_mp4(out: Path) -> bytes:
    """One second of the shared road footage as H.265 in MP4, as a camera sending H.265 gives
    the node (ffmpeg's libx265, the Debian package CI installs)."""
    ffmpeg = shutil.which("ffmpeg")
    shared = Path(os.environ.get("GRID_SHARED_DIR", "/work/shared")) / FOOTAGE
    if ffmpeg is None or not shared.is_file():
        pytest.skip("needs ffmpeg and the shared footage (GRID_SHARED_DIR)")
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-i", str(shared), "-t", "1", "-an", "-vf", "scale=640:-2",
         "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error",
         str(out)], check=True, timeout=120,
    )  # fmt: skip
    return out.read_bytes()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_clip_the_browser_cannot_play_says_so_and_can_be_downloaded(
    console: Console, broker: MosquittoBroker, open_tab: Callable[..., Any], tmp_path: Path
) -> None:
    hevc = hevc_mp4(tmp_path / "hevc.mp4")
    server = ClipServer(hevc, token=NODE_TOKEN, huge=MAX_BYTES + 1)
    alert_id = new_alert_id()
    server.behaviour[alert_id] = "token"
    case = raise_with_clip(console, broker, server.url(alert_id), alert_id=alert_id)
    served = Served(console)
    try:
        desk = open_tab(DESKTOP)
        sign_in(desk, served.base, "zhaoop", PASSWORD, timeout_ms=TIMEOUT_MS)
        desk.goto(f"{served.base}/cases/{case}")
        link = desk.locator("#clip-download")
        link.wait_for(timeout=TIMEOUT_MS)
        playable = desk.evaluate(
            "() => document.createElement('video')"
            ".canPlayType('video/mp4; codecs=\"hev1.1.6.L93.B0\"') !== ''"
        )
        if playable:  # a Chromium with an H.265 decoder: it simply plays
            desk.wait_for_function(
                "() => document.getElementById('clip-video').videoWidth > 0", timeout=TIMEOUT_MS
            )
        else:
            message = desk.locator("#clip p[data-clip='unplayable']")
            message.wait_for(timeout=TIMEOUT_MS)
            assert message.inner_text().startswith("此浏览器无法播放这段视频")
            assert_translated(desk)
            desk.click("#lang")
            desk.locator("#clip p:has-text('This browser cannot play the clip')").wait_for(
                timeout=TIMEOUT_MS
            )
            assert link.inner_text() == "Download the clip"
        # The link hands over the very bytes the node sent.
        with desk.expect_download() as info:
            link.click()
        saved = tmp_path / "downloaded.mp4"
        info.value.save_as(saved)
        assert saved.read_bytes() == hevc
        assert server.count(alert_id) == 1
    finally:
        served.stop()
        server.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_clips_are_fetched_ahead_once_the_node_has_written_them(
    tmp_path: Path, broker: MosquittoBroker, backend: Backend, clock: FakeClock, *,
    node_server: ClipServer, mp4: bytes,
) -> None:  # fmt: skip
    """Nobody opens the case, and the node prunes its clip a while later: the console fetched
    it ahead, when the node should have written it (the clip's after_s, 5 s, and 3 s more)."""
    console = started(_console(tmp_path, broker, backend, clock, prefetch_s=0.1))
    seed(console, grids=[("A-05", None)], people=[("zhaoop", "operator", [])], password=PASSWORD)
    try:
        kept, missing, plain = new_alert_id(), new_alert_id(), new_alert_id()
        node_server.behaviour[kept] = "token"
        case = raise_with_clip(console, broker, node_server.url(kept), alert_id=kept)
        gone = raise_with_clip(console, broker, node_server.url(missing), alert_id=missing)
        raise_with_clip(console, broker, None, alert_id=plain)
        time.sleep(1.0)  # ten passes: too early for the node's clip, nothing asked
        assert node_server.count(kept) == node_server.count(missing) == 0
        clock.advance(7.0)
        time.sleep(1.0)
        assert node_server.count(kept) == 0
        clock.advance(1.5)
        wait_until(lambda: clip_events(console, case, "clip_fetched"), what="the fetch ahead")
        assert clip_events(console, case, "clip_fetched")[0]["opened_by"] == "system"
        node_server.behaviour[kept] = "missing"  # the node pruned it
        reply = api_as(console, "zhaoop", PASSWORD).get(f"/api/cases/{case}/clip")
        assert reply.status_code == 200 and reply.content == mp4
        assert node_server.count(kept) == 1
        # A clip the node does not have is asked for again only after the pause (60 s).
        wait_until(lambda: node_server.count(missing) == 1, what="the first try")
        clock.advance(30.0)
        time.sleep(1.0)
        assert node_server.count(missing) == 1
        clock.advance(31.0)
        wait_until(lambda: node_server.count(missing) == 2, what="the retry")
        assert len(clip_events(console, gone, "clip_failed")) == 2
        assert node_server.count(plain) == 0  # no clip named: nothing to fetch
        # The prefetcher gives up after its 3 tries (the node is away, say) ...
        clock.advance(61.0)
        wait_until(lambda: node_server.count(missing) == 3, what="the last try ahead")
        clock.advance(61.0)
        time.sleep(1.0)
        assert node_server.count(missing) == 3
        # ... but those were not a person's tries: opened once the node is back, it comes.
        node_server.behaviour[missing] = "token"
        reply = api_as(console, "zhaoop", PASSWORD).get(f"/api/cases/{gone}/clip")
        assert reply.status_code == 200 and reply.content == mp4
        failed = clip_events(console, gone, "clip_failed")
        assert len(failed) == 3 and all(f["ahead"] is True for f in failed)
        assert clip_events(console, gone, "clip_fetched")[0]["opened_by"] == "zhaoop"
    finally:
        console.stop()
