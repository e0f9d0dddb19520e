"""The weekly figures against a hand-counted fixture: cases with audit trails at known times,
on SQLite and PostgreSQL, and the JSON, CSV and XLSX the API serves.

The week is Monday 2026-11-23 to Monday 2026-11-30 in Shanghai (UTC+8). Each case's comment
says what it counts for; the expected tables below were counted from those comments by hand.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from grid_console.auth.roles import Role
from grid_console.auth.service import AuthService
from grid_console.cases.machine import State
from grid_console.cases.models import Case
from grid_console.cases.service import CaseService
from grid_console.people.models import Grid
from grid_console.people.service import add_person
from grid_console.stats.period import PeriodError, parse_period
from grid_console.stats.queries import StatsService
from grid_console.web.app import WebContext, create_app
from grid_console.web.routes_stats import stats_router
from tests.console.casefactory import add_event, insert_case, migrated_engine
from tests.console.conftest import Backend

SH = ZoneInfo("Asia/Shanghai")
S = State
NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)  # the report is asked for the week after


def sh(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A Shanghai wall-clock time in November 2026, as UTC."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=SH).astimezone(UTC)


def path(session: Session, case: Case, steps: list[tuple[str, datetime, State]]) -> None:
    for action, at, state in steps:
        add_event(session, case, action, at, state)


def through(start: datetime, accept_s: int, handle_at: datetime, close_at: datetime | None
            ) -> list[tuple[str, datetime, State]]:  # fmt: skip
    """register at +30 s, dispatch at +60 s, accept, handle, close."""
    steps = [("register", start + timedelta(seconds=30), S.REGISTERED),
             ("dispatch", start + timedelta(seconds=60), S.DISPATCHED),
             ("accept", start + timedelta(seconds=accept_s), S.ACCEPTED),
             ("handle", handle_at, S.HANDLED)]  # fmt: skip
    if close_at:
        steps.append(("close", close_at, S.CLOSED))
    return steps


def build(session: Session) -> None:
    def new(opened: datetime, **kw: Any) -> Case:
        return insert_case(session, opened, **kw)

    # C1 A-05 smoke: accepted after 180 s, handled 10:40 (due 11:00: on time), closed 11:00.
    c1 = new(sh(23, 10))
    path(session, c1, through(sh(23, 10), 180, sh(23, 10, 40), sh(23, 11)))
    # C2: accepted after 600 s, handled 10:30 (due 10:00: late), closed 12:00 (10800 s).
    c2 = new(sh(24, 9))
    path(session, c2, through(sh(24, 9), 600, sh(24, 10, 30), sh(24, 12)))
    # C3: a false alarm.
    c3 = new(sh(25, 8))
    path(session, c3, [("register", sh(25, 8, 0, 30), S.REGISTERED),
                       ("false_alarm", sh(25, 8, 2), S.FALSE_ALARM)])  # fmt: skip
    # C4: accepted after 60 s, handled 14:30 (on time), returned from handled (rework),
    # accepted again (not a first accept), handled, closed 15:00 (3600 s).
    c4 = new(sh(26, 14))
    path(session, c4, [
        *through(sh(26, 14), 60, sh(26, 14, 30), None),
        ("return", sh(26, 14, 40), S.RETURNED), ("dispatch", sh(26, 14, 41), S.DISPATCHED),
        ("accept", sh(26, 14, 42), S.ACCEPTED), ("handle", sh(26, 14, 50), S.HANDLED),
        ("close", sh(26, 15), S.CLOSED)])  # fmt: skip
    # C5: dispatched Friday night, nobody accepts (response due 20:05): still overdue.
    c5 = new(sh(27, 20))
    path(session, c5, through(sh(27, 20), 0, sh(27, 20), None)[:2])
    # C6: opened the week before, registered then, never accepted: overdue backlog only.
    c6 = new(sh(22, 10))
    path(session, c6, [("register", sh(22, 10, 0, 30), S.REGISTERED)])
    # C7: accepted after 120 s on Saturday, not handled (due 11:00): still overdue.
    c7 = new(sh(28, 10))
    path(session, c7, through(sh(28, 10), 120, sh(28, 10), None)[:3])
    # C14: opened the week before, handled Monday 00:30 (late), closed 01:00 (18000 s).
    c14 = new(sh(22, 20))
    path(session, c14, through(sh(22, 20), 180, sh(23, 0, 30), sh(23, 1)))

    # A-05 illegal parking, at the day boundaries of Shanghai (not of UTC):
    new(sh(23, 0), kind="illegal_parking", camera="gate-2")  # C10: Monday 00:00, overdue
    # C8: Sunday 23:59:59, in the week; its response is due after the week: not overdue.
    new(sh(29, 23, 59, 59), kind="illegal_parking", camera="gate-2")
    new(datetime(2026, 11, 30, tzinfo=SH).astimezone(UTC), kind="illegal_parking")  # C9: next

    # B-01 smoke: C11 handled on time, closed, reopened from closed (rework), then a false
    # alarm; C13 deferred: past its deadlines but parked, so not overdue.
    c11 = new(sh(25, 10), grid="B-01")
    path(session, c11, [
        *through(sh(25, 10), 240, sh(25, 10, 30), sh(25, 10, 45)),
        ("reopen", sh(25, 12), S.REGISTERED),
        ("false_alarm", sh(25, 12, 10), S.FALSE_ALARM)])  # fmt: skip
    c13 = new(sh(26, 9), grid="B-01")
    path(session, c13, [("register", sh(26, 9, 0, 30), S.REGISTERED),
                        ("defer", sh(26, 9, 1), S.DEFERRED)])  # fmt: skip


COLUMNS = ("reported", "registered", "closed", "false_alarms", "handled_on_time",
           "handled_late", "still_overdue", "reworked", "accept_median_s", "accept_p90_s",
           "close_median_s", "close_p90_s")  # fmt: skip
EXPECTED = {
    # accept [60, 120, 180, 600]: median 150, p90 180 + 0.7 * 420 = 474
    # close [3600, 3600, 10800, 18000]: median 7200, p90 10800 + 0.7 * 7200 = 15840
    ("A-05", "smoke"): (6, 6, 4, 1, 2, 2, 3, 1, 150.0, 474.0, 7200.0, 15840.0),
    ("A-05", "illegal_parking"): (2, 0, 0, 0, 0, 0, 1, 0, None, None, None, None),
    ("B-01", "smoke"): (2, 2, 1, 1, 1, 0, 0, 1, 240.0, 240.0, 2700.0, 2700.0),
}
# accept [60, 120, 180, 240, 600]: p90 240 + 0.6 * 360; close [2700, 3600, 3600, 10800, 18000]
TOTAL = (10, 8, 5, 2, 3, 2, 4, 2, 180.0, 456.0, 3600.0, 15120.0)


@pytest.fixture
def engine(backend: Backend, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(backend, tmp_path) as engine:
        with Session(engine) as session, session.begin():
            build(session)
        yield engine


@pytest.fixture
def client(engine: Engine) -> TestClient:
    app = FastAPI()
    app.include_router(stats_router(StatsService(engine), lambda: NOW, lambda: None))
    return TestClient(app)


def as_table(body: dict[str, Any]) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {(r["grid"], r["kind"]): tuple(r[c] for c in COLUMNS) for r in body["rows"]}


def test_figures_match_the_hand_count(client: TestClient) -> None:
    reply = client.get("/api/stats", params={"from": "2026-11-23", "to": "2026-11-30"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert as_table(body) == EXPECTED
    assert tuple(body["total"][c] for c in COLUMNS) == TOTAL
    assert (body["from"], body["to"]) == ("2026-11-22T16:00:00.000Z", "2026-11-29T16:00:00.000Z")
    assert body["as_of"] == body["to"] and body["timezone"] == "Asia/Shanghai"
    assert body["rows"][1]["kind_name"] == "烟雾报警"


def test_one_grid(client: TestClient) -> None:
    body = client.get("/api/stats?from=2026-11-23&to=2026-11-30&grid=B-01").json()
    assert as_table(body) == {("B-01", "smoke"): EXPECTED[("B-01", "smoke")]}
    assert body["total"]["reported"] == 2


def test_day_boundaries_follow_the_time_zone(client: TestClient) -> None:
    # In UTC the week starts 8 hours later: C10 (Monday 00:00 in Shanghai) falls out, and
    # C9 (the next Monday 00:00 in Shanghai, Sunday 16:00 UTC) falls in.
    body = client.get("/api/stats?from=2026-11-23&to=2026-11-30&tz=UTC").json()
    assert as_table(body)[("A-05", "illegal_parking")][0] == 2
    c14_handled_late = as_table(body)[("A-05", "smoke")][5]
    assert c14_handled_late == 1  # C14's handling (Sunday 16:30 UTC) is before the UTC week


def test_overdue_is_taken_at_now_while_the_week_runs(engine: Engine) -> None:
    friday_night = sh(27, 21)
    period = parse_period("2026-11-23", "2026-11-30", None, friday_night)
    rows = {(r.grid, r.kind): r for r in StatsService(engine).figures(period, friday_night)}
    assert rows[("A-05", "smoke")].still_overdue == 2  # C5 and C6; C7 is not opened yet
    assert rows[("A-05", "illegal_parking")].still_overdue == 1  # C10


def test_csv_and_xlsx_have_chinese_headers_and_the_same_numbers(client: TestClient) -> None:
    query = "?from=2026-11-23&to=2026-11-30"
    reply = client.get("/api/stats.csv" + query)
    assert reply.status_code == 200
    assert reply.headers["content-disposition"].endswith('"grid-figures-20261123-20261130.csv"')
    assert reply.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(reply.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["网格", "事件类型", "上报数", "立案数"]
    assert rows[0][8] == "超期未处置数"
    assert rows[2][:10] == ["A-05", "烟雾报警", "6", "6", "4", "1", "2", "2", "3", "1"]
    assert rows[2][10:] == ["2.5", "7.9", "120.0", "264.0"]  # minutes
    assert rows[-1][:3] == ["合计", "", "10"]

    reply = client.get("/api/stats.xlsx" + query)
    assert reply.status_code == 200
    book = load_workbook(io.BytesIO(reply.content))
    sheet = book["周报"]
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0] == rows[0]
    assert cells[2][:10] == ["A-05", "烟雾报警", 6, 6, 4, 1, 2, 2, 3, 1]
    assert cells[-1][2] == 10
    notes = {r[0].value: r[1].value for r in book["说明"].iter_rows()}
    assert "Asia/Shanghai" in str(notes["统计区间"]) and "返工数" in notes


@pytest.mark.parametrize(("query", "field"), [
    ("from=2026-13-01&to=2026-11-30", "from:"), ("from=2026-11-23&to=yesterday", "to:"),
    ("from=2026-11-30&to=2026-11-23", "from: must be before"), ("tz=Mars/Olympus", "tz:"),
    ("from=2020-01-01&to=2026-01-01", "longer than"),
    ("from=0001-01-01&to=2026-11-30", "from: '0001-01-01' is out of range"),
])  # fmt: skip
def test_bad_parameters_are_422_naming_the_parameter(
    client: TestClient, query: str, field: str
) -> None:
    reply = client.get(f"/api/stats?{query}")
    assert reply.status_code == 422 and field in reply.json()["detail"]


def test_default_period_is_the_last_seven_days_to_the_end_of_today() -> None:
    period = parse_period(None, None, None, NOW)  # 17:00 in Shanghai on 5 December
    assert period.end == datetime(2026, 12, 6, tzinfo=SH).astimezone(UTC)
    assert period.start == period.end - timedelta(days=7)
    with pytest.raises(PeriodError, match="tz"):
        parse_period(None, None, "nowhere", NOW)


def test_a_grid_named_like_a_formula_stays_text_in_the_files(engine: Engine) -> None:
    evil = '=HYPERLINK("https://evil.example","点我")'
    with Session(engine) as session, session.begin():
        insert_case(session, sh(24, 9), grid=evil)
    app = FastAPI()
    app.include_router(stats_router(StatsService(engine), lambda: NOW, lambda: None))
    client = TestClient(app)
    query = "?from=2026-11-23&to=2026-11-30"
    rows = list(csv.reader(io.StringIO(client.get("/api/stats.csv" + query).text.lstrip("\ufeff"))))
    assert ["'" + evil, "烟雾报警", "1"] == rows[1][:3]
    sheet = load_workbook(io.BytesIO(client.get("/api/stats.xlsx" + query).content))["周报"]
    assert sheet["A2"].value == evil and sheet["A2"].data_type == "s"


# Who reads which figures: the centre every grid's; a grid head or leader their own grids and
# micro-grids only (A-05 is a micro-grid of A); a patrol none.
PEOPLE = (("wanghead", "grid_head", ["A"]), ("liuleader", "grid_leader", ["B-01"]),
          ("zhaoop", "operator", []), ("lipatrol", "patrol", ["A-05"]))  # fmt: skip
PASSWORD = "figures-test-password-1"


@pytest.fixture
def signed_in(engine: Engine) -> Callable[[str], TestClient]:
    with Session(engine) as session, session.begin():
        session.add_all([Grid(id="A", name="A 网格"), Grid(id="B-01", name="B-01 网格")])
        session.flush()
        session.add(Grid(id="A-05", name="A-05 微网格", parent_id="A"))
        for name, role, grids in PEOPLE:
            add_person(session, username=name, role=Role(role), now=NOW, password=PASSWORD,
                       grids=grids)  # fmt: skip
    context = WebContext(cases=CaseService(engine), auth=AuthService(engine), clock=lambda: NOW,
                         health=dict, stats=StatsService(engine))  # fmt: skip
    app = create_app(context)

    def as_user(name: str) -> TestClient:
        client = TestClient(app)
        reply = client.post("/api/login", json={"username": name, "password": PASSWORD})
        assert reply.status_code == 200, reply.text
        client.headers["Authorization"] = f"Bearer {reply.json()['token']}"
        return client

    return as_user


def test_a_grid_head_reads_the_figures_of_their_grids_only(
    signed_in: Callable[[str], TestClient],
) -> None:
    week = "from=2026-11-23&to=2026-11-30"
    head = signed_in("wanghead")
    body = head.get(f"/api/stats?{week}").json()
    mine = {k: v for k, v in EXPECTED.items() if k[0] == "A-05"}
    assert as_table(body) == mine, "A and its micro-grid A-05, and not B-01"
    assert body["grids"] == ["A", "A-05"]
    assert body["total"]["reported"] == 8 and body["total"]["still_overdue"] == 4
    assert as_table(head.get(f"/api/stats?{week}&grid=A-05").json()) == mine
    for path in ("/api/stats", "/api/stats.csv", "/api/stats.xlsx"):
        reply = head.get(f"{path}?{week}&grid=B-01")
        assert reply.status_code == 403, (path, reply.text)
        assert reply.json()["detail"].startswith("grid: 无权查看网格 B-01")
    lines = head.get(f"/api/stats.csv?{week}").content.decode("utf-8-sig").splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["A-05", "A-05", "合计"]
    assert lines[-1].split(",")[2] == "8"
    book = load_workbook(io.BytesIO(head.get(f"/api/stats.xlsx?{week}").content))
    assert [r[0].value for r in book["周报"].iter_rows()][1:] == ["A-05", "A-05", "合计"]
    assert {r[0].value: r[1].value for r in book["说明"].iter_rows()}["网格"] == (
        "本人负责的网格：A、A-05"
    )

    leader = signed_in("liuleader")
    body = leader.get(f"/api/stats?{week}").json()
    assert as_table(body) == {("B-01", "smoke"): EXPECTED[("B-01", "smoke")]}
    assert leader.get(f"/api/stats?{week}&grid=A-05").status_code == 403

    centre = signed_in("zhaoop").get(f"/api/stats?{week}").json()
    assert as_table(centre) == EXPECTED and centre["grids"] is None

    patrol = signed_in("lipatrol")
    for path in ("/api/stats", "/api/stats.csv", "/api/stats.xlsx"):
        reply = patrol.get(f"{path}?{week}")
        assert reply.status_code == 403 and "无权" in reply.json()["detail"], path
