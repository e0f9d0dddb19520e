"""The shipped migrations build exactly the models' schema, on both backends, idempotently."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from grid_console.db.engine import default_url, make_engine
from grid_console.db.migrate import current_revision, head_revision, upgrade
from grid_console.db.models import metadata
from tests.console.conftest import Backend


def _url(backend: Backend, tmp_path: Path) -> str:
    return backend.url or default_url(tmp_path / "data")


def test_migrations_build_the_models_schema_and_run_twice(backend: Backend, tmp_path: Path) -> None:
    engine = make_engine(_url(backend, tmp_path))
    try:
        assert upgrade(engine) == head_revision()
        assert upgrade(engine) == head_revision()  # a second replica starting: nothing to do
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), metadata)
        assert diff == []
        tables = set(inspect(engine).get_table_names())
        assert {"nodes", "alert_events", "cases", "case_events", "quarantine", "snapshots",
                "command_outbox"} <= tables  # fmt: skip
        if backend.name == "sqlite":
            with engine.connect() as connection:
                assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
                assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()


def test_the_migrate_command(backend: Backend, tmp_path: Path) -> None:
    args = ["--data-dir", str(tmp_path / "data")]
    if backend.url:
        args += ["--db", backend.url]
    done = subprocess.run(
        [sys.executable, "-m", "grid_console", "migrate", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"database at revision {head_revision()}" in done.stdout
    engine = make_engine(_url(backend, tmp_path))
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
    if backend.name == "sqlite":
        assert (tmp_path / "data" / "console.sqlite3").exists()
