"""Bring a database to the newest schema: `grid-console migrate`, and `serve` at start-up.

Alembic is configured in code and finds its scripts inside the package, so an installed
console needs no alembic.ini and no working directory. Several replicas starting at once are
serialised: PostgreSQL by an advisory lock, SQLite by its write lock (BEGIN IMMEDIATE); the
second one finds the schema at head and does nothing.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_ADVISORY_LOCK_ID = 0x6772_6964  # "grid": any constant every replica agrees on


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> str | None:
    """Upgrade to head; return the revision the database is at afterwards."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK_ID})")
        command.upgrade(alembic_config(connection), "head")
    return current_revision(engine)
