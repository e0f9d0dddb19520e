"""Logging in, sessions and tokens, and the login throttle, all backed by the database.

A login makes one session: a random token (returned once, and set as an HttpOnly cookie) whose
sha256 is stored, and a CSRF token that pages send back in a header. The same token works as a
bearer token for integrations; only requests that carry it as a cookie need the CSRF header,
since a browser adds cookies to forged requests but never an Authorization header.

The throttle counts failed logins in the database, so it holds across replicas and restarts:
too many failures for one user name, or from one address, within the window refuse further
tries (even correct ones) until the window has moved on.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, func, select
from sqlalchemy.orm import Session

from grid_console.auth.models import AuthSession, LoginAttempt
from grid_console.auth.passwords import verify_password
from grid_console.auth.roles import SEES_ALL_GRIDS, Role
from grid_console.db.session import transaction
from grid_console.people.models import Person
from grid_console.people.service import grids_of, with_micro_grids


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    session_ttl: timedelta = timedelta(hours=12)
    window: timedelta = timedelta(minutes=15)
    max_failures_per_user: int = 5
    max_failures_per_remote: int = 20


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the signed-in person and the grids they may see."""

    person_id: int
    username: str
    role: Role
    grids: frozenset[str]  # their grids and micro-grids; empty and unused for SEES_ALL_GRIDS
    csrf_token: str
    session_id: int

    @property
    def sees_all(self) -> bool:
        return self.role in SEES_ALL_GRIDS

    def may_see_grid(self, grid: str | None) -> bool:
        return self.sees_all or (grid is not None and grid in self.grids)


@dataclass(frozen=True, slots=True)
class LoginResult:
    token: str
    csrf_token: str
    principal: Principal
    expires_at: datetime


class LoginFailedError(Exception):
    """Wrong name or password (never says which)."""


class LoginThrottledError(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class AuthService:
    def __init__(self, engine: Engine, policy: AuthPolicy = AuthPolicy()) -> None:
        self._engine = engine
        self._policy = policy

    def login(self, username: str, password: str, remote: str | None, now: datetime) -> LoginResult:
        username = username.strip()[:64]
        remote = remote[:64] if remote else None
        wait = self._throttled(username, remote, now)
        if wait is not None:
            raise LoginThrottledError(wait)
        # The hash check runs outside any transaction: it is slow on purpose, and holding
        # SQLite's write lock through it would stall the ingest.
        with Session(self._engine) as session:
            person = session.execute(
                select(Person).where(Person.username == username)
            ).scalar_one_or_none()
            stored = person.password_hash if person is not None and person.active else None
            person_id = person.id if person is not None else None
        ok = verify_password(stored, password) and person_id is not None

        def record(session: Session) -> LoginResult | None:
            session.add(LoginAttempt(username=username, remote=remote, at=now, ok=ok))
            if not ok or person_id is None:
                return None
            token = secrets.token_urlsafe(32)
            row = AuthSession(
                token_sha256=token_digest(token),
                person_id=person_id,
                csrf_token=secrets.token_urlsafe(24),
                created_at=now,
                expires_at=now + self._policy.session_ttl,
                remote=remote,
            )
            session.add(row)
            session.flush()
            return LoginResult(token, row.csrf_token, _principal(session, row), row.expires_at)

        result = transaction(self._engine, record)
        if result is None:
            raise LoginFailedError("用户名或密码错误 / wrong user name or password")
        return result

    def authenticate(self, token: str, now: datetime) -> Principal | None:
        if not token or len(token) > 256:
            return None
        with Session(self._engine) as session:
            row = session.execute(
                select(AuthSession).where(AuthSession.token_sha256 == token_digest(token))
            ).scalar_one_or_none()
            if row is None or row.revoked_at is not None or row.expires_at <= now:
                return None
            person = session.get(Person, row.person_id)
            if person is None or not person.active:
                return None
            return _principal(session, row)

    def logout(self, session_id: int, now: datetime) -> None:
        def revoke(session: Session) -> None:
            row = session.get(AuthSession, session_id)
            if row is not None and row.revoked_at is None:
                row.revoked_at = now

        transaction(self._engine, revoke)

    def _throttled(self, username: str, remote: str | None, now: datetime) -> int | None:
        since = now - self._policy.window
        with Session(self._engine) as session:
            checks: list[tuple[ColumnElement[bool], int]] = [
                (LoginAttempt.username == username, self._policy.max_failures_per_user)
            ]
            if remote:
                checks.append((LoginAttempt.remote == remote, self._policy.max_failures_per_remote))
            for where, limit in checks:
                last_ok = session.execute(
                    select(func.max(LoginAttempt.at)).where(where, LoginAttempt.ok.is_(True))
                ).scalar_one_or_none()
                start = max(since, last_ok) if last_ok is not None else since
                failures = list(
                    session.execute(
                        select(LoginAttempt.at)
                        .where(where, LoginAttempt.ok.is_(False), LoginAttempt.at > start)
                        .order_by(LoginAttempt.at)
                    ).scalars()
                )
                if len(failures) >= limit:
                    # Free again once enough of the failures have left the window.
                    oldest_counted = failures[len(failures) - limit]
                    free_at = oldest_counted + self._policy.window
                    return max(1, int((free_at - now).total_seconds()) + 1)
        return None


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def _principal(session: Session, row: AuthSession) -> Principal:
    person = session.get(Person, row.person_id)
    assert person is not None
    role = Role(person.role)
    grids = (
        frozenset()
        if role in SEES_ALL_GRIDS
        else with_micro_grids(session, grids_of(session, person.id))
    )
    return Principal(
        person_id=person.id,
        username=person.username,
        role=role,
        grids=grids,
        csrf_token=row.csrf_token,
        session_id=row.id,
    )
