"""Deadlines as rows: the job turns an unanswered case red, re-notifies, escalates (督办) to the
grid head and then the grid leader; deferred cases come back on their date; and with two
replicas on one PostgreSQL each due deadline is acted on exactly once. Time is driven by hand.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from grid_console.auth.roles import Role
from grid_console.cases.flows import apply_alert_event
from grid_console.cases.models import Case, CaseEvent
from grid_console.cases.policy import CasePolicy
from grid_console.cases.service import Actor, CaseService
from grid_console.db.engine import default_url, make_engine
from grid_console.db.session import transaction
from grid_console.deadlines.job import DeadlineJob
from grid_console.deadlines.models import Deadline
from grid_console.ingest.payloads import AlertPayload
from grid_console.notify.models import Delivery
from grid_console.people.models import Grid, Shift
from grid_console.people.service import ChannelSpec, add_person, set_channels
from tests.console.casefactory import migrated_engine
from tests.console.conftest import Backend
from tests.console.payloads import alert, new_alert_id

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
POLICY = CasePolicy(escalate_s=120)
CHANNELS = {
    "li": ChannelSpec("webhook", "https://hooks.example.org/li", "hmac-key"),
    "zhang": ChannelSpec("email", "zhang@example.org"),
}


@pytest.fixture
def engine(backend: Backend, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(backend, tmp_path) as engine:
        yield engine


def directory(engine: Engine, *, on_duty: bool = True) -> None:
    def work(session: Session) -> None:
        session.add(Grid(id="A-05", name="五网格"))
        session.flush()
        for name, role in (("li", Role.PATROL), ("wu", Role.PATROL), ("zhang", Role.GRID_HEAD),
                           ("sun", Role.GRID_LEADER), ("vol", Role.VOLUNTEER)):  # fmt: skip
            person = add_person(session, username=name, role=role, now=T0, grids=["A-05"])
            if name in CHANNELS:
                set_channels(session, person, [CHANNELS[name]])
            if on_duty and role in (Role.PATROL, Role.VOLUNTEER):
                # Monday 08:00-20:00 Shanghai, and li also the night shift into Tuesday.
                session.add(Shift(person_id=person.id, grid_id="A-05", weekday=0,
                                  start_minute=8 * 60, end_minute=20 * 60))  # fmt: skip

    transaction(engine, work)


def raise_alert(engine: Engine, kind: str, at: datetime, **extra: object) -> int:
    body = alert(new_alert_id(), 1, "raised", kind=kind, at=at, **extra)  # type: ignore[arg-type]
    payload = AlertPayload.from_valid(body)
    result = transaction(
        engine,
        lambda s: apply_alert_event(
            s, payload, prefix="grid/xizhen/gate-1", received_at=at, policy=POLICY
        ),
    )
    return result.case_id


def trail(engine: Engine, case_id: int) -> list[tuple[str, str, dict[str, object]]]:
    with Session(engine) as session:
        rows = session.execute(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
        ).scalars()
        return [(e.action, e.actor, e.detail) for e in rows]


def the_case(engine: Engine, case_id: int) -> Case:
    with Session(engine) as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case


def test_critical_kind_goes_to_all_on_duty_and_the_head_is_told(engine: Engine) -> None:
    directory(engine)
    case_id = raise_alert(engine, "smoke", T0)
    case = the_case(engine, case_id)
    assert case.state == "dispatched"
    steps = trail(engine, case_id)
    assert [s[0] for s in steps] == ["open", "register", "dispatch", "notify_due", "notify_due"]
    assert steps[2][2] == {"to": ["li", "vol", "wu"]}  # everyone on duty, volunteers too
    told = [[r["username"] for r in s[2]["recipients"]] for s in steps[3:]]  # type: ignore[union-attr]
    assert told == [["li", "vol", "wu"], ["zhang"]]
    # Handed to the notification senders in the same transaction: one delivery per channel.
    with Session(engine) as session:
        owed = (
            session.execute(
                select(Delivery.recipient, Delivery.channel_kind, Delivery.reason).order_by(
                    Delivery.id
                )
            )
            .tuples()
            .all()
        )
    assert [(r, k) for r, k, _ in owed] == [("li", "webhook"), ("zhang", "email")]
    assert owed[1][2].startswith("critical:grid_head#")


def test_nobody_on_duty_falls_back_to_the_grid_head(engine: Engine) -> None:
    directory(engine)
    night = T0 + timedelta(hours=12)  # Monday 22:00 in Shanghai: the day shift is over
    case_id = raise_alert(engine, "smoke", night)
    steps = trail(engine, case_id)
    assert steps[2][0] == "dispatch" and steps[2][2] == {"to": ["zhang"]}


def test_a_missed_response_turns_red_and_escalates_head_then_leader(engine: Engine) -> None:
    directory(engine)
    case_id = raise_alert(engine, "smoke", T0)  # 60 s to respond
    job = DeadlineJob(engine, POLICY, owner="replica-1")
    assert job.run_once(T0 + timedelta(seconds=59)) == 0
    assert job.run_once(T0 + timedelta(seconds=60)) == 1
    case = the_case(engine, case_id)
    assert case.colour == "red" and case.escalation_level == 1
    actions = [s[0] for s in trail(engine, case_id)]
    assert actions[-4:] == ["overdue", "supervise", "notify_due", "notify_due"]
    # Nothing more until the escalation interval has passed, then the grid leader.
    assert job.run_once(T0 + timedelta(seconds=179)) == 0
    assert job.run_once(T0 + timedelta(seconds=180)) == 1
    last = trail(engine, case_id)[-2:]
    assert last[0][0] == "supervise" and last[0][2]["to"] == ["sun"]
    assert [r["username"] for r in last[1][2]["recipients"]] == ["sun"]  # type: ignore[union-attr]
    assert the_case(engine, case_id).escalation_level == 2
    assert job.run_once(T0 + timedelta(days=1)) == 1  # the handling deadline, an hour on
    with Session(engine) as session:
        outcomes = Counter(session.execute(select(Deadline.outcome)).scalars())
    assert outcomes == Counter({"escalated": 2})


def test_an_accepted_case_meets_its_response_deadline(engine: Engine) -> None:
    directory(engine)
    case_id = raise_alert(engine, "smoke", T0)
    cases = CaseService(engine, POLICY)
    cases.apply_action(case_id, "accept", Actor("li", Role.PATROL, frozenset({"A-05"})), None,
                       T0 + timedelta(seconds=30))  # fmt: skip
    job = DeadlineJob(engine, POLICY, owner="replica-1")
    assert job.run_once(T0 + timedelta(seconds=61)) == 1
    assert the_case(engine, case_id).escalation_level == 0
    assert "overdue" not in [s[0] for s in trail(engine, case_id)]


def test_a_deferred_case_comes_back_on_its_date(engine: Engine) -> None:
    directory(engine, on_duty=False)
    case_id = raise_alert(engine, "illegal_parking", T0)
    cases = CaseService(engine, POLICY)
    operator = Actor("op", Role.OPERATOR)
    cases.apply_action(case_id, "register", operator, None, T0)
    due = T0 + timedelta(days=3)
    cases.apply_action(case_id, "defer", operator, "等车主回来 / waiting for the owner", T0,
                       due=due)  # fmt: skip
    assert the_case(engine, case_id).deferred_until == due
    job = DeadlineJob(engine, POLICY, owner="replica-1")
    assert job.run_once(due - timedelta(seconds=1)) == 0  # deferring ended the other deadlines
    assert the_case(engine, case_id).state == "deferred"
    assert job.run_once(due) == 1
    case = the_case(engine, case_id)
    assert case.state == "dispatched" and case.deferred_until is None  # back, and sent out again
    actions = [s[0] for s in trail(engine, case_id)]
    assert actions[-4:] == ["undefer", "notify_due", "dispatch", "notify_due"]


def test_two_replicas_act_on_each_due_deadline_once(
    backend: Backend, engine: Engine, tmp_path: Path
) -> None:
    directory(engine, on_duty=False)
    ids = [raise_alert(engine, "smoke", T0) for _ in range(40)]
    # Each replica its own engine (its own connections): SKIP LOCKED on PostgreSQL, one
    # writer at a time on SQLite.
    engines = [make_engine(backend.url or default_url(tmp_path / "console")) for _ in range(2)]
    jobs = [DeadlineJob(e, POLICY, owner=f"replica-{n}") for n, e in enumerate(engines)]
    counts = [0, 0]
    start = threading.Barrier(2)

    def run(n: int) -> None:
        start.wait()
        counts[n] = jobs[n].run_once(T0 + timedelta(seconds=61))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for extra in engines:
        extra.dispose()
    assert sum(counts) == len(ids), counts
    if backend.name == "postgresql":  # SQLite may let one writer take every turn
        assert min(counts) > 0, f"one replica did all the work: {counts}"
    with Session(engine) as session:
        overdue = Counter(
            session.execute(
                select(CaseEvent.case_id).where(CaseEvent.action == "overdue")
            ).scalars()
        )
        acted_by = Counter(session.execute(
            select(Deadline.acted_by).where(Deadline.acted_by.is_not(None))).scalars())  # fmt: skip
        pending = session.execute(
            select(func.count()).select_from(Deadline).where(Deadline.step == 1)
        ).scalar_one()
    assert overdue == Counter(dict.fromkeys(ids, 1))  # each case once, not twice, not never
    assert sum(acted_by.values()) == len(ids) and pending == len(ids)


def test_a_replica_killed_mid_pass_loses_and_repeats_nothing(
    backend: Backend, engine: Engine, tmp_path: Path
) -> None:
    directory(engine, on_duty=False)
    ids = [raise_alert(engine, "smoke", T0) for _ in range(60)]
    url = backend.url or default_url(tmp_path / "console")
    due = (T0 + timedelta(seconds=61)).isoformat()
    script = (
        "import time; from datetime import datetime\n"
        "from grid_console.db.engine import make_engine\n"
        "from grid_console.deadlines.job import DeadlineJob\n"
        "from tests.console.test_deadlines import POLICY\n"
        f"job = DeadlineJob(make_engine({url!r}), POLICY, owner='doomed')\n"
        # One deadline at a time with a pause, so that the kill lands mid-pass for sure.
        f"while job.run_once(datetime.fromisoformat({due!r}), limit=1):\n"
        "    time.sleep(0.05)\n"
    )
    doomed = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parents[2])

    def overdue() -> int:
        with Session(engine) as session:
            stmt = select(func.count()).select_from(CaseEvent).where(CaseEvent.action == "overdue")
            return int(session.execute(stmt).scalar_one())

    deadline = time.monotonic() + 120
    while overdue() < 10:
        assert doomed.poll() is None, "the replica finished before it could be killed"
        assert time.monotonic() < deadline, "the replica never got going"
        time.sleep(0.02)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(30)
    killed_at = overdue()
    assert killed_at < len(ids)
    # The survivor finishes the pass: what the dead one committed stays done, what it held
    # uncommitted is due again, and nothing is acted on twice.
    DeadlineJob(engine, POLICY, owner="survivor").run_once(T0 + timedelta(seconds=61))
    with Session(engine) as session:
        per_case = Counter(
            session.execute(
                select(CaseEvent.case_id).where(CaseEvent.action == "overdue")
            ).scalars()
        )
        by = Counter(session.execute(select(Deadline.acted_by).where(Deadline.step == 1)).scalars())
    assert per_case == Counter(dict.fromkeys(ids, 1))
    assert by["doomed"] >= killed_at and by["doomed"] + by["survivor"] == len(ids)
