"""What `transaction` says while it retries (grid_console/db/session.py): 'busy' when another
writer holds the database, 'unreachable' when the database cannot be reached at all. Real
SQLite files and a real refused TCP connection; real logging through caplog."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from grid_console.db.session import transaction
from tests.integration.broker import free_port

LOGGER = "grid_console.db.session"


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == LOGGER]


def test_a_write_lock_held_by_another_writer_is_busy_and_warned_about_per_retry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    path = tmp_path / "busy.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")  # another writer, mid-transaction
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            holder.execute("COMMIT")  # the other writer is done

    def work(session: Session) -> None:
        session.execute(text("INSERT INTO t VALUES (1)"))

    try:
        transaction(engine, work, sleep=sleep)
    finally:
        holder.close()
        engine.dispose()
    assert waits == [0.05, 0.1]
    assert _lines(caplog) == [
        (logging.WARNING, "database busy (database is locked); retry 1 of 4"),
        (logging.WARNING, "database busy (database is locked); retry 2 of 4"),
    ]


def test_a_refused_connection_is_unreachable_and_left_to_the_caller_to_report(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    try:
        with pytest.raises(OperationalError):
            transaction(engine, lambda s: s.execute(text("SELECT 1")), sleep=lambda _: None)
    finally:
        engine.dispose()
    lines = _lines(caplog)
    # The caller gets the error and reports it (a loop through its FailureLog): a warning per
    # retry of every transaction would flood the log for as long as the outage lasts.
    assert [level for level, _ in lines] == [logging.DEBUG] * 4
    assert all(m.startswith("database unreachable (connection failed: ") for _, m in lines)
    assert "Connection refused); retry 1 of 4" in lines[0][1]
    assert "\n" not in lines[0][1]
    assert "busy" not in " ".join(m for _, m in lines)


def test_a_database_reached_again_within_the_retries_is_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    folder = tmp_path / "mounted-later"  # a volume not there yet: SQLite cannot open the file
    engine = create_engine(f"sqlite:///{folder / 'console.sqlite3'}")
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            folder.mkdir()

    try:
        assert transaction(engine, lambda s: s.execute(text("SELECT 7")).scalar(), sleep=sleep)
    finally:
        engine.dispose()
    assert _lines(caplog) == [
        (logging.DEBUG, "database unreachable (unable to open database file); retry 1 of 4"),
        (logging.DEBUG, "database unreachable (unable to open database file); retry 2 of 4"),
        (logging.WARNING, "database reached again on retry 2 of 4 after: unable to open "
                          "database file"),
    ]  # fmt: skip
