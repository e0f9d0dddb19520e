"""Adding a grid and changing one from the admin page, one at a time (a file import does many).

A grid is never deleted: cases, people and shifts keep pointing at it. Its id is what the
nodes send as `grid`, so it cannot be renamed either; its name, community (site) and parent can
change. A parent must exist and must not make a loop of grids. Every change is in the admin
audit, in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from grid_console.auth.audit import record
from grid_console.people.io import creates_loop
from grid_console.people.models import Grid, Site
from grid_console.people.service import FieldError

ID_MAX, NAME_MAX = 128, 256


class GridError(FieldError):
    """A grid that cannot be added or changed so."""


class GridGoneError(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class GridPatch:
    """The fields to change; None is "leave as it is". `parent` "" makes a top-level grid."""

    name: str | None = None
    site: str | None = None  # "" takes the grid out of its community
    site_name: str | None = None
    parent: str | None = None


def add_grid(
    session: Session, grid_id: str, patch: GridPatch, *, actor: str, now: datetime
) -> Grid:
    grid_id = grid_id.strip()
    if not grid_id or len(grid_id) > ID_MAX or not grid_id.isprintable():
        raise GridError(
            "id", f"须为 1 到 {ID_MAX} 个可见字符", f"1 to {ID_MAX} printable characters"
        )
    if session.get(Grid, grid_id) is not None:
        raise GridError("id", f"网格 {grid_id!r} 已存在", f"grid {grid_id!r} already exists")
    grid = Grid(id=grid_id, name=grid_id)
    session.add(grid)
    session.flush()
    _apply(session, grid, patch)
    record(session, actor=actor, action="add_grid", detail=grid_json(session, grid), now=now)
    return grid


def change_grid(
    session: Session, grid_id: str, patch: GridPatch, *, actor: str, now: datetime
) -> Grid:
    grid = session.get(Grid, grid_id, with_for_update=True)
    if grid is None:
        raise GridGoneError(f"没有这个网格 / no such grid: {grid_id!r}")
    before = grid_json(session, grid)
    _apply(session, grid, patch)
    after = grid_json(session, grid)
    changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    record(
        session,
        actor=actor,
        action="change_grid",
        detail={"id": grid.id, "changed": changed},
        now=now,
    )
    return grid


def grid_json(session: Session, grid: Grid) -> dict[str, object]:
    site = session.get(Site, grid.site_id) if grid.site_id else None
    return {
        "id": grid.id,
        "name": grid.name,
        "site": grid.site_id,
        "site_name": site.name if site else None,
        "parent": grid.parent_id,
    }


def _apply(session: Session, grid: Grid, patch: GridPatch) -> None:
    if patch.name is not None:
        name = patch.name.strip()
        if not name or len(name) > NAME_MAX:
            raise GridError("name", f"须为 1 到 {NAME_MAX} 个字符", f"1 to {NAME_MAX} characters")
        grid.name = name
    if patch.site is not None:
        grid.site_id = _site(session, patch.site.strip(), patch.site_name)
    if patch.parent is not None:
        parent = patch.parent.strip() or None
        if parent is not None and session.get(Grid, parent) is None:
            raise GridError("parent", f"没有网格 {parent!r}", f"no grid {parent!r}")
        if parent is not None and creates_loop(session, grid.id, parent):
            raise GridError(
                "parent", f"{parent!r} 会使网格形成环", f"{parent!r} would make a loop of grids"
            )
        grid.parent_id = parent
    session.flush()


def _site(session: Session, site_id: str, site_name: str | None) -> str | None:
    """The community, made when new; its name changed when given."""
    if not site_id:
        return None
    if len(site_id) > ID_MAX:
        raise GridError("site", f"最多 {ID_MAX} 个字符", f"at most {ID_MAX} characters")
    name = (site_name or "").strip()
    if len(name) > NAME_MAX:
        raise GridError("site_name", f"最多 {NAME_MAX} 个字符", f"at most {NAME_MAX} characters")
    site = session.get(Site, site_id)
    if site is None:
        session.add(Site(id=site_id, name=name or site_id))
        session.flush()  # before the grid points at it: the models have no relationship to order by
    elif name:
        site.name = name
    return site_id
