"""Checking strings against their column's length before writing them.

PostgreSQL refuses a `varchar(n)` value that is too long, and SQLite stores it anyway. Checking
first makes both backends behave the same: the ingest quarantines such a message instead of
retrying a write that can never succeed.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import String

from grid_console.db.base import Base


def too_long(model: type[Base], values: Mapping[str, object]) -> str | None:
    """None if every string fits its column of `model`, else which one does not."""
    columns = model.__table__.columns
    for name, value in values.items():
        column_type = columns[name].type
        if not isinstance(value, str) or not isinstance(column_type, String):
            continue
        if column_type.length is not None and len(value) > column_type.length:
            return f"{name} has {len(value)} characters; at most {column_type.length} are kept"
    return None
