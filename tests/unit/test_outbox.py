"""The durable outbox: order, persistence, bounds, wake-ups and thread safety."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.alerts.outbox import Outbox, OutboxError, OutboxFullError, OutboxMessage
from edge.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outbox(tmp_path: Path, clock: FakeClock) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.db", clock=clock)
    yield box
    box.close()


def test_put_pending_ack_keeps_order(outbox: Outbox, clock: FakeClock) -> None:
    ids = []
    for i in range(5):
        ids.append(outbox.put(f"t/{i}", f"p{i}".encode(), qos=1, retain=i == 4))
        clock.advance(1.0)
    assert ids == sorted(ids)
    rows = outbox.pending(10)
    assert [r.topic for r in rows] == [f"t/{i}" for i in range(5)]
    assert rows[0] == OutboxMessage(ids[0], "t/0", b"p0", 1, False, clock.now() - 5.0)
    assert rows[4].retain is True
    assert [r.rowid for r in outbox.pending(2, after_rowid=ids[1])] == ids[2:4]
    outbox.ack(ids[0])
    outbox.ack_many([ids[2], ids[3]])
    outbox.ack(ids[0])  # already gone: ignored
    assert [r.rowid for r in outbox.pending(10)] == [ids[1], ids[4]]
    assert outbox.size() == 2


def test_rowids_never_reused_after_newest_is_acked(outbox: Outbox) -> None:
    first = outbox.put("t", b"1")
    second = outbox.put("t", b"2")
    outbox.ack(second)  # out-of-order ack of the newest row
    third = outbox.put("t", b"3")
    assert third > second > first


def test_rows_survive_close_and_reopen(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "deep" / "dir" / "outbox.db"
    box = Outbox(path, clock=clock)
    ids = [box.put("a/b", bytes([i]) * 100) for i in range(3)]
    box.ack(ids[0])
    box.close()
    reopened = Outbox(path, clock=clock)
    try:
        assert reopened.size() == 2
        assert [(r.rowid, r.payload) for r in reopened.pending(10)] == [
            (ids[1], b"\x01" * 100),
            (ids[2], b"\x02" * 100),
        ]
        assert reopened.put("a/b", b"x") > ids[2]
    finally:
        reopened.close()


def test_database_is_in_wal_mode(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "outbox.db"
    Outbox(path, clock=clock).close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()


def test_full_outbox_refuses_with_clear_error(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    box = Outbox(tmp_path / "o.db", clock=clock, max_rows=3)
    try:
        rowids = [box.put("t", b"x") for _ in range(3)]
        with pytest.raises(OutboxFullError, match=r"full: 3 unsent messages \(max_rows=3\)"):
            box.put("t", b"y")
        assert "is full" in caplog.text
        assert box.size() == 3
        box.ack(rowids[0])
        box.put("t", b"z")
        assert box.size() == 3
    finally:
        box.close()


@pytest.mark.parametrize(
    ("topic", "qos"),
    [("", 1), ("a/+/b", 1), ("a/#", 1), ("a\x00b", 1), ("a/b", 3), ("a/b", -1)],
)
def test_put_rejects_what_no_broker_accepts(outbox: Outbox, topic: str, qos: int) -> None:
    with pytest.raises(ValueError):
        outbox.put(topic, b"x", qos=qos)
    assert outbox.size() == 0


def test_corrupt_file_names_the_path(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "outbox.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(OutboxError, match=r"outbox\.db"):
        Outbox(path, clock=clock)


def test_unopenable_path_names_the_path(tmp_path: Path, clock: FakeClock) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(OutboxError, match="file"):
        Outbox(blocker / "outbox.db", clock=clock)


def test_closed_outbox_refuses(tmp_path: Path, clock: FakeClock) -> None:
    box = Outbox(tmp_path / "o.db", clock=clock)
    box.close()
    box.close()
    with pytest.raises(OutboxError, match="closed"):
        box.put("t", b"x")
    assert box.wait_for_new(0.01) is False


def test_wait_for_new_times_out_when_empty(outbox: Outbox) -> None:
    started = time.monotonic()
    assert outbox.wait_for_new(0.05) is False
    assert time.monotonic() - started >= 0.04


def test_wait_for_new_returns_at_once_when_rows_wait(outbox: Outbox) -> None:
    outbox.put("t", b"x")
    assert outbox.wait_for_new(10.0) is True


def test_wait_for_new_wakes_on_put_from_another_thread(outbox: Outbox) -> None:
    woke = threading.Event()

    def waiter() -> None:
        if outbox.wait_for_new(10.0):
            woke.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.05)
    assert not woke.is_set()
    outbox.put("t", b"x")
    thread.join(5.0)
    assert woke.is_set()


def test_put_listeners_are_called(outbox: Outbox) -> None:
    calls: list[int] = []
    outbox.add_put_listener(lambda: calls.append(outbox.size()))
    outbox.put("t", b"x")
    outbox.put("t", b"y")
    assert calls == [1, 2]


def test_concurrent_puts_lose_nothing(outbox: Outbox) -> None:
    threads, per_thread = 8, 50
    errors: list[BaseException] = []

    def producer(n: int) -> None:
        try:
            for i in range(per_thread):
                outbox.put(f"t/{n}", f"{n}:{i}".encode())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=producer, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    rows = outbox.pending(threads * per_thread + 1)
    assert outbox.size() == len(rows) == threads * per_thread
    assert len({r.payload for r in rows}) == threads * per_thread
    for n in range(threads):
        # Each producer's own messages stay in the order it put them.
        mine = [int(r.payload.split(b":")[1]) for r in rows if r.topic == f"t/{n}"]
        assert mine == list(range(per_thread))


def test_concurrent_put_and_ack(outbox: Outbox) -> None:
    total = 300
    done = threading.Event()
    acked: list[int] = []

    def consumer() -> None:
        while len(acked) < total:
            if not outbox.wait_for_new(5.0):
                break
            rows = outbox.pending(50)
            outbox.ack_many(r.rowid for r in rows)
            acked.extend(int(r.payload) for r in rows)
        done.set()

    thread = threading.Thread(target=consumer)
    thread.start()
    for i in range(total):
        outbox.put("t", str(i).encode())
    thread.join(10.0)
    assert done.is_set()
    assert acked == list(range(total))
    assert outbox.size() == 0
