"""Leave, stand-ins and extra duty on top of the weekly roster, on SQLite and PostgreSQL: who is
on duty, where an alert's case is dispatched, and the API the centre records them with (its
refusals named by field, its roles, its audit trail)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from grid_console.app import Console
from grid_console.auth.models import AdminAudit
from grid_console.auth.roles import Role
from grid_console.cases.flows import apply_alert_event
from grid_console.cases.models import CaseEvent
from grid_console.cases.policy import CasePolicy
from grid_console.cases.service import Actor, CaseService
from grid_console.db.session import transaction
from grid_console.deadlines.job import DeadlineJob
from grid_console.dispatch.handover import NOTE as HANDOVER_NOTE
from grid_console.ingest.payloads import AlertPayload
from grid_console.people.duty import (
    DutyChangeError,
    DutyChangeSpec,
    add_change,
    cancel_change,
)
from grid_console.people.models import Grid, Person, Shift
from grid_console.people.roster import duty, on_duty
from grid_console.people.service import add_person, find_person
from tests.console.casefactory import migrated_engine
from tests.console.conftest import Backend
from tests.console.helpers import api_as, make_console, seed, started
from tests.console.payloads import alert, new_alert_id
from tests.console.test_directory import xlsx
from tests.integration.broker import MosquittoBroker

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
BEFORE = T0 - timedelta(hours=3)  # when the changes are recorded
H = timedelta(hours=1)
SHANGHAI = ZoneInfo("Asia/Shanghai")  # the console's default time zone


@pytest.fixture
def engine(backend: Backend, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(backend, tmp_path) as engine:
        yield engine


def roster(engine: Engine) -> None:
    """A-05: li Monday 08:00-20:00, zhao Monday 20:00-08:00; wu and qian patrols with no
    shift; zhang the grid head; B-01 a second grid with nobody rostered."""

    def work(session: Session) -> None:
        session.add_all([Grid(id="A-05", name="五网格"), Grid(id="B-01", name="一网格")])
        session.flush()
        people = {
            name: add_person(session, username=name, role=role, now=BEFORE, grids=grids)
            for name, role, grids in (
                ("li", Role.PATROL, ["A-05"]),
                ("zhao", Role.PATROL, ["A-05"]),
                ("wu", Role.PATROL, ["A-05"]),
                ("qian", Role.PATROL, ["B-01"]),
                ("zhang", Role.GRID_HEAD, ["A-05"]),
                ("op", Role.OPERATOR, []),
            )
        }
        for name, start, end in (("li", 8 * 60, 20 * 60), ("zhao", 20 * 60, 8 * 60)):
            session.add(Shift(person_id=people[name].id, grid_id="A-05", weekday=0,
                              start_minute=start, end_minute=end))  # fmt: skip

    transaction(engine, work)


def change(engine: Engine, kind: str, who: str, start: datetime, end: datetime,
           **extra: str) -> int:  # fmt: skip
    spec = DutyChangeSpec(kind=kind, username=who, starts_at=start, ends_at=end, **extra)
    return transaction(engine, lambda s: add_change(s, spec, actor="op", now=BEFORE).id)


def names(engine: Engine, grid: str, at: datetime) -> list[str]:
    with Session(engine) as session:
        return [p.username for p in on_duty(session, grid, at)]


def test_a_leave_takes_a_person_off_duty_for_its_span_only(engine: Engine) -> None:
    roster(engine)
    assert names(engine, "A-05", T0) == ["li"]
    change(engine, "leave", "li", T0 - H, T0 + 2 * H, note="病假")
    assert names(engine, "A-05", T0) == []
    assert names(engine, "A-05", T0 - H - timedelta(seconds=1)) == ["li"]
    assert names(engine, "A-05", T0 + 2 * H) == ["li"]  # [from, to): back at `to`
    with Session(engine) as session:
        found = duty(session, "A-05", T0)
        assert [p.username for p in found.on_leave] == ["li"]


def test_a_substitute_covers_the_shifts_of_the_person_on_leave_and_no_others(
    engine: Engine,
) -> None:
    roster(engine)
    # Li is away all Monday (Shanghai); wu stands in, but only for li's own hours.
    monday = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)
    change(engine, "leave", "li", monday, monday + 24 * H, substitute="wu")
    with Session(engine) as session:
        at_ten = duty(session, "A-05", T0)
        assert [(d.person.username, d.why.value, d.stands_in_for) for d in at_ten.on] == [
            ("wu", "stands_in", "li")
        ]
    night = T0 + 11 * H  # Monday 21:00: li's shift is over, zhao's night shift runs
    assert names(engine, "A-05", night) == ["zhao"]
    assert names(engine, "B-01", T0) == []  # a stand-in is where the absent person was


def test_of_overlapping_leaves_the_one_with_a_stand_in_counts(engine: Engine) -> None:
    roster(engine)
    change(engine, "leave", "li", T0 - 2 * H, T0 + 2 * H, note="病假")
    change(engine, "leave", "li", T0 - H, T0 + H, substitute="wu")
    assert names(engine, "A-05", T0) == ["wu"]
    assert names(engine, "A-05", T0 + H) == []  # the first leave alone, nobody stands in


def test_someone_on_leave_is_on_duty_nowhere_even_as_a_substitute_or_on_extra_duty(
    engine: Engine,
) -> None:
    roster(engine)
    change(engine, "leave", "li", T0 - H, T0 + H, substitute="wu")
    change(engine, "extra", "wu", T0 - H, T0 + H, grid="B-01")
    assert names(engine, "A-05", T0) == ["wu"]
    assert names(engine, "B-01", T0) == ["wu"]  # extra duty elsewhere as well
    change(engine, "leave", "wu", T0 - H, T0 + H)
    assert names(engine, "A-05", T0) == []
    assert names(engine, "B-01", T0) == []


def test_extra_duty_is_in_its_grid_only_and_a_cancelled_change_counts_for_nothing(
    engine: Engine,
) -> None:
    roster(engine)
    extra = change(engine, "extra", "qian", T0 - H, T0 + H, grid="A-05")
    assert names(engine, "A-05", T0) == ["li", "qian"]
    assert names(engine, "B-01", T0) == []
    transaction(engine, lambda s: cancel_change(s, extra, actor="op", now=BEFORE))
    assert names(engine, "A-05", T0) == ["li"]
    with pytest.raises(DutyChangeError, match="already withdrawn"):
        transaction(engine, lambda s: cancel_change(s, extra, actor="op", now=BEFORE))


def test_a_substitute_made_inactive_later_is_not_on_duty(engine: Engine) -> None:
    roster(engine)
    change(engine, "leave", "li", T0 - H, T0 + H, substitute="wu")

    def deactivate(session: Session) -> None:
        person = find_person(session, "wu")
        assert person is not None
        person.active = False

    transaction(engine, deactivate)
    assert names(engine, "A-05", T0) == []


@pytest.mark.parametrize(
    ("asked", "field", "words"),
    [
        (("holiday", "li", T0, T0 + H, {}), "kind", "leave or extra"),
        (("leave", "nobody", T0, T0 + H, {}), "username", "no such person 'nobody'"),
        (("leave", "li", T0, T0, {}), "to", "must be after from"),
        (("leave", "li", T0 + H, T0, {}), "to", "must be after from"),
        (("leave", "li", T0, T0 + timedelta(days=367), {}), "to", "at most 366 days"),
        (("leave", "li", BEFORE - 2 * H, BEFORE, {}), "to", "already past"),
        (("leave", "li", T0, T0 + H, {"substitute": "li"}), "substitute", "oneself"),
        (("leave", "li", T0, T0 + H, {"substitute": "op"}), "substitute", "only these roles"),
        (("leave", "li", T0, T0 + H, {"substitute": "ghost"}), "substitute", "no such person"),
        (("leave", "li", T0, T0 + H, {"grid": "A-05"}), "grid", "a leave takes no grid"),
        (("extra", "li", T0, T0 + H, {}), "grid", "needs a grid"),
        (("extra", "li", T0, T0 + H, {"grid": "Z-99"}), "grid", "no such grid 'Z-99'"),
        (("extra", "op", T0, T0 + H, {"grid": "A-05"}), "username", "only these roles"),
        (("extra", "li", T0, T0 + H, {"grid": "A-05", "substitute": "wu"}), "substitute",
         "no substitute"),
    ],
)  # fmt: skip
def test_a_change_that_cannot_be_made_names_its_field_and_writes_nothing(
    engine: Engine,
    asked: tuple[str, str, datetime, datetime, dict[str, str]],
    field: str,
    words: str,
) -> None:
    kind, who, start, end, extra = asked
    roster(engine)
    with pytest.raises(DutyChangeError) as caught:
        change(engine, kind, who, start, end, **extra)
    assert caught.value.field == field
    assert words in caught.value.en and caught.value.zh
    assert str(caught.value).startswith(f"{field}: {caught.value.zh} / ")
    with Session(engine) as session:
        assert session.execute(select(AdminAudit)).first() is None


def raise_alert(engine: Engine, kind: str, at: datetime) -> list[tuple[str, dict[str, object]]]:
    """A new alert's case, and its dispatches."""
    return [(e.action, e.detail) for e in events(engine, open_case(engine, at, kind), "dispatch")]


def test_a_case_is_dispatched_to_the_stand_in_and_without_one_to_the_grid_head(
    engine: Engine,
) -> None:
    """The point of it all: tonight's alarm reaches someone who is actually out there."""
    roster(engine)
    assert raise_alert(engine, "smoke", T0) == [("dispatch", {"to": ["li"]})]
    leave = change(engine, "leave", "li", T0 - H, T0 + H, substitute="wu")
    assert raise_alert(engine, "smoke", T0) == [("dispatch", {"to": ["wu"]})]
    transaction(engine, lambda s: cancel_change(s, leave, actor="op", now=BEFORE))
    change(engine, "leave", "li", T0 - H, T0 + H)
    assert raise_alert(engine, "smoke", T0) == [("dispatch", {"to": ["zhang"]})]


# --- handing over cases already sent to someone who goes on leave ----------------------------

S = timedelta(seconds=1)


def open_case(engine: Engine, at: datetime = T0, kind: str = "smoke") -> int:
    payload = AlertPayload.from_valid(alert(new_alert_id(), 1, "raised", kind=kind, at=at))
    return transaction(
        engine,
        lambda s: (
            apply_alert_event(
                s, payload, prefix="grid/xizhen/gate-1", received_at=at, policy=CasePolicy()
            ).case_id
        ),
    )


def events(engine: Engine, case_id: int, action: str) -> list[CaseEvent]:
    with Session(engine) as session:
        stmt = (
            select(CaseEvent)
            .where(CaseEvent.case_id == case_id, CaseEvent.action == action)
            .order_by(CaseEvent.id)
        )
        return list(session.execute(stmt).scalars())


def sent_to(engine: Engine, case_id: int) -> list[tuple[list[str], str | None]]:
    """Each dispatch of the case: to whom, with what note."""
    return [(list(e.detail["to"]), e.note) for e in events(engine, case_id, "dispatch")]  # type: ignore[call-overload]


def told(engine: Engine, case_id: int) -> list[str]:
    notified = events(engine, case_id, "notify_due")
    return [r["username"] for e in notified for r in e.detail["recipients"]]  # type: ignore[index, union-attr]


def test_a_case_waiting_on_a_patrol_who_goes_on_leave_is_handed_to_the_stand_in(
    engine: Engine,
) -> None:
    roster(engine)
    waiting, accepted = open_case(engine), open_case(engine)
    CaseService(engine, CasePolicy()).apply_action(
        accepted, "accept", Actor("li", Role.PATROL, frozenset({"A-05"})), None, T0 + S
    )
    change(engine, "leave", "li", T0 + 20 * S, T0 + 5 * H, substitute="wu")
    job = DeadlineJob(engine, CasePolicy(), owner="replica-1")
    assert job.run_once(T0 + 10 * S) == 0  # the leave has not begun
    assert job.run_once(T0 + 30 * S) == 1
    assert sent_to(engine, waiting) == [(["li"], None), (["wu"], HANDOVER_NOTE)]
    assert told(engine, waiting)[-2:] == ["wu", "zhang"]  # a smoke alarm: the head told again
    assert sent_to(engine, accepted) == [(["li"], None)]  # li took it: li's still
    assert job.run_once(T0 + 40 * S) == 0  # once
    assert sent_to(engine, waiting)[-1] == (["wu"], HANDOVER_NOTE)


def test_a_case_is_never_handed_around_among_people_on_leave(engine: Engine) -> None:
    roster(engine)
    case_id = open_case(engine)
    change(engine, "leave", "li", T0, T0 + 5 * H)  # nobody stands in: the grid head
    job = DeadlineJob(engine, CasePolicy(), owner="replica-1")
    assert job.run_once(T0 + 10 * S) == 1
    assert sent_to(engine, case_id)[-1] == (["zhang"], HANDOVER_NOTE)
    change(engine, "leave", "zhang", T0, T0 + 5 * H)  # and the head is away as well
    for seconds in (20, 30, 40):
        assert job.run_once(T0 + seconds * S) == 0
    assert len(sent_to(engine, case_id)) == 2  # left for its deadline to escalate


def test_a_case_with_someone_still_out_there_stays_with_them(engine: Engine) -> None:
    roster(engine)
    change(engine, "extra", "qian", T0 - H, T0 + H, grid="A-05")
    case_id = open_case(engine)
    assert sent_to(engine, case_id) == [(["li", "qian"], None)]
    change(engine, "leave", "li", T0, T0 + H)
    assert DeadlineJob(engine, CasePolicy(), owner="replica-1").run_once(T0 + 10 * S) == 0
    assert len(sent_to(engine, case_id)) == 1


def test_two_replicas_hand_a_case_over_once(engine: Engine) -> None:
    roster(engine)
    cases = [open_case(engine) for _ in range(6)]
    change(engine, "leave", "li", T0, T0 + H, substitute="wu")
    jobs = [DeadlineJob(engine, CasePolicy(), owner=f"replica-{n}") for n in (1, 2)]
    start = threading.Barrier(2)

    def run(job: DeadlineJob) -> int:
        start.wait()
        return job.run_once(T0 + 10 * S)

    with ThreadPoolExecutor(2) as pool:
        acted = list(pool.map(run, jobs))
    assert sum(acted) == 6
    for case_id in cases:
        assert sent_to(engine, case_id) == [(["li"], None), (["wu"], HANDOVER_NOTE)]


def with_a_parent_grid(engine: Engine) -> None:
    """XZ (the community) over A-05, with ma as its grid head."""

    def work(session: Session) -> None:
        session.add(Grid(id="XZ", name="西镇社区"))
        session.flush()
        grid = session.get(Grid, "A-05")
        assert grid is not None
        grid.parent_id = "XZ"
        add_person(session, username="ma", role=Role.GRID_HEAD, now=BEFORE, grids=["XZ"])

    transaction(engine, work)


def test_with_the_grid_head_away_too_the_fallback_is_who_stands_in_or_the_next_head_up(
    engine: Engine,
) -> None:
    roster(engine)
    with_a_parent_grid(engine)
    change(engine, "leave", "li", T0 - H, T0 + 3 * H)  # nobody on duty in A-05 at T0
    assert sent_to(engine, open_case(engine))[0][0] == ["zhang"]
    head_away = change(engine, "leave", "zhang", T0 - H, T0 + H, substitute="wu")
    assert sent_to(engine, open_case(engine))[0][0] == ["wu"]  # the head's stand-in
    transaction(engine, lambda s: cancel_change(s, head_away, actor="op", now=BEFORE))
    change(engine, "leave", "zhang", T0 - H, T0 + H)
    assert sent_to(engine, open_case(engine))[0][0] == ["ma"]  # the next head up
    change(engine, "leave", "ma", T0 - H, T0 + H)
    assert sent_to(engine, open_case(engine))[0][0] == ["zhang"]  # all away: the nearest


def test_an_overdue_case_is_escalated_to_a_head_who_is_there(engine: Engine) -> None:
    roster(engine)
    with_a_parent_grid(engine)
    case_id = open_case(engine)  # to li, who does not answer
    change(engine, "leave", "zhang", T0 - H, T0 + H)
    DeadlineJob(engine, CasePolicy(), owner="replica-1").run_once(T0 + 61 * S)
    with Session(engine) as session:
        supervised = session.execute(
            select(CaseEvent.detail).where(
                CaseEvent.case_id == case_id, CaseEvent.action == "supervise"
            )
        ).scalar_one()
    assert supervised["to"] == ["ma"]


# --- the API ----------------------------------------------------------------------------------

PASSWORD = "people-password-1"


@pytest.fixture
def console(tmp_path: Path, broker: MosquittoBroker, backend: Backend) -> Iterator[Console]:
    instance = started(make_console(tmp_path, broker, backend))
    seed(instance, grids=[("A-05", None), ("B-01", None)],
         people=[("zhaoop", "operator", []), ("lipatrol", "patrol", ["A-05"]),
                 ("wupatrol", "patrol", ["A-05"]), ("zhanghead", "grid_head", ["A-05"]),
                 ("qianpatrol", "patrol", ["B-01"])],
         password=PASSWORD)  # fmt: skip

    def shift(session: Session) -> None:
        li = find_person(session, "lipatrol")
        assert li is not None
        for weekday in range(7):  # every day, all day: on duty whenever the test runs
            session.add(Shift(person_id=li.id, grid_id="A-05", weekday=weekday,
                              start_minute=0, end_minute=24 * 60))  # fmt: skip

    transaction(instance.engine, shift)
    yield instance
    instance.stop()


@pytest.mark.integration
def test_the_centre_records_a_leave_with_a_stand_in_and_sees_who_is_on_duty(
    console: Console,
) -> None:
    operator = api_as(console, "zhaoop", PASSWORD)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    before = operator.get("/api/grids/A-05/on-duty").json()
    assert [(d["username"], d["why"]) for d in before["on_duty"]] == [("lipatrol", "shift")]

    start = (now - H).astimezone(UTC).isoformat()
    end_wall = (now + 8 * H).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")
    reply = operator.post("/api/duty-changes", json={
        "kind": "leave", "username": "lipatrol", "from": start, "to": end_wall,
        "substitute": "wupatrol", "note": "病假"})  # fmt: skip
    assert reply.status_code == 200, reply.text
    made = reply.json()
    assert (made["kind"], made["username"], made["substitute"], made["note"]) == (
        "leave", "lipatrol", "wupatrol", "病假")  # fmt: skip
    assert made["created_by"] == "zhaoop"
    # A time without an offset is Shanghai's wall time.
    assert datetime.fromisoformat(made["to"]) == now + 8 * H

    during = operator.get("/api/grids/A-05/on-duty").json()
    assert [(d["username"], d["why"], d["stands_in_for"]) for d in during["on_duty"]] == [
        ("wupatrol", "stands_in", "lipatrol")
    ]
    assert [p["username"] for p in during["on_leave"]] == ["lipatrol"]
    after = operator.get("/api/grids/A-05/on-duty", params={"at": end_wall}).json()
    assert [d["username"] for d in after["on_duty"]] == ["lipatrol"]

    listed = operator.get("/api/duty-changes").json()["changes"]
    assert [c["id"] for c in listed] == [made["id"]]
    # li is back early: the leave in force ends now, and stays on record as it was.
    back = operator.delete(f"/api/duty-changes/{made['id']}")
    assert back.status_code == 200 and back.json()["cancelled_at"] is None
    assert datetime.fromisoformat(back.json()["to"]) <= datetime.now(UTC)
    assert operator.get("/api/duty-changes").json()["changes"] == []
    since = (now - 2 * H).isoformat()
    kept = operator.get("/api/duty-changes", params={"from": since}).json()["changes"]
    assert [c["id"] for c in kept] == [made["id"]]
    assert operator.get("/api/grids/A-05/on-duty").json()["on_duty"][0]["username"] == "lipatrol"
    over = operator.delete(f"/api/duty-changes/{made['id']}")
    assert over.status_code == 422 and over.json()["detail"]["problem"]["en"] == "already over"
    # One still to come is withdrawn, kept, and not withdrawn twice.
    later = operator.post("/api/duty-changes", json={"kind": "leave", "username": "lipatrol",
                          "from": (now + 24 * H).isoformat(),
                          "to": (now + 30 * H).isoformat()}).json()  # fmt: skip
    gone = operator.delete(f"/api/duty-changes/{later['id']}")
    assert gone.status_code == 200 and gone.json()["cancelled_by"] == "zhaoop"
    assert operator.get("/api/duty-changes").json()["changes"] == []
    withdrawn = operator.get("/api/duty-changes", params={"cancelled": "true"}).json()["changes"]
    assert [c["id"] for c in withdrawn] == [later["id"]]
    again = operator.delete(f"/api/duty-changes/{later['id']}")
    assert again.status_code == 422 and again.json()["detail"]["field"] == "id"
    assert operator.delete("/api/duty-changes/999999").status_code == 404
    with Session(console.engine) as session:
        audit = (
            session.execute(select(AdminAudit.action, AdminAudit.actor).order_by(AdminAudit.id))
            .tuples()
            .all()
        )
    assert audit == [("add_duty_change", "zhaoop"), ("end_duty_change", "zhaoop"),
                     ("add_duty_change", "zhaoop"), ("cancel_duty_change", "zhaoop")]  # fmt: skip


@pytest.mark.integration
def test_the_api_refuses_by_field_and_by_role(console: Console) -> None:
    operator = api_as(console, "zhaoop", PASSWORD)
    later = (datetime.now(UTC) + H).isoformat()
    bad_time = operator.post("/api/duty-changes", json={
        "kind": "leave", "username": "lipatrol", "from": "tomorrow", "to": later})  # fmt: skip
    assert bad_time.status_code == 422 and bad_time.json()["detail"].startswith("from:")
    bad_grid = operator.post("/api/duty-changes", json={"kind": "extra", "username": "wupatrol",
                             "from": later, "to": later, "grid": "A-05"})  # fmt: skip
    detail = bad_grid.json()["detail"]
    assert bad_grid.status_code == 422 and detail["field"] == "to"
    assert detail["problem"] == {"zh": "结束时间必须晚于开始时间", "en": "must be after from"}
    unknown = operator.post("/api/duty-changes", json={"kind": "leave", "username": "lipatrol",
                            "from": later, "to": later, "by": "x"})  # fmt: skip
    assert unknown.status_code == 422  # an unknown field is refused, not ignored
    assert operator.get("/api/grids/Z-9/on-duty").status_code == 404
    junk = operator.get("/api/grids/A-05/on-duty", params={"at": "0001-01-01"})
    assert junk.status_code == 422 and junk.json()["detail"].startswith("at:")
    assert operator.get("/api/duty-changes", params={"from": "2026-12-09", "to": "2026-12-08"}
                        ).status_code == 422  # fmt: skip

    patrol = api_as(console, "lipatrol", PASSWORD)
    for path in ("/api/duty-changes", "/api/grids/A-05/on-duty", "/api/grids", "/api/duty/people"):
        assert patrol.get(path).status_code == 403, path
    made = patrol.post("/api/duty-changes", json={
        "kind": "leave", "username": "lipatrol", "from": later, "to": later})  # fmt: skip
    assert made.status_code == 403
    with Session(console.engine) as session:
        assert session.execute(select(Person).where(Person.username == "lipatrol")).scalar_one()
        assert session.execute(select(AdminAudit)).first() is None


@pytest.mark.integration
def test_a_grid_head_arranges_their_own_grids_only(console: Console) -> None:
    head = api_as(console, "zhanghead", PASSWORD)
    centre = api_as(console, "zhaoop", PASSWORD)
    start = datetime.now(UTC).isoformat()
    end = (datetime.now(UTC) + 4 * H).isoformat()

    assert [g["id"] for g in head.get("/api/grids").json()["grids"]] == ["A-05"]
    people = {p["username"]: p["grids"] for p in head.get("/api/duty/people").json()["people"]}
    assert people == {"lipatrol": ["A-05"], "wupatrol": ["A-05"], "zhanghead": ["A-05"]}
    everyone = centre.get("/api/duty/people").json()["people"]
    assert "qianpatrol" in {p["username"] for p in everyone}

    mine = head.post("/api/duty-changes", json={"kind": "leave", "username": "lipatrol",
                     "from": start, "to": end, "substitute": "wupatrol"})  # fmt: skip
    assert mine.status_code == 200, mine.text
    # Another grid's people and grids answer as if absent, and nothing is written.
    for body, field in (
        ({"kind": "leave", "username": "qianpatrol"}, "username"),
        ({"kind": "leave", "username": "lipatrol", "substitute": "qianpatrol"}, "substitute"),
        ({"kind": "extra", "username": "wupatrol", "grid": "B-01"}, "grid"),
    ):
        refused = head.post("/api/duty-changes", json={**body, "from": start, "to": end})
        assert refused.status_code == 422 and refused.json()["detail"]["field"] == field
        assert "no such" in refused.json()["detail"]["problem"]["en"]
    assert head.get("/api/grids/B-01/on-duty").status_code == 404
    on = head.get("/api/grids/A-05/on-duty").json()["on_duty"]
    assert [(d["username"], d["why"]) for d in on] == [("wupatrol", "stands_in")]

    # B-01's qian on leave, with A-05's wu standing in: the head sees it (their patrol is out
    # there) but may not withdraw another grid's leave.
    theirs = centre.post("/api/duty-changes", json={"kind": "leave", "username": "qianpatrol",
                         "substitute": "wupatrol", "from": start, "to": end})  # fmt: skip
    assert theirs.status_code == 200
    alone = centre.post("/api/duty-changes", json={"kind": "leave", "username": "qianpatrol",
                        "from": end, "to": (datetime.now(UTC) + 5 * H).isoformat()})  # fmt: skip
    assert alone.status_code == 200
    listed = [c["id"] for c in head.get("/api/duty-changes").json()["changes"]]
    assert listed == [mine.json()["id"], theirs.json()["id"]]  # not B-01's own `alone`
    assert head.delete(f"/api/duty-changes/{theirs.json()['id']}").status_code == 404
    still = {c["id"]: c for c in centre.get("/api/duty-changes").json()["changes"]}
    assert still[theirs.json()["id"]]["cancelled_at"] is None
    ended = head.delete(f"/api/duty-changes/{mine.json()['id']}")
    assert ended.status_code == 200 and ended.json()["cancelled_at"] is None


def upload(client: Any, name: str, content: bytes) -> Any:
    return client.post("/api/duty-changes/import", files={"file": (name, content)})


@pytest.mark.integration
def test_a_holiday_roster_is_imported_from_a_spreadsheet_and_exported_again(
    console: Console,
) -> None:
    operator = api_as(console, "zhaoop", PASSWORD)
    day = (datetime.now(SHANGHAI) + timedelta(days=30)).replace(
        hour=8, minute=0, second=0, microsecond=0, tzinfo=None
    )
    holiday = xlsx(
        ["类型", "人员", "开始", "结束", "顶班人员", "网格", "说明"],
        ["请假", "lipatrol", day, day + 48 * H, "wupatrol", None, "春节"],
        [],
        ["加班", "qianpatrol", day, day + 12 * H, None, "A-05", "春节值班"],
    )  # fmt: skip
    reply = upload(operator, "春节排班.xlsx", holiday)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"imported": 2}
    listed = operator.get("/api/duty-changes", params={"to": "2099-01-01"}).json()["changes"]
    assert [(c["kind"], c["username"], c["substitute"], c["grid"]) for c in listed] == [
        ("leave", "lipatrol", "wupatrol", None), ("extra", "qianpatrol", None, "A-05")]  # fmt: skip
    start = datetime.fromisoformat(listed[0]["from"]).astimezone(SHANGHAI)
    assert (start.hour, start.minute) == (8, 0)  # the sheet's wall time, in the console's zone
    assert upload(operator, "春节排班.xlsx", holiday).json() == {"imported": 0}  # once only

    exported = operator.get("/api/duty-changes/export", params={"format": "csv"})
    assert exported.status_code == 200
    lines = exported.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "kind,username,from,to,substitute,grid,note"
    assert (
        lines[1]
        == f"leave,lipatrol,{day:%Y-%m-%d %H:%M},{day + 48 * H:%Y-%m-%d %H:%M},wupatrol,,春节"
    )
    assert upload(operator, "duty.csv", exported.content).json() == {"imported": 0}  # round trip
    # A change to the second (the API's, or one ended early) comes back exactly too.
    odd = datetime.now(UTC) + timedelta(days=40, seconds=17.25)
    made = operator.post("/api/duty-changes", json={"kind": "leave", "username": "wupatrol",
                         "from": odd.isoformat(), "to": (odd + H).isoformat()})  # fmt: skip
    assert made.status_code == 200
    again = operator.get("/api/duty-changes/export", params={"format": "csv"}).content
    assert upload(operator, "duty.csv", again).json() == {"imported": 0}
    sheet = operator.get("/api/duty-changes/export", params={"format": "xlsx"})
    assert upload(operator, "duty.xlsx", sheet.content).json() == {"imported": 0}


@pytest.mark.integration
def test_a_bad_duty_file_names_every_problem_by_row_and_column_and_writes_nothing(
    console: Console,
) -> None:
    operator = api_as(console, "zhaoop", PASSWORD)
    later = (datetime.now(SHANGHAI) + timedelta(days=3)).strftime("%Y-%m-%d %H:%M")
    sooner = (datetime.now(SHANGHAI) + timedelta(days=2)).strftime("%Y-%m-%d %H:%M")
    bad = "\r\n".join([
        "kind,username,from,to,substitute,grid,note",
        f"holiday,lipatrol,{sooner},{later},,,",
        f"leave,nobody,{sooner},{later},,,",
        f"leave,lipatrol,{later},{sooner},,,",
        f"leave,lipatrol,next monday,{later},,,",
        f"extra,wupatrol,{sooner},{later},,Z-9,",
        f"leave,wupatrol,{sooner},{later},,,fine",
    ]).encode()  # fmt: skip
    reply = upload(operator, "bad.csv", bad)
    assert reply.status_code == 422
    detail = reply.json()["detail"]
    assert detail["message"].startswith("bad.csv：5 处错误，未导入任何数据")
    assert [(e["row"], e["column"]) for e in detail["errors"]] == [
        (2, "kind"), (3, "username"), (4, "to"), (5, "from"), (6, "grid")]  # fmt: skip
    assert detail["errors"][2]["message"] == "结束时间必须晚于开始时间 / must be after from"
    assert operator.get("/api/duty-changes", params={"to": "2099-01-01"}).json()["changes"] == []
    unknown = upload(operator, "odd.csv", b"kind,username,from,to,shift\r\n")
    assert unknown.status_code == 422
    assert unknown.json()["detail"]["errors"][0]["column"] == "shift"

    # A grid head imports for their own grids only.
    head = api_as(console, "zhanghead", PASSWORD)
    theirs = f"kind,username,from,to\r\nleave,qianpatrol,{sooner},{later}\r\n".encode()
    refused = upload(head, "b01.csv", theirs)
    assert refused.status_code == 422
    assert [(e["row"], e["column"]) for e in refused.json()["detail"]["errors"]] == [
        (2, "username")
    ]
    mine = f"kind,username,from,to\r\nleave,lipatrol,{sooner},{later}\r\n".encode()
    assert upload(head, "a05.csv", mine).json() == {"imported": 1}
    assert upload(api_as(console, "lipatrol", PASSWORD), "a05.csv", mine).status_code == 403


@pytest.mark.integration
def test_a_patrol_reads_their_own_duty(console: Console) -> None:
    operator = api_as(console, "zhaoop", PASSWORD)
    li, wu = api_as(console, "lipatrol", PASSWORD), api_as(console, "wupatrol", PASSWORD)
    mine = li.get("/api/me/duty").json()
    assert mine["on_duty"] == [{"grid": "A-05", "why": "shift", "stands_in_for": None}]
    assert mine["on_leave"] is None and mine["changes"] == []
    assert [(s["weekday"], s["start"], s["end"]) for s in mine["shifts"]][:2] == [
        (1, "00:00", "24:00"), (2, "00:00", "24:00")]  # fmt: skip
    assert wu.get("/api/me/duty").json()["on_duty"] == []

    now = datetime.now(UTC)
    leave = operator.post("/api/duty-changes", json={"kind": "leave", "username": "lipatrol",
                          "substitute": "wupatrol", "from": (now - H).isoformat(),
                          "to": (now + 8 * H).isoformat()}).json()  # fmt: skip
    extra = operator.post("/api/duty-changes", json={"kind": "extra", "username": "wupatrol",
                          "grid": "B-01", "from": (now + 24 * H).isoformat(),
                          "to": (now + 30 * H).isoformat()}).json()  # fmt: skip
    mine = li.get("/api/me/duty").json()
    assert mine["on_duty"] == []
    assert mine["on_leave"]["id"] == leave["id"] and mine["on_leave"]["substitute"] == "wupatrol"
    theirs = wu.get("/api/me/duty").json()
    assert theirs["on_duty"] == [{"grid": "A-05", "why": "stands_in", "stands_in_for": "lipatrol"}]
    assert [c["id"] for c in theirs["changes"]] == [leave["id"], extra["id"]]
    assert api_as(console, "zhanghead", PASSWORD).get("/api/me/duty").json()["changes"] == []
