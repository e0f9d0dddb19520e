"""Engines for the two supported backends, and the URL rules.

SQLite (the embedded default) gets WAL, foreign keys, a busy timeout and `BEGIN IMMEDIATE`:
every transaction takes the write lock when it starts. Without that, two writers (the ingest
and an operator's action, or two replicas on one file) that both read first and then write
fail with "database is locked" at the upgrade, which the busy timeout does not cover in WAL
mode. PostgreSQL (production) is reached through psycopg 3; plain `postgresql://` URLs are
mapped to it, since psycopg2 is not a dependency.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

SQLITE_FILE = "console.sqlite3"
_SQLITE_BUSY_MS = 30_000


def default_url(data_dir: Path) -> str:
    return f"sqlite+pysqlite:///{(data_dir / SQLITE_FILE).resolve()}"


def normalise_url(url: str) -> str:
    """Map `postgres://` and `postgresql://` to psycopg 3; refuse backends we do not test."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("postgres", "postgresql"):
        if parsed.drivername in ("postgres", "postgresql"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        elif parsed.drivername != "postgresql+psycopg":
            raise ValueError(f"use postgresql+psycopg:// (psycopg 3), not {parsed.drivername}")
    elif backend != "sqlite":
        raise ValueError(f"unsupported database {backend!r}: use SQLite or PostgreSQL")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    # pre_ping: a connection the server dropped (restart, failover) is replaced, not used.
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": _SQLITE_BUSY_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own transaction handling would BEGIN (deferred) behind our back.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
        # FULL: a commit is on disk before we acknowledge the MQTT message it came from.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
