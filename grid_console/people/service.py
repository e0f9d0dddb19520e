"""Reading and writing the directory: people, their grids and channels, grid trees, heads.

Functions take the caller's session, so that they join its transaction (an import, a dispatch
inside the ingest's transaction, an API call).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from grid_console.auth.passwords import hash_password
from grid_console.auth.roles import Role
from grid_console.people.models import Grid, Person, PersonChannel, PersonGrid

CHANNEL_KINDS = ("wecom", "dingtalk", "feishu", "email", "webhook")


class DirectoryError(ValueError):
    """A directory change that cannot be made (a missing grid, a duplicate name)."""


class FieldError(ValueError):
    """A change refused for one field of the request, said in Chinese and English; the API
    answers 422 `{"message", "field", "problem": {"zh", "en"}}` and a page names the field."""

    def __init__(self, field: str, zh: str, en: str) -> None:
        super().__init__(f"{field}: {zh} / {en}")
        self.field, self.zh, self.en = field, zh, en


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    kind: str
    target: str
    secret: str | None = None


def find_person(session: Session, username: str) -> Person | None:
    return session.execute(select(Person).where(Person.username == username)).scalar_one_or_none()


def add_person(
    session: Session,
    *,
    username: str,
    role: Role,
    now: datetime,
    display_name: str | None = None,
    password: str | None = None,
    grids: Iterable[str] = (),
    phone: str | None = None,
) -> Person:
    if find_person(session, username) is not None:
        raise DirectoryError(f"用户已存在 / user {username!r} already exists")
    person = Person(
        username=username,
        display_name=display_name or username,
        role=role.value,
        phone=phone,
        password_hash=hash_password(password) if password is not None else None,
        active=True,
        created_at=now,
    )
    session.add(person)
    session.flush()
    set_grids(session, person, grids)
    return person


def set_grids(session: Session, person: Person, grids: Iterable[str]) -> None:
    wanted = set(grids)
    missing = wanted - set(session.execute(select(Grid.id).where(Grid.id.in_(wanted))).scalars())
    if missing:
        raise DirectoryError(f"没有这个网格 / no such grid: {', '.join(sorted(missing))}")
    have = {
        link.grid_id: link
        for link in session.execute(
            select(PersonGrid).where(PersonGrid.person_id == person.id)
        ).scalars()
    }
    for grid_id, link in have.items():
        if grid_id not in wanted:
            session.delete(link)  # a membership, not a record: the audit trail keeps names
    for grid_id in sorted(wanted - set(have)):
        session.add(PersonGrid(person_id=person.id, grid_id=grid_id))
    session.flush()


def set_channels(session: Session, person: Person, channels: Iterable[ChannelSpec]) -> None:
    """Make `channels` the person's active channels; others are kept but made inactive."""
    wanted = {(c.kind, c.target): c for c in channels}
    rows = session.execute(
        select(PersonChannel).where(PersonChannel.person_id == person.id)
    ).scalars()
    seen = set()
    for row in rows:
        spec = wanted.get((row.kind, row.target))
        row.active = spec is not None
        if spec is not None:
            row.secret = spec.secret
            seen.add((row.kind, row.target))
    for key, spec in wanted.items():
        if key not in seen:
            session.add(
                PersonChannel(
                    person_id=person.id,
                    kind=spec.kind,
                    target=spec.target,
                    secret=spec.secret,
                    active=True,
                )
            )
    session.flush()


def channels_of(session: Session, person_id: int) -> list[PersonChannel]:
    stmt = (
        select(PersonChannel)
        .where(PersonChannel.person_id == person_id, PersonChannel.active.is_(True))
        .order_by(PersonChannel.id)
    )
    return list(session.execute(stmt).scalars())


def grids_of(session: Session, person_id: int) -> list[str]:
    stmt = select(PersonGrid.grid_id).where(PersonGrid.person_id == person_id)
    return sorted(session.execute(stmt).scalars())


def with_micro_grids(session: Session, grid_ids: Iterable[str]) -> frozenset[str]:
    """The grids and, recursively, their micro-grids: what a person of those grids sees."""
    parents = dict(session.execute(select(Grid.id, Grid.parent_id)).tuples().all())
    result = set(grid_ids)
    changed = True
    while changed:  # grid trees are shallow; a cycle in bad data still ends
        changed = False
        for child, parent in parents.items():
            if parent in result and child not in result:
                result.add(child)
                changed = True
    return frozenset(result)


def ancestry(session: Session, grid_id: str) -> list[str]:
    """The grid, its parent, the parent's parent ...: where to look for a head or leader."""
    parents = dict(session.execute(select(Grid.id, Grid.parent_id)).tuples().all())
    chain: list[str] = []
    current: str | None = grid_id
    while current is not None and current not in chain:
        chain.append(current)
        current = parents.get(current)
    return chain


def people_of_grid(session: Session, grid_id: str, roles: Iterable[Role]) -> list[Person]:
    stmt = (
        select(Person)
        .join(PersonGrid, PersonGrid.person_id == Person.id)
        .where(
            PersonGrid.grid_id == grid_id,
            Person.role.in_([r.value for r in roles]),
            Person.active.is_(True),
        )
        .order_by(Person.username)
    )
    return list(session.execute(stmt).scalars())


def nearest(session: Session, grid_id: str | None, role: Role) -> list[Person]:
    """The people with `role` of the grid, else of its parent, and so on up the tree."""
    if grid_id is None:
        return []
    for gid in ancestry(session, grid_id):
        found = people_of_grid(session, gid, [role])
        if found:
            return found
    return []
