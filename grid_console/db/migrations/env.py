"""Alembic's entry point, configured from code (grid_console/db/migrate.py), not from an ini file.

The caller hands over an open connection inside a transaction; the migration runs on it, so a
failed migration leaves the database as it was (PostgreSQL and SQLite both have transactional
DDL).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from grid_console.db.models import metadata

_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError("run migrations with `grid-console migrate` (grid_console.db.migrate)")
context.configure(
    connection=_connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode copies the table instead.
    render_as_batch=_connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
