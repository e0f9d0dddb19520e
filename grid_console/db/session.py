"""Running a unit of work in one transaction, retried when the database says "try again".

Retried: SQLite's "database is locked" after the busy timeout, PostgreSQL's deadlocks and
serialization failures, and a connection that broke. Everything else (a bug, a constraint the
caller did not expect) is raised at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

T = TypeVar("T")

_RETRY_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        return True
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code in _RETRY_SQLSTATES


def transaction(
    engine: Engine,
    work: Callable[[Session], T],
    *,
    attempts: int = 5,
    backoff_s: float = 0.05,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`work(session)` in one transaction, committed when it returns; retried when transient."""
    for attempt in range(1, attempts + 1):
        try:
            with Session(engine, expire_on_commit=False) as session, session.begin():
                return work(session)
        except DBAPIError as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            logger.warning("database busy (%s); retry %d of %d", exc.orig, attempt, attempts - 1)
            sleep(backoff_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable")
