"""The directory API: grids, people (with their channels) and rosters; import and export.

Reading is for the monitoring centre (admin, operator); changing is for admins. Imports take
the same CSV or XLSX files as `grid-console grids|people|rosters import`, and a bad file answers
422 with every problem's row and column, having changed nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, File, HTTPException, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from grid_console.auth.audit import record
from grid_console.auth.passwords import hash_password
from grid_console.auth.roles import (
    READS_DIRECTORY,
    ROLE_NAMES_ZH,
    WRITES_DIRECTORY,
    Role,
    parse_role,
)
from grid_console.auth.service import Principal
from grid_console.clock import Clock
from grid_console.db.session import transaction
from grid_console.people.grids import GridPatch, add_grid, change_grid, grid_json
from grid_console.people.io import (
    MAX_FILE_BYTES,
    FileImportError,
    Table,
    apply_rows,
    channel_problem,
    export_rows,
    read_rows,
    render,
)
from grid_console.people.models import Person
from grid_console.people.service import (
    ChannelSpec,
    DirectoryError,
    FieldError,
    add_person,
    channels_of,
    find_person,
    grids_of,
    set_channels,
    set_grids,
)
from grid_console.web.security import Security

T = TypeVar("T")
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True, slots=True)
class DirectoryApi:
    engine: Engine
    clock: Clock

    def import_file(self, table: Table, content: bytes, filename: str, actor: str) -> int:
        rows = read_rows(table, content, filename)
        now = self.clock()

        def work(session: Session) -> int:
            count = apply_rows(session, table, rows, now)
            record(
                session,
                actor=actor,
                action=f"import_{table.value}",
                detail={"file": filename[:256], "rows": count},
                now=now,
            )
            return count

        return transaction(self.engine, work)

    def export(self, table: Table, filename: str) -> bytes:
        with Session(self.engine) as session:
            return render(export_rows(session, table), filename, table.value)


class PersonIn(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[\w.@-]+$")
    role: str
    password: str | None = Field(default=None, max_length=1024)
    display_name: str | None = Field(default=None, max_length=128)
    grids: list[str] = Field(default_factory=list, max_length=100)
    phone: str | None = Field(default=None, max_length=32)


class ChannelIn(BaseModel):
    kind: str = Field(max_length=16)
    target: str = Field(min_length=1, max_length=1024)
    secret: str | None = Field(default=None, max_length=256)


class GridIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(max_length=256)
    name: str | None = Field(default=None, max_length=512)
    site: str | None = Field(default=None, max_length=256)
    site_name: str | None = Field(default=None, max_length=512)
    parent: str | None = Field(default=None, max_length=256)


class GridChange(BaseModel):
    """Only the fields given change; `parent` "" makes it a top-level grid, `site` "" takes
    it out of its community. The id cannot change: it is what the nodes send."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=512)
    site: str | None = Field(default=None, max_length=256)
    site_name: str | None = Field(default=None, max_length=512)
    parent: str | None = Field(default=None, max_length=256)


class PersonPatch(BaseModel):
    """Only the fields given change; `channels` replaces the active channels as a whole."""

    model_config = ConfigDict(extra="forbid")

    role: str | None = None
    display_name: str | None = Field(default=None, max_length=128)
    grids: list[str] | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    active: bool | None = None
    password: str | None = Field(default=None, max_length=1024)
    channels: list[ChannelIn] | None = Field(default=None, max_length=20)


def add_directory_routes(app: FastAPI, api: DirectoryApi, security: Security) -> None:
    reader = Depends(security.require(*READS_DIRECTORY))
    writer = Depends(security.require(*WRITES_DIRECTORY))

    @app.get("/api/people")
    def people(_: Principal = reader) -> dict[str, list[dict[str, object]]]:
        with Session(api.engine) as session:
            found = session.execute(select(Person).order_by(Person.username)).scalars()
            return {"people": [_person(session, p) for p in found]}

    @app.post("/api/people")
    def create_person(body: PersonIn, who: Principal = writer) -> dict[str, object]:
        try:
            role = parse_role(body.role)

            def work(session: Session) -> dict[str, object]:
                person = add_person(
                    session,
                    username=body.username,
                    role=role,
                    now=api.clock(),
                    display_name=body.display_name,
                    password=body.password,
                    grids=body.grids,
                    phone=body.phone,
                )
                record(
                    session,
                    actor=who.username,
                    action="add_person",
                    detail={
                        "username": person.username,
                        "role": person.role,
                        "can_log_in": body.password is not None,
                    },
                    now=api.clock(),
                )
                return _person(session, person)

            return transaction(api.engine, work)
        except (DirectoryError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None

    @app.patch("/api/people/{username}")
    def change_person(
        username: str, body: PersonPatch, who: Principal = writer
    ) -> dict[str, object]:
        def work(session: Session) -> dict[str, object]:
            person = find_person(session, username)
            if person is None:
                raise HTTPException(404, f"没有这个人员 / no such person: {username!r}")
            if person.id == who.person_id and (
                body.active is False or body.role not in (None, Role.ADMIN.value)
            ):
                # The last admin locking themselves out is a support call, not a feature.
                raise HTTPException(
                    422,
                    "active/role: 管理员不能降低自己的角色或停用自己 / "
                    "an admin cannot demote or deactivate themselves",
                )
            changed = sorted(
                k
                for k, v in body.model_dump(exclude_unset=True).items()
                if k != "password" or v is not None
            )
            if body.role is not None:
                person.role = parse_role(body.role).value
            if body.display_name is not None:
                person.display_name = body.display_name
            if body.phone is not None:
                person.phone = body.phone or None
            if body.active is not None:
                person.active = body.active
            if body.password is not None:
                person.password_hash = hash_password(body.password)
            if body.grids is not None:
                set_grids(session, person, body.grids)
            if body.channels is not None:
                specs = []
                for n, c in enumerate(body.channels):
                    problem = channel_problem(c.kind, c.target)
                    if problem:
                        zh, en = problem
                        raise HTTPException(422, f"channels[{n}]: {zh} / {en}")
                    specs.append(ChannelSpec(c.kind, c.target, c.secret or None))
                set_channels(session, person, specs)
            record(
                session,
                actor=who.username,
                action="change_person",
                detail={"username": username, "changed": changed},
                now=api.clock(),
            )
            session.flush()
            return _person(session, person)

        try:
            return transaction(api.engine, work)
        except (DirectoryError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None

    _grid_routes(app, api, writer)
    for table in Table:
        _table_routes(app, api, table, reader, writer)


def _grid_routes(app: FastAPI, api: DirectoryApi, writer: Any) -> None:
    """Add a grid, change one (people/grids.py); admins only."""

    @app.post("/api/grids")
    def create_grid(body: GridIn, who: Principal = writer) -> dict[str, object]:
        patch = GridPatch(body.name, body.site, body.site_name, body.parent)
        return refusing_by_field(
            lambda: transaction(
                api.engine,
                lambda s: grid_json(
                    s, add_grid(s, body.id, patch, actor=who.username, now=api.clock())
                ),
            )
        )

    @app.patch("/api/grids/{grid_id}")
    def change_grid_route(
        grid_id: str, body: GridChange, who: Principal = writer
    ) -> dict[str, object]:
        patch = GridPatch(body.name, body.site, body.site_name, body.parent)
        return refusing_by_field(
            lambda: transaction(
                api.engine,
                lambda s: grid_json(
                    s, change_grid(s, grid_id, patch, actor=who.username, now=api.clock())
                ),
            )
        )


def _table_routes(app: FastAPI, api: DirectoryApi, table: Table, reader: Any, writer: Any) -> None:
    @app.post(f"/api/{table.value}/import", name=f"import_{table.value}")
    async def import_table(
        file: Annotated[UploadFile, File()], who: Principal = writer
    ) -> dict[str, object]:
        content = await file.read(MAX_FILE_BYTES + 1)
        try:
            count = api.import_file(table, content, file.filename or "upload.csv", who.username)
        except FileImportError as exc:
            raise file_refused(exc) from None
        return {"imported": count}

    @app.get(f"/api/{table.value}/export", name=f"export_{table.value}")
    def export_table(format: str = "csv", _: Principal = reader) -> Response:
        if format not in MEDIA:
            raise HTTPException(422, "format: 只能是 csv 或 xlsx / csv or xlsx")
        name = f"{table.value}.{format}"
        return Response(
            api.export(table, name),
            media_type=MEDIA[format],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


def field_refused(exc: FieldError) -> HTTPException:
    """A change refused for one field: 422 with the field and the words in both languages."""
    detail = {"message": str(exc), "field": exc.field, "problem": {"zh": exc.zh, "en": exc.en}}
    return HTTPException(422, detail)


def refusing_by_field(work: Callable[[], T]) -> T:
    """Run `work`: a thing not there is 404, a change refused for a field 422 (field_refused)."""
    try:
        return work()
    except LookupError as exc:  # the grid (or change) is not there
        raise HTTPException(404, str(exc)) from None
    except FieldError as exc:
        raise field_refused(exc) from None


def file_refused(exc: FileImportError) -> HTTPException:
    """A refused file's 422: the head line, and each problem with its row and column."""
    errors = [{"row": p.row, "column": p.column, "message": p.message} for p in exc.problems]
    return HTTPException(422, {"message": str(exc).splitlines()[0], "errors": errors})


def _person(session: Session, person: Person) -> dict[str, object]:
    return {
        "username": person.username,
        "display_name": person.display_name,
        "role": person.role,
        "role_zh": ROLE_NAMES_ZH[Role(person.role)],
        "phone": person.phone,
        "active": person.active,
        "can_log_in": person.password_hash is not None,
        "grids": grids_of(session, person.id),
        "channels": [
            {"kind": c.kind, "target": c.target, "has_secret": c.secret is not None}
            for c in channels_of(session, person.id)
        ],
    }
