"""A past week's figures do not change when its cases are worked on later (reopened, returned,
handled again): the deadlines that judge them are the ones in force then, read from the audit
trail, not the case's current ones, which a reopen or a return overwrites.

Four cases, driven through the real CaseService (which writes the audit rows), hand-counted.
Week 1 is Monday 2026-11-23 to Monday 2026-11-30 in Shanghai, week 2 the week after.
Deadlines: response 300 s, handling 3600 s (illegal parking, the default policy).

- X opened Mon 23 10:00, handled 11:30 (due 11:00: late), closed. Week 2: reopened Tue 1 Dec
  10:00 (fresh deadlines: handling due 11:00), handled 10:30 (on time), closed.
- Y opened Tue 24 10:00, handled 10:30 (on time), closed. Week 2: reopened Wed 2 Dec 10:00,
  handled 11:30 (due 11:00: late), closed.
- Z opened Sat 28 10:00, dispatched, nobody accepts (response due 10:05): overdue at the end of
  week 1. Week 2: accepted Mon 30 09:00, handled 09:30 (due Sat 11:00: late), closed 10:00,
  reopened Thu 3 Dec 10:00 and left registered (response due 10:05): overdue again.
- W opened Sun 29 23:50 (response due 23:55, handling due Mon 00:50), dispatched, nobody
  accepts: overdue at the end of week 1. Week 2: returned Mon 30 09:00 (the response deadline
  moves to 09:05), dispatched, accepted, handled 09:30 (late), closed 10:00.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from grid_console.auth.roles import Role
from grid_console.cases.policy import CasePolicy
from grid_console.cases.service import Actor, CaseService
from grid_console.people.models import Grid
from grid_console.people.service import add_person
from grid_console.stats.figures import Figures
from grid_console.stats.period import parse_period
from grid_console.stats.queries import StatsService
from tests.console.casefactory import insert_case, migrated_engine
from tests.console.conftest import Backend

SH = ZoneInfo("Asia/Shanghai")
OPERATOR = Actor("zhaoop", Role.OPERATOR)
FIGURES = ("reported", "registered", "closed", "handled_on_time", "handled_late",
           "still_overdue", "reworked")  # fmt: skip
# Counted by hand from the module's story, in the order of FIGURES.
WEEK_1 = (4, 4, 2, 1, 1, 2, 0)  # Y on time, X late; Z and W overdue at its end
WEEK_2 = (0, 0, 4, 1, 3, 1, 3)  # X's rework on time; Y's rework, Z, W late; Z overdue; X Y Z


def at(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=SH).astimezone(UTC)


@pytest.fixture
def engine(backend: Backend, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(backend, tmp_path) as engine:
        with Session(engine) as session, session.begin():
            session.add(Grid(id="A-05", name="A-05"))
            session.flush()
            add_person(session, username="lipatrol", role=Role.PATROL, now=at(11, 1, 0),
                       grids=["A-05"])  # fmt: skip
        yield engine


def week(engine: Engine, start: str, end: str, now: datetime) -> tuple[int, ...]:
    period = parse_period(start, end, None, now)
    rows = StatsService(engine).figures(period, now)
    total = Figures(None, None)
    for row in rows:
        total.add(row)
    return tuple(getattr(total, name) for name in FIGURES)


def test_a_past_week_keeps_its_figures_when_its_cases_are_reworked(engine: Engine) -> None:
    cases = CaseService(engine, CasePolicy())

    def act(case: int, action: str, when: datetime, **kw: object) -> None:
        note = "n" if action in ("return", "reopen") else None
        cases.apply_action(case, action, OPERATOR, note, when, **kw)  # type: ignore[arg-type]

    def work(case: int, start: datetime, accept: datetime, handle: datetime,
             close: datetime) -> None:  # fmt: skip
        act(case, "dispatch", start, to="lipatrol")
        act(case, "accept", accept)
        act(case, "handle", handle)
        act(case, "close", close)

    with Session(engine) as session, session.begin():
        opened = {name: insert_case(session, when, kind="illegal_parking", camera="gate-2",
                                    response_s=300, handle_s=3600).id
                  for name, when in (("X", at(11, 23, 10)), ("Y", at(11, 24, 10)),
                                     ("Z", at(11, 28, 10)), ("W", at(11, 29, 23, 50)))}  # fmt: skip
    x, y, z, w = (opened[n] for n in "XYZW")
    for case, day, hour, minute in ((x, 23, 10, 0), (y, 24, 10, 0), (z, 28, 10, 0),
                                    (w, 29, 23, 50)):  # fmt: skip
        act(case, "register", at(11, day, hour, minute, 30))
    work(x, at(11, 23, 10, 1), at(11, 23, 10, 2), at(11, 23, 11, 30), at(11, 23, 12))
    work(y, at(11, 24, 10, 1), at(11, 24, 10, 2), at(11, 24, 10, 30), at(11, 24, 10, 45))
    act(z, "dispatch", at(11, 28, 10, 1), to="lipatrol")
    act(w, "dispatch", at(11, 29, 23, 51), to="lipatrol")

    # The report as the centre takes it on Monday morning, before anything of week 2 happened.
    monday = at(11, 30, 8)
    assert week(engine, "2026-11-23", "2026-11-30", monday) == WEEK_1

    # Week 2: everything that overwrites the cases' deadlines.
    z_accept = at(11, 30, 9)
    act(z, "accept", z_accept)
    act(z, "handle", at(11, 30, 9, 30))
    act(z, "close", at(11, 30, 10))
    act(w, "return", at(11, 30, 9))
    work(w, at(11, 30, 9, 1), at(11, 30, 9, 2), at(11, 30, 9, 30), at(11, 30, 10))
    act(x, "reopen", at(12, 1, 10))
    work(x, at(12, 1, 10, 1), at(12, 1, 10, 2), at(12, 1, 10, 30), at(12, 1, 10, 45))
    act(y, "reopen", at(12, 2, 10))
    work(y, at(12, 2, 10, 1), at(12, 2, 10, 2), at(12, 2, 11, 30), at(12, 2, 12))
    act(z, "reopen", at(12, 3, 10))

    later = at(12, 7, 9)
    assert week(engine, "2026-11-23", "2026-11-30", later) == WEEK_1, "week 1 changed"
    assert week(engine, "2026-11-30", "2026-12-07", later) == WEEK_2
