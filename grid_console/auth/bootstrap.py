"""The first admin: created on first start, so a newcomer can log in at once.

The password comes from GRID_CONSOLE_ADMIN_PASSWORD when set (read by the CLI and passed in
here: no module reads the environment itself), else it is generated and printed once. Replicas
starting together race on the unique user name; the loser finds the admin there and does
nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grid_console.auth.roles import Role
from grid_console.db.session import transaction
from grid_console.people.models import Person
from grid_console.people.service import add_person

ADMIN_USERNAME = "admin"
ENV_ADMIN_PASSWORD = "GRID_CONSOLE_ADMIN_PASSWORD"


def ensure_admin(
    engine: Engine,
    now: datetime,
    *,
    password: str | None,
    announce: Callable[[str], None],
) -> bool:
    """Create `admin` if no admin account exists; return whether one was created."""

    def has_admin(session: Session) -> bool:
        stmt = select(Person.id).where(
            Person.role == Role.ADMIN.value, Person.password_hash.is_not(None)
        )
        return session.execute(stmt.limit(1)).first() is not None

    with Session(engine) as session:
        if has_admin(session):
            return False
    chosen = password or secrets.token_urlsafe(15)
    try:
        transaction(
            engine,
            lambda s: (
                None
                if has_admin(s)
                else add_person(
                    s,
                    username=ADMIN_USERNAME,
                    role=Role.ADMIN,
                    now=now,
                    display_name="管理员 / Administrator",
                    password=chosen,
                )
            ),
        )
    except IntegrityError:
        return False  # another replica created it just now
    if password is None:
        announce(
            f"首次启动：已创建管理员 {ADMIN_USERNAME}，密码 {chosen}（只显示这一次）\n"
            f"first start: created user {ADMIN_USERNAME!r} with password {chosen} "
            "(shown this once; set GRID_CONSOLE_ADMIN_PASSWORD to choose it)"
        )
    else:
        announce(
            f"first start: created user {ADMIN_USERNAME!r} (password from {ENV_ADMIN_PASSWORD})"
        )
    return True
