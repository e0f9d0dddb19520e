"""Adding and changing one grid from the admin page's API, on SQLite and PostgreSQL: the
community made on the way, a parent that would make a loop refused, each refusal naming its
field, the audit trail, and a new micro-grid seen at once by the head of its grid."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grid_console.app import Console
from grid_console.auth.models import AdminAudit
from tests.console.conftest import Backend
from tests.console.helpers import api_as, make_console, seed, started
from tests.integration.broker import MosquittoBroker

pytestmark = pytest.mark.integration

PASSWORD = "people-password-1"


@pytest.fixture
def console(tmp_path: Path, broker: MosquittoBroker, backend: Backend) -> Iterator[Console]:
    instance = started(make_console(tmp_path, broker, backend))
    seed(instance, grids=[("XZ", None), ("A-05", "XZ")],
         people=[("zhaoop", "operator", []), ("zhanghead", "grid_head", ["A-05"])],
         password=PASSWORD)  # fmt: skip
    yield instance
    instance.stop()


def test_an_admin_adds_a_micro_grid_and_moves_it(console: Console) -> None:
    admin = api_as(console)
    made = admin.post("/api/grids", json={"id": " A-05-1 ", "name": "五网格一号楼",
                      "site": "xizhen", "site_name": "西镇小区", "parent": "A-05"})  # fmt: skip
    assert made.status_code == 200, made.text
    assert made.json() == {"id": "A-05-1", "name": "五网格一号楼", "site": "xizhen",
                           "site_name": "西镇小区", "parent": "A-05"}  # fmt: skip
    head = api_as(console, "zhanghead", PASSWORD)
    # The head of A-05 answers for its new micro-grid at once, without signing in again.
    assert [g["id"] for g in head.get("/api/grids").json()["grids"]] == ["A-05", "A-05-1"]

    moved = admin.patch("/api/grids/A-05-1", json={"parent": "XZ", "name": "一号楼"})
    assert moved.status_code == 200
    assert (moved.json()["parent"], moved.json()["name"]) == ("XZ", "一号楼")
    assert [g["id"] for g in head.get("/api/grids").json()["grids"]] == ["A-05"]
    top = admin.patch("/api/grids/A-05-1", json={"parent": "", "site": ""}).json()
    assert (top["parent"], top["site"], top["site_name"]) == (None, None, None)
    renamed = admin.patch("/api/grids/A-05-1", json={"site": "xizhen", "site_name": "西镇"})
    assert renamed.json()["site_name"] == "西镇"

    with Session(console.engine) as session:
        audit = session.execute(
            select(AdminAudit.action, AdminAudit.detail).order_by(AdminAudit.id)
        ).all()
    assert [a for a, _ in audit] == ["add_grid", "change_grid", "change_grid", "change_grid"]
    assert audit[1][1] == {
        "id": "A-05-1",
        "changed": {"name": ["五网格一号楼", "一号楼"], "parent": ["A-05", "XZ"]},
    }


@pytest.mark.parametrize(
    ("asked", "field", "words"),
    [
        (("post", "/api/grids", {"id": "A-05"}), "id", "already exists"),
        (("post", "/api/grids", {"id": "  "}), "id", "printable"),
        (("post", "/api/grids", {"id": "A\n1"}), "id", "printable"),
        (("post", "/api/grids", {"id": "B-1", "parent": "nowhere"}), "parent", "no grid"),
        (("post", "/api/grids", {"id": "B-1", "name": " "}), "name", "1 to 256"),
        (("patch", "/api/grids/XZ", {"parent": "A-05"}), "parent", "loop"),
        (("patch", "/api/grids/XZ", {"parent": "XZ"}), "parent", "loop"),
        (("patch", "/api/grids/A-05", {"site": "x" * 129}), "site", "at most 128"),
    ],
)
def test_a_grid_change_that_cannot_be_made_names_its_field_and_writes_nothing(
    console: Console, asked: tuple[str, str, dict[str, str]], field: str, words: str
) -> None:
    method, path, body = asked
    admin = api_as(console)
    before = admin.get("/api/grids").json()
    reply = getattr(admin, method)(path, json=body)
    assert reply.status_code == 422, reply.text
    detail = reply.json()["detail"]
    assert detail["field"] == field and words in detail["problem"]["en"]
    assert detail["problem"]["zh"]
    assert admin.get("/api/grids").json() == before
    with Session(console.engine) as session:
        assert session.execute(select(AdminAudit)).first() is None


def test_who_may_change_grids(console: Console) -> None:
    admin = api_as(console)
    assert admin.patch("/api/grids/nowhere", json={"name": "x"}).status_code == 404
    assert admin.patch("/api/grids/XZ", json={"id": "XY"}).status_code == 422  # ids stay
    for name in ("zhaoop", "zhanghead"):
        other = api_as(console, name, PASSWORD)
        assert other.post("/api/grids", json={"id": "C-1"}).status_code == 403
        assert other.patch("/api/grids/XZ", json={"name": "x"}).status_code == 403
