"""Notifications sent to real local endpoints: each vendor's body and signature, retries with
backoff, the outcome recorded on the case, dead endpoints, replicas and restarts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from grid_console.cases.models import CaseEvent
from grid_console.notify import Channel, ChannelKind, Recipient, enqueue, recipient_from
from grid_console.notify.http import HttpReply, post
from grid_console.notify.models import Delivery, DeliveryAttempt
from grid_console.notify.retry import RetryPolicy
from grid_console.notify.senders import Senders
from grid_console.notify.webhook import verify
from grid_console.notify.worker import DeliveryWorker, WorkerOptions
from grid_console.snapshots.service import store_snapshot
from tests.console.casefactory import insert_case, migrated_engine
from tests.console.conftest import Backend
from tests.console.notify_servers import (
    Behaviour,
    RecordingServer,
    RedirectServer,
    SmtpServer,
)
from tests.integration.broker import HOST, free_port

T0 = datetime(2026, 11, 23, 14, 20, 1, tzinfo=UTC)  # 22:20:01 in Shanghai
PUBLIC = "https://console.example.org"
JPEG = b"\xff\xd8jpeg-1\xff\xd9"
SECRET = "SECtest-robot-secret-0123456789"


class ManualClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def engine(backend: Backend, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(backend, tmp_path) as engine:
        yield engine


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    s = RecordingServer()
    yield s
    s.close()


def worker(engine: Engine, clock: ManualClock, *, retry: RetryPolicy | None = None,
           smtp_url: str | None = None, timeout_s: float = 5.0, owner: str = "console-1",
           parallel: int = 4) -> DeliveryWorker:  # fmt: skip
    options = WorkerOptions(public_url=PUBLIC, retry=retry or RetryPolicy(), parallel=parallel)
    return DeliveryWorker(engine, Senders(smtp_url=smtp_url, timeout_s=timeout_s), clock,
                          owner=owner, options=options)  # fmt: skip


def owe(engine: Engine, recipients: list[Recipient], reason: str = "dispatched",
        camera: str | None = "lift-3") -> tuple[int, list[int]]:  # fmt: skip
    with Session(engine) as session, session.begin():
        case = insert_case(session, T0, kind="ebike_in_lift", severity="major", camera=camera)
        store_snapshot(session, case.alert_id, JPEG, T0)
        return case.id, enqueue(session, case.id, recipients, reason, T0)


def one(name: str, kind: ChannelKind, target: str, secret: str | None = None) -> Recipient:
    return Recipient(name, (Channel(kind, target, secret),))


def deliveries(engine: Engine) -> list[Delivery]:
    with Session(engine) as session:
        return list(session.execute(select(Delivery).order_by(Delivery.id)).scalars())


def attempts(engine: Engine, delivery_id: int) -> list[DeliveryAttempt]:
    with Session(engine) as session:
        stmt = select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)
        return list(session.execute(stmt.order_by(DeliveryAttempt.id)).scalars())


def timeline(engine: Engine, case_id: int) -> list[tuple[str, str | None]]:
    with Session(engine) as session:
        stmt = select(CaseEvent.action, CaseEvent.note).where(CaseEvent.case_id == case_id)
        return [(a, n) for a, n in session.execute(stmt.order_by(CaseEvent.id))]


def test_each_robot_gets_its_card_signed_as_its_vendor_checks(
    engine: Engine, server: RecordingServer
) -> None:
    clock = ManualClock(T0)
    case_id, ids = owe(engine, [
        one("王网格", ChannelKind.WECOM, server.url("/cgi-bin/webhook/send?key=K1")),
        one("李队员", ChannelKind.DINGTALK, server.url("/robot/send?access_token=T1"), SECRET),
        one("张网格长", ChannelKind.FEISHU, server.url("/open-apis/bot/v2/hook/H1"), SECRET),
    ])  # fmt: skip
    assert worker(engine, clock).run_due() == 3
    by_path = {r.path: r for r in server.all()}
    snapshot = f"{PUBLIC}/api/snapshots/{hashlib.sha256(JPEG).hexdigest()}"
    case_link = f"{PUBLIC}/cases/{case_id}"

    wecom = by_path["/cgi-bin/webhook/send"].json()
    assert wecom["msgtype"] == "markdown"
    text = wecom["markdown"]["content"]
    for expected in ("电动车进电梯", "重要", "网格 A-05", "5号楼", "1层", "摄像头 camera lift-3",
                     "区域 zone car", "2026-11-23 22:20:01 (北京时间)", "派遣任务", case_link,
                     snapshot, "e-bike in lift"):  # fmt: skip
        assert expected in text, expected

    ding = by_path["/robot/send"]
    # What DingTalk's server does: recompute the signature from the timestamp and its secret.
    timestamp = ding.query["timestamp"][0]
    mac = hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256).digest()
    assert unquote(ding.query["sign"][0]) == base64.b64encode(mac).decode()
    assert timestamp == str(int(T0.timestamp() * 1000))
    card = ding.json()["actionCard"]
    assert card["singleURL"] == case_link and f"![现场截图 snapshot]({snapshot})" in card["text"]

    feishu = by_path["/open-apis/bot/v2/hook/H1"].json()
    expected_sign = base64.b64encode(hmac.new(f"{feishu['timestamp']}\n{SECRET}".encode(), b"",
                                              hashlib.sha256).digest()).decode()  # fmt: skip
    assert feishu["sign"] == expected_sign
    assert feishu["card"]["header"]["template"] == "red"
    button = feishu["card"]["elements"][1]["actions"][0]
    assert button["url"] == case_link
    assert "电动车进电梯" in feishu["card"]["header"]["title"]["content"]

    assert [d.status for d in deliveries(engine)] == ["sent"] * 3
    notified = [n or "" for a, n in timeline(engine, case_id) if a == "notified"]
    assert sorted(notified) == sorted([
        "王网格 · wecom · dispatched", "李队员 · dingtalk · dispatched",
        "张网格长 · feishu · dispatched"])  # fmt: skip
    assert all(len(attempts(engine, i)) == 1 for i in ids)


def test_webhook_is_signed_and_a_tampered_or_stale_body_fails_verification(
    engine: Engine, server: RecordingServer
) -> None:
    clock = ManualClock(T0)
    case_id, (delivery_id,) = owe(engine, [one("hook", ChannelKind.WEBHOOK, server.url(),
                                               SECRET)])  # fmt: skip
    worker(engine, clock).run_due()
    (got,) = server.all()
    verify(SECRET, got.headers, got.body, T0)  # authentic and fresh: no error
    body = got.json()
    assert body["schema"] == "grid-console.notification/1"
    assert body["delivery_id"] == delivery_id == int(got.headers["X-Grid-Delivery"])
    assert body["case"]["id"] == case_id and body["case"]["kind"] == "ebike_in_lift"
    assert body["message"]["case_url"] == f"{PUBLIC}/cases/{case_id}"
    with pytest.raises(ValueError, match="does not match"):
        verify(SECRET, got.headers, got.body.replace(b"ebike", b"ebikf"), T0)
    with pytest.raises(ValueError, match="does not match"):
        verify("another-secret", got.headers, got.body, T0)
    with pytest.raises(ValueError, match="replay"):
        verify(SECRET, got.headers, got.body, T0 + timedelta(seconds=301))


def test_email_through_apprise_to_a_real_smtp_server(engine: Engine) -> None:
    smtp = SmtpServer(fail_first=1)
    try:
        clock = ManualClock(T0)
        retry = RetryPolicy(first_s=1, max_delay_s=5, max_attempts=3)
        run = worker(engine, clock, retry=retry, smtp_url=smtp.url())
        case_id, (delivery_id,) = owe(engine, [one("王网格", ChannelKind.EMAIL,
                                                   "wang@example.org")])  # fmt: skip
        run.run_due()  # 451 from the server: a failed attempt, retried
        (first,) = attempts(engine, delivery_id)
        assert not first.ok and "451" in first.detail
        clock.advance(1)
        run.run_due()
        sender, rcpt, mail = smtp.recorder.messages[0]
        assert (sender, rcpt) == ("grid-console@example.org", ["wang@example.org"])
        assert "电动车进电梯" in str(mail["Subject"])
        html = mail.get_body(("html",))
        assert html is not None
        content = html.get_content()
        assert f"{PUBLIC}/cases/{case_id}" in content and "<img src=" in content
        assert deliveries(engine)[0].status == "sent"
    finally:
        smtp.close()


def test_retries_back_off_exponentially_up_to_the_cap_then_give_up_on_the_case(
    engine: Engine, server: RecordingServer
) -> None:
    server.behaviour = Behaviour(fail_first=100, failure="vendor")  # HTTP 200, errcode 40035
    clock = ManualClock(T0)
    retry = RetryPolicy(first_s=2, factor=3, max_delay_s=10, max_attempts=4)
    run = worker(engine, clock, retry=retry)
    case_id, (delivery_id,) = owe(engine, [one("王网格", ChannelKind.WECOM, server.url())])
    waits = []
    for _ in range(4):
        assert run.run_due() == 1
        row = deliveries(engine)[0]
        if row.status == "failed":
            break
        waits.append((row.due_at - clock.now).total_seconds())
        clock.advance(waits[-1] - 0.5)
        assert run.run_due() == 0, "sent before it was due"
        clock.advance(0.5)
    assert waits == [2, 6, 10]  # 2, 2*3, min(2*9, 10)
    row = deliveries(engine)[0]
    assert (row.status, row.attempts) == ("failed", 4)
    assert "refused by the robot" in (row.last_error or "")
    assert [a.ok for a in attempts(engine, delivery_id)] == [False] * 4
    failed = [n for a, n in timeline(engine, case_id) if a == "notify_failed"]
    assert len(failed) == 1 and "4 attempts" in (failed[0] or "")
    clock.advance(3600)
    assert run.run_due() == 0 and len(server.all()) == 4


def test_a_dead_endpoint_does_not_hold_up_the_others(
    engine: Engine, server: RecordingServer
) -> None:
    hanging = RecordingServer(Behaviour(hang_s=3.0))
    try:
        clock = ManualClock(T0)
        refused = f"http://{HOST}:{free_port()}/nobody"
        owe(engine, [
            one("hangs", ChannelKind.WEBHOOK, hanging.url()),
            one("refuses", ChannelKind.WEBHOOK, refused),
            one("works", ChannelKind.WEBHOOK, server.url()),
        ])  # fmt: skip
        start = time.monotonic()
        run = worker(engine, clock, timeout_s=1.0)
        assert run.run_due() == 3
        (good,) = server.all()
        assert good.at - start < 0.9, "the working endpoint waited for the dead ones"
        by_name = {d.recipient: d for d in deliveries(engine)}
        assert by_name["works"].status == "sent"
        assert "no complete answer within 1 s" in (by_name["hangs"].last_error or "")
        assert "cannot connect" in (by_name["refuses"].last_error or "")
        assert by_name["hangs"].status == by_name["refuses"].status == "pending"
        assert run.run_due() == 0  # not due again until their backoff passes
    finally:
        hanging.close()


def test_enqueue_twice_owes_once(engine: Engine, server: RecordingServer) -> None:
    people = [one("王网格", ChannelKind.WEBHOOK, server.url()),
              Recipient("李队员", (Channel(ChannelKind.WECOM, server.url("/w")),
                                   Channel(ChannelKind.EMAIL, "li@example.org")))]  # fmt: skip
    case_id, ids = owe(engine, people)
    assert len(ids) == 3
    with Session(engine) as session, session.begin():
        assert enqueue(session, case_id, people, "dispatched", T0) == ids
        assert len(enqueue(session, case_id, people, "overdue#1", T0)) == 3
    assert len(deliveries(engine)) == 6


def test_bad_channels_are_refused_naming_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="not one of: wecom, dingtalk"):
        Channel("sms", "123")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"wecom channel: target 'ftp://x' is not an http"):
        Channel(ChannelKind.WECOM, "ftp://x")
    with pytest.raises(ValueError, match=r"email channel: target 'a@b\.c, d@e\.f' is not one"):
        Channel(ChannelKind.EMAIL, "a@b.c, d@e.f")
    with pytest.raises(ValueError, match="target is empty"):
        Channel(ChannelKind.WEBHOOK, "  ")
    # Stored channels that went bad are skipped with a reason; the good ones still count.
    stored = [("wecom", "https://qyapi.example/x", None), ("pager", "123", None),
              ("email", "no-at", None)]  # fmt: skip
    person, problems = recipient_from("王网格", stored)
    assert [c.kind for c in person.channels] == [ChannelKind.WECOM]
    assert len(problems) == 2 and problems[0].startswith("王网格: channel kind 'pager'")


def test_two_replicas_send_each_delivery_exactly_once(
    backend: Backend, tmp_path: Path, engine: Engine, server: RecordingServer
) -> None:
    clock = ManualClock(T0)
    people = [one(f"p{n}", ChannelKind.WEBHOOK, server.url(f"/p{n}")) for n in range(30)]
    owe(engine, people)
    with migrated_engine(backend, tmp_path) as other:  # a second replica: its own pool
        replicas = [worker(engine, clock, owner="console-1", parallel=2),
                    worker(other, clock, owner="console-2", parallel=2)]  # fmt: skip
        counts = [0, 0]

        def drain(n: int) -> None:
            while (done := replicas[n].run_due()) > 0:
                counts[n] += done

        threads = [threading.Thread(target=drain, args=(n,)) for n in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    paths = sorted(r.path for r in server.all())
    assert paths == sorted(f"/p{n}" for n in range(30))  # each once, none twice
    assert sum(counts) == 30
    assert {d.status for d in deliveries(engine)} == {"sent"}


def test_a_claim_that_outlives_its_lease_is_taken_over_and_recorded_once(
    engine: Engine,
) -> None:
    # Replica 1 claims and then hangs in the send (as if its host froze); once the lease has
    # passed, replica 2 takes the delivery over. Replica 1's late answer is kept as an attempt
    # but does not decide the outcome, and the case is told "notified" once.
    slow = RecordingServer(Behaviour(hang_s=1.5))
    try:
        clock = ManualClock(T0)
        case_id, (delivery_id,) = owe(engine, [one("王网格", ChannelKind.WEBHOOK, slow.url())])
        first = worker(engine, clock, owner="console-1")
        stuck = threading.Thread(target=first.run_due)
        stuck.start()
        wait_for = time.monotonic() + 5
        while not slow.behaviour.seen and time.monotonic() < wait_for:
            time.sleep(0.01)
        assert worker(engine, clock, owner="console-2").run_due() == 0  # claimed: hands off
        clock.advance(121)  # the 120 s lease has passed
        assert worker(engine, clock, owner="console-2").run_due() == 1
        stuck.join(10)
        tries = attempts(engine, delivery_id)
        assert sorted(a.worker for a in tries) == ["console-1", "console-2"]
        assert deliveries(engine)[0].status == "sent"
        assert [a for a, _ in timeline(engine, case_id)].count("notified") == 1
        assert len(slow.all()) == 2  # the documented gap: at least once across a lost lease
    finally:
        slow.close()


def test_a_redirect_is_a_failure_and_markup_in_a_place_name_stays_text(
    engine: Engine, server: RecordingServer
) -> None:
    clock = ManualClock(T0)
    with Session(engine) as session, session.begin():
        case = insert_case(session, T0, camera="cam[1](https://evil.example)")
        case.location = "<b>5号楼</b>\n# 标题 ![x](https://evil.example/p.png)"
        case_id = case.id
        enqueue(session, case_id, [one("w", ChannelKind.WECOM, server.url("/wecom"))], "new", T0)
    # A redirecting endpoint: urllib would follow it with a GET and call that delivered.
    moved = RedirectServer(server.url("/elsewhere"))
    try:
        with Session(engine) as session, session.begin():
            enqueue(session, case_id, [one("r", ChannelKind.WEBHOOK, moved.url())], "new", T0)
        worker(engine, clock).run_due()
    finally:
        moved.close()
    by_name = {d.recipient: d for d in deliveries(engine)}
    assert by_name["r"].status == "pending" and "HTTP 302" in (by_name["r"].last_error or "")
    assert [r.path for r in server.all()] == ["/wecom"]  # nothing reached /elsewhere
    text = server.all()[0].json()["markdown"]["content"]
    assert "](https://evil" not in text and "<b>" not in text
    assert "cam［1］(https://evil.example)" in text and "＜b＞5号楼＜/b＞ # 标题" in text


def test_an_endpoint_that_trickles_its_answer_is_cut_off_at_the_timeout() -> None:
    # One byte every 0.2 s: no single read ever times out, but the send as a whole must.
    stop = threading.Event()
    listener = socket.create_server((HOST, 0))
    port = listener.getsockname()[1]

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
                if stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.2)

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    try:
        started = time.monotonic()
        result = post(f"http://{HOST}:{port}/hook", b"{}", {}, timeout_s=1.0)
        took = time.monotonic() - started
    finally:
        stop.set()
        listener.close()
    assert not isinstance(result, HttpReply) and not result.ok
    assert result.detail == "no complete answer within 1 s"
    assert took < 2.5, f"the send took {took:.1f} s"
