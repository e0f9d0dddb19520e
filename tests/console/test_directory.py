"""Grids, people and rosters from CSV and XLSX: a bad file changes nothing and names each
problem's row and column; a good one round-trips exactly; the CLI and the API take the same."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from grid_console.auth.models import AdminAudit
from grid_console.db.engine import default_url, make_engine
from grid_console.db.session import transaction
from grid_console.people.io import (
    FileImportError,
    Table,
    apply_rows,
    export_rows,
    read_rows,
    render,
)
from grid_console.people.models import Grid, Person, PersonChannel, Shift
from grid_console.people.roster import on_duty
from tests.console.casefactory import migrated_engine
from tests.console.conftest import Backend

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)

GRIDS = """id,name,site,site_name,parent
A,第一网格,xizhen,西镇社区,
A-1,一号微网格,xizhen,,A
B,第二网格,xizhen,,
"""
PEOPLE = """username,name,role,grids,phone,active,wecom,dingtalk,dingtalk_secret,email
li,李明,patrol,A-1,13800000000,true,https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k,,,li@example.com
zhang,张伟,grid_head,A;B,,,,https://oapi.dingtalk.com/robot/send?access_token=t,SECabc,
"""
ROSTERS = """username,grid,weekday,start,end
li,A-1,1,08:00,20:00
li,A-1,周二,20:00,08:00
zhang,A,工作日,09:00,17:00
"""


@pytest.fixture
def engine(backend: Backend, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(backend, tmp_path) as engine:
        yield engine


def load(engine: Engine, table: Table, text: str | bytes, name: str = "f.csv") -> int:
    content = text.encode("utf-8") if isinstance(text, str) else text
    rows = read_rows(table, content, name)
    return transaction(engine, lambda s: apply_rows(s, table, rows, NOW))


def test_good_files_import_and_round_trip(engine: Engine) -> None:
    assert load(engine, Table.GRIDS, GRIDS) == 3
    assert load(engine, Table.PEOPLE, PEOPLE) == 2
    assert load(engine, Table.ROSTERS, ROSTERS) == 3
    with Session(engine) as session:
        assert session.get(Grid, "A-1").parent_id == "A"  # type: ignore[union-attr]
        shifts = session.execute(select(func.count()).select_from(Shift)).scalar_one()
        assert shifts == 1 + 1 + 5  # 工作日 is five shifts
        secret = session.execute(
            select(PersonChannel.secret).where(PersonChannel.kind == "dingtalk")
        ).scalar_one()
        assert secret == "SECabc"
        # Tuesday 02:00 Shanghai: li's Tuesday night shift has not started, and Monday's
        # day shift is over; Wednesday 07:00 li is on the Tuesday night shift.
        tuesday_2am = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
        assert on_duty(session, "A-1", tuesday_2am) == []
        wednesday_7am = datetime(2026, 12, 8, 23, 0, tzinfo=UTC)
        assert [p.username for p in on_duty(session, "A-1", wednesday_7am)] == ["li"]
        exported = {t: export_rows(session, t) for t in Table}
    # Exported, then imported again: the same rows (an import updates, never duplicates).
    for table, rows in exported.items():
        for name in ("back.csv", "back.xlsx"):
            load(engine, table, render(rows, name, table), name)
    with Session(engine) as session:
        assert {t: export_rows(session, t) for t in Table} == exported
        assert session.execute(select(func.count()).select_from(Person)).scalar_one() == 2


def test_a_bad_file_names_rows_and_columns_and_changes_nothing(engine: Engine) -> None:
    load(engine, Table.GRIDS, GRIDS)
    bad_people = """username,role,grids,email,webhook
li,patrol,A,not-an-address,
wu,boss,A,,
zhou,patrol,Z,,ftp://x
,patrol,A,,
"""
    with pytest.raises(FileImportError) as caught:
        load(engine, Table.PEOPLE, bad_people, "people.csv")
    found = {(p.row, p.column) for p in caught.value.problems}
    assert found == {(2, "email"), (3, "role"), (4, "grids"), (4, "webhook"), (5, "username")}
    text = str(caught.value)
    assert "第 3 行「角色」列：未知角色 'boss'" in text
    assert "row 3, column role: unknown role 'boss'" in text
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(Person)).scalar_one() == 0
    with pytest.raises(FileImportError) as header:
        load(engine, Table.ROSTERS, "username,grid,day\nli,A,1\n", "r.csv")
    assert {(p.row, p.column) for p in header.value.problems} == {
        (1, "day"),
        (1, "weekday"),
        (1, "start"),
        (1, "end"),
    }
    with pytest.raises(FileImportError) as loop:
        load(engine, Table.GRIDS, "id,parent\nA,A-1\n")
    assert [(p.row, p.column) for p in loop.value.problems] == [(2, "parent")]
    roster = "username,grid,weekday,start,end\nli,A,8,25:00,08:00\n"
    load(engine, Table.PEOPLE, "username,role\nli,patrol\n")
    with pytest.raises(FileImportError) as times:
        load(engine, Table.ROSTERS, roster)
    assert {(p.row, p.column) for p in times.value.problems} == {(2, "weekday"), (2, "start")}
    for junk, name in (
        (b"\xff\xfe\x00garbage", "x.csv"),
        (b"PK\x03\x04broken", "x.xlsx"),
        (b"id\nA\n", "x.txt"),
    ):
        with pytest.raises(FileImportError):
            load(engine, Table.GRIDS, junk, name)


def test_xlsx_with_chinese_headers_and_excel_times(engine: Engine) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["网格编号", "名称", "上级网格"])
    sheet.append(["C", "第三网格", None])
    sheet.append([None, None, None])  # a blank line in the middle is not a row
    sheet.append(["C-1", "微网格", "C"])
    out = io.BytesIO()
    book.save(out)
    assert load(engine, Table.GRIDS, out.getvalue(), "grids.xlsx") == 2
    load(engine, Table.PEOPLE, "用户名,角色,网格\nli,patrol,C-1\n")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["用户名", "网格", "星期", "开始", "结束"])
    from datetime import time  # noqa: PLC0415

    sheet.append(["li", "C-1", 3, time(7, 30), time(15, 30)])  # Excel's own time cells
    out = io.BytesIO()
    book.save(out)
    assert load(engine, Table.ROSTERS, out.getvalue(), "rosters.xlsx") == 1
    with Session(engine) as session:
        shift = session.execute(select(Shift)).scalar_one()
        assert (shift.weekday, shift.start_minute, shift.end_minute) == (2, 450, 930)
        xlsx = render(export_rows(session, Table.ROSTERS), "r.xlsx", Table.ROSTERS)
    rows = list(load_workbook(io.BytesIO(xlsx)).worksheets[0].iter_rows(values_only=True))
    assert rows == [
        ("username", "grid", "weekday", "start", "end"),
        ("li", "C-1", "3", "07:30", "15:30"),
    ]


def test_the_import_commands(backend: Backend, tmp_path: Path) -> None:
    files = {"grids": GRIDS, "people": PEOPLE, "rosters": ROSTERS}
    db = ["--data-dir", str(tmp_path / "c")] + (["--db", backend.url] if backend.url else [])
    for table, text in files.items():
        path = tmp_path / f"{table}.csv"
        path.write_text(text, encoding="utf-8")
        command = [sys.executable, "-m", "grid_console", table, "import", str(path), *db]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert f"imported {text.count(chr(10)) - 1} row(s) of {table}" in done.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("id,parent\nQ,nowhere\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "grid_console", "grids", "import", str(bad), *db],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "row 2, column parent: no grid 'nowhere'" in done.stderr
    engine = make_engine(backend.url or default_url(tmp_path / "c"))
    try:
        with Session(engine) as session:
            audit = (
                session.execute(
                    select(AdminAudit.actor, AdminAudit.action, AdminAudit.detail).order_by(
                        AdminAudit.id
                    )
                )
                .tuples()
                .all()
            )
    finally:
        engine.dispose()
    assert [(a, b, d["rows"]) for a, b, d in audit] == [
        ("cli", "import_grids", 3),
        ("cli", "import_people", 2),
        ("cli", "import_rosters", 3),
    ]
    out = tmp_path / "export.xlsx"
    done = subprocess.run(
        [sys.executable, "-m", "grid_console", "people", "export", str(out), *db],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = list(load_workbook(out).worksheets[0].iter_rows(values_only=True))
    assert [r[0] for r in rows] == ["username", "li", "zhang"]


def test_exports_never_carry_a_formula(engine: Engine) -> None:
    load(
        engine,
        Table.PEOPLE,
        'username,name,role,phone\nli,"=HYPERLINK(""http://x"",""点"")",patrol,+8613800000000\n',
    )
    with Session(engine) as session:
        rows = export_rows(session, Table.PEOPLE)
    csv_text = render(rows, "p.csv", Table.PEOPLE).decode("utf-8-sig")
    assert "'=HYPERLINK" in csv_text and "'+8613800000000" in csv_text
    xlsx = render(rows, "p.xlsx", Table.PEOPLE)
    sheet = load_workbook(io.BytesIO(xlsx)).worksheets[0]
    assert sheet["B2"].data_type == "s" and sheet["B2"].value.startswith("=HYPERLINK")
    # Both come back exactly as they were typed.
    for data, name in ((csv_text.encode(), "p.csv"), (xlsx, "p.xlsx")):
        load(engine, Table.PEOPLE, data, name)
        with Session(engine) as session:
            assert export_rows(session, Table.PEOPLE) == rows


def xlsx(*rows: list[object]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# Bad files through the API, each format for each table: (table, file name, content, the
# expected (row, column) of each problem, the Chinese half of the first problem's message).
BAD_FILES = [
    ("grids", "grids.csv", "id,name,parent\nB-01,二网格,\nB-02,三网格,NOPE\n".encode(),
     [(3, "parent")], "系统和文件中都没有网格 'NOPE'"),
    ("grids", "grids.xlsx", xlsx(["网格编号", "名称", "颜色"], ["C", "三", "红"]),
     [(1, "颜色")], "未知的列；可用的列：id, name, site, site_name, parent"),
    ("people", "people.csv", b"username,role,grids\nwu,boss,A\nli,patrol,Z\n",
     [(2, "role"), (3, "grids")], "未知角色 'boss'；角色有：admin, operator, grid_leader, "
     "grid_head, patrol, volunteer"),
    ("people", "people.xlsx", xlsx(["用户名", "角色", "启用", "邮箱"],
                                   ["li", "patrol", "也许", "not-an-address"]),
     [(2, "active"), (2, "email")], "应为 是 或 否（true/false），实际为 '也许'"),
    ("rosters", "rosters.csv",
     "username,grid,weekday,start,end\nnobody,A,周八,25:00,8点\n".encode(),
     [(2, "username"), (2, "weekday"), (2, "start"), (2, "end")],
     "没有人员 'nobody'，请先导入人员"),
    ("rosters", "rosters.xlsx", xlsx(["用户名", "网格", "星期", "开始", "结束"],
                                     ["li", "A", 1, "08:00", "20:00"],
                                     ["li", "A", "周一", "08:00", "12:00"]),
     [(3, "weekday")], "与第 2 行重复：同一人员、网格、星期和开始时间"),
    ("grids", "broken.xlsx", b"PK\x03\x04broken", [(0, "-")], "无法读取的 XLSX 文件："),
]  # fmt: skip


def test_a_bad_file_through_the_api_is_told_in_chinese_then_english(engine: Engine) -> None:
    from fastapi.testclient import TestClient  # noqa: PLC0415

    from grid_console.auth.roles import Role  # noqa: PLC0415
    from grid_console.auth.service import AuthService  # noqa: PLC0415
    from grid_console.cases.service import CaseService  # noqa: PLC0415
    from grid_console.people.service import add_person  # noqa: PLC0415
    from grid_console.web.app import WebContext, create_app  # noqa: PLC0415
    from grid_console.web.directory import DirectoryApi  # noqa: PLC0415

    load(engine, Table.GRIDS, "id\nA\n")
    load(engine, Table.PEOPLE, "username,role\nli,patrol\n")
    transaction(engine, lambda s: add_person(s, username="root", role=Role.ADMIN, now=NOW,
                                             password="root-password-1"))  # fmt: skip
    context = WebContext(cases=CaseService(engine), auth=AuthService(engine), clock=lambda: NOW,
                         health=dict, directory=DirectoryApi(engine, lambda: NOW))  # fmt: skip
    client = TestClient(create_app(context))
    token = client.post("/api/login", json={"username": "root", "password": "root-password-1"})
    client.headers["Authorization"] = f"Bearer {token.json()['token']}"
    before = {t: client.get(f"/api/{t.value}/export").content for t in Table}
    for table, name, content, where, first_zh in BAD_FILES:
        reply = client.post(f"/api/{table}/import", files={"file": (name, content)})
        assert reply.status_code == 422, (name, reply.text)
        detail = reply.json()["detail"]
        n = len(where)
        assert detail["message"] == (
            f"{name}：{n} 处错误，未导入任何数据 / {name}: {n} problem(s), nothing imported"
        )
        errors = detail["errors"]
        assert [(e["row"], e["column"]) for e in errors] == where, name
        for error in errors:
            zh, en = error["message"].split(" / ")  # one Chinese half, then one English
            assert re.search("[\u4e00-\u9fff]", zh), (name, error)
            # English, apart from the file's own text it quotes ('也许').
            assert re.sub("'[^']*'", "", en).isascii(), (name, error)
        assert errors[0]["message"].startswith(first_zh), (name, errors[0])
    # Nothing was written by any of them.
    assert {t: client.get(f"/api/{t.value}/export").content for t in Table} == before
    reply = client.get("/api/grids/export?format=pdf")
    assert reply.json()["detail"] == "format: 只能是 csv 或 xlsx / csv or xlsx"
