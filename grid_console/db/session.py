"""Running a unit of work in one transaction, retried when the database says "try again".

Retried: SQLite's "database is locked" after the busy timeout, PostgreSQL's deadlocks and
serialization failures, and a connection that broke. Everything else (a bug, a constraint the
caller did not expect) is raised at once.

The retries are a fraction of a second. Those for a busy database (another writer holds the
lock) are warned about one by one: contention is worth seeing. Those for an unreachable one
(refused, reset, shut down) are logged at DEBUG only: after the last one the caller gets the
error and reports it (the background loops through grid_console/failures.py, once per run of
failures), and a warning per retry of every transaction would flood the log for as long as an
outage lasts. A database reached again within the retries is said once.
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
# PostgreSQL going away: admin shutdown, crash shutdown, cannot connect now (starting up).
_GONE_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
_SQLITE_CANTOPEN = 14  # the file or its folder is not there (a volume not mounted)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        return True
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code in _RETRY_SQLSTATES


def is_unreachable(exc: BaseException) -> bool:
    """The database could not be reached at all, as opposed to busy with another writer."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    orig = getattr(exc, "orig", None)
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if sqlite_code is not None:
        return int(sqlite_code) & 0xFF == _SQLITE_CANTOPEN  # extended codes keep the primary
    if not hasattr(orig, "sqlstate"):  # neither psycopg nor SQLite: say what we said before
        return False
    code = getattr(orig, "sqlstate", None)
    # psycopg's client-side errors (refused, reset, closed) carry no SQLSTATE.
    return code is None or str(code).startswith("08") or code in _GONE_SQLSTATES


def transaction(
    engine: Engine,
    work: Callable[[Session], T],
    *,
    attempts: int = 5,
    backoff_s: float = 0.05,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`work(session)` in one transaction, committed when it returns; retried when transient."""
    unreachable: str | None = None  # why the last attempt could not reach the database
    for attempt in range(1, attempts + 1):
        try:
            with Session(engine, expire_on_commit=False) as session, session.begin():
                result = work(session)
        except DBAPIError as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            if is_unreachable(exc):
                unreachable = _first_line(exc.orig or exc)
                logger.debug("database unreachable (%s); retry %d of %d", unreachable, attempt,
                             attempts - 1)  # fmt: skip
            else:
                unreachable = None
                logger.warning("database busy (%s); retry %d of %d", exc.orig, attempt,
                               attempts - 1)  # fmt: skip
            sleep(backoff_s * 2 ** (attempt - 1))
        else:
            if unreachable is not None:
                logger.warning("database reached again on retry %d of %d after: %s",
                               attempt - 1, attempts - 1, unreachable)  # fmt: skip
            return result
    raise AssertionError("unreachable")


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
