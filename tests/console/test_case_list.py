"""GET /api/cases over more cases than a page holds: the opening-time window, the colour and
the paging are done in SQL, so an old case is found however many newer ones there are (the
inbox used to filter its time window in the page, over the 500 newest cases only)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from grid_console.auth.roles import Role
from grid_console.auth.service import AuthService
from grid_console.cases.machine import State
from grid_console.cases.service import CaseService
from grid_console.people.service import add_person
from grid_console.web.app import WebContext, create_app
from tests.console.casefactory import add_event, insert_case, migrated_engine
from tests.console.conftest import Backend

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
RECENT = 600  # more than the inbox's page of 500


def sh(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH).astimezone(UTC)


@pytest.fixture
def engine(backend: Backend, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(backend, tmp_path) as engine:
        yield engine


@pytest.fixture
def ids(engine: Engine) -> dict[str, int]:
    """Two old cases first (the smallest ids), then RECENT newer ones, a minute apart."""
    with Session(engine) as session, session.begin():
        old = insert_case(session, sh(11, 2, 10), kind="illegal_parking", camera="gate-2")
        closed = insert_case(session, sh(11, 3, 10))
        for step, state in (("register", State.REGISTERED), ("false_alarm", State.FALSE_ALARM)):
            add_event(session, closed, step, sh(11, 3, 10, 1), state)
        for n in range(RECENT):
            insert_case(session, sh(12, 1, 8) + timedelta(minutes=n))
        return {"old": old.id, "closed": closed.id}


@pytest.fixture
def client(engine: Engine) -> TestClient:
    with Session(engine) as session, session.begin():
        add_person(session, username="zhaoop", role=Role.OPERATOR, now=NOW,
                   password="operator-password-1")  # fmt: skip
    context = WebContext(cases=CaseService(engine), auth=AuthService(engine), clock=lambda: NOW,
                         health=dict, timezone="Asia/Shanghai")  # fmt: skip
    client = TestClient(create_app(context))
    login = {"username": "zhaoop", "password": "operator-password-1"}
    client.headers["Authorization"] = (
        f"Bearer {client.post('/api/login', json=login).json()['token']}"
    )
    return client


def listed(client: TestClient, query: str) -> list[int]:
    reply = client.get("/api/cases?" + query)
    assert reply.status_code == 200, reply.text
    return [c["id"] for c in reply.json()["cases"]]


def test_an_old_case_in_the_window_is_found_behind_many_newer_ones(
    client: TestClient, ids: dict[str, int]
) -> None:
    newest = client.get("/api/cases?limit=500").json()
    assert len(newest["cases"]) == 500 and ids["old"] not in [c["id"] for c in newest["cases"]]
    assert newest["next_before"] == newest["cases"][-1]["id"]
    # A date is that day in the console's zone (Shanghai): 10:00 on 2 November is in it.
    assert listed(client, "from=2026-11-02&to=2026-11-03") == [ids["old"]]
    assert listed(client, "from=2026-11-02&to=2026-11-04") == [ids["closed"], ids["old"]]
    # A time without an offset is read in the console's zone; with one, as it is.
    assert listed(client, "from=2026-11-02T09:59&to=2026-11-02T10:01") == [ids["old"]]
    assert listed(client, "from=2026-11-02T10:00:01&to=2026-11-02T11:00") == []
    assert listed(client, "from=2026-11-02T02:00:00%2B00:00&to=2026-11-02T02:00:01Z") == [
        ids["old"]
    ]
    # With the other filters, in SQL too: the kind, and the colour as shown now.
    assert listed(client, "from=2026-11-01&kind=illegal_parking") == [ids["old"]]
    assert listed(client, "colour=green") == [ids["closed"]]
    assert ids["old"] in listed(client, "colour=red&from=2026-11-01&to=2026-11-30")
    assert listed(client, "colour=yellow") == []
    # Only `to`: everything opened before it, the old ones.
    assert listed(client, "to=2026-12-01") == [ids["closed"], ids["old"]]


def test_keyset_pages_walk_every_case_once_newest_first(
    client: TestClient, ids: dict[str, int]
) -> None:
    seen: list[int] = []
    before = None
    pages = 0
    while True:
        query = "limit=250" + (f"&before={before}" if before else "")
        body = client.get("/api/cases?" + query).json()
        seen += [c["id"] for c in body["cases"]]
        pages += 1
        before = body["next_before"]
        if before is None:
            break
    assert pages == 3
    assert len(seen) == RECENT + 2 and seen == sorted(set(seen), reverse=True)
    assert seen[-2:] == [ids["closed"], ids["old"]]
    # Pages within a window: the window's cases only, still newest first.
    first = client.get("/api/cases?from=2026-12-01&limit=100").json()
    second = listed(client, f"from=2026-12-01&limit=100&before={first['next_before']}")
    assert len(first["cases"]) == 100 and len(second) == 100
    assert first["cases"][-1]["id"] > second[0]


def test_open_cases_only_are_listed_however_many_closed_ones_are_newer(
    engine: Engine, client: TestClient, ids: dict[str, int]
) -> None:
    """The patrol page asks for the open cases of its grids: an open case behind many newer
    closed ones must still be on the phone (it asked for the newest 200 of every state)."""
    with Session(engine) as session, session.begin():
        for n in range(250):
            done = insert_case(session, sh(12, 5, 8) + timedelta(minutes=n))
            add_event(session, done, "false_alarm", sh(12, 5, 9), State.FALSE_ALARM)
    newest = listed(client, "limit=200")
    assert ids["old"] not in newest
    open_ids = listed(client, "open=true&limit=1000")
    assert ids["old"] in open_ids and ids["closed"] not in open_ids
    assert len(open_ids) == RECENT + 1
    assert listed(client, "open=false&limit=1000") == listed(client, "limit=1000")


@pytest.mark.parametrize(("query", "said"), [
    ("from=yesterday", "from: 'yesterday' is not a date"),
    ("to=2026-13-01", "to: "),
    ("from=0001-01-01", "from: '0001-01-01' is out of range"),
    ("to=9999-12-31T23:00-05:00", "to: "),
    ("from=2026-11-03&to=2026-11-02", "from: 必须早于 to / must be before to"),
    ("colour=blue", "colour: 只能是 red、yellow 或 green / red, yellow or green"),
])  # fmt: skip
def test_a_bad_window_or_colour_is_422_naming_it(client: TestClient, query: str, said: str) -> None:
    reply = client.get("/api/cases?" + query)
    assert reply.status_code == 422 and reply.json()["detail"].startswith(said), reply.text
    assert client.get("/api/cases?before=0").status_code == 422
