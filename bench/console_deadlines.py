"""The console's deadline job and its logins: how fast due deadlines are acted on, by one
replica and by two at once, and what one login costs.

`--cases` smoke cases (default 2 000) are opened through the ingest's own code path (case,
alert link, deadlines, auto-dispatch to a roster of three patrols and a grid head, the
notifications owed), all at one instant. The clock is then moved past their response deadline
and `DeadlineJob.run_once` acts on every one (red, `overdue`, 督办 to the grid head, the
notifications owed), first by one replica, then, on a fresh copy, by two replicas at once, each
with its own engine; the second run also checks that every case got exactly one `overdue`. On
SQLite (the console's pragmas) and PostgreSQL (a throwaway cluster, when installed). A login's
cost is the argon2id verify of RFC 9106's low-memory profile, timed `--logins` times.

    .venv/bin/python -m bench.console_deadlines [--cases 2000] [--logins 20]
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bench.common import Report, Stats, command_line, parser, settle
from bench.harness import workspace
from grid_console.auth.passwords import hash_password, verify_password
from grid_console.auth.roles import Role
from grid_console.cases.flows import apply_alert_event
from grid_console.cases.models import CaseEvent
from grid_console.cases.policy import CasePolicy
from grid_console.db.engine import default_url, make_engine
from grid_console.db.migrate import upgrade
from grid_console.db.session import transaction
from grid_console.deadlines.job import DeadlineJob
from grid_console.ingest.payloads import AlertPayload
from grid_console.people.models import Grid, Shift
from grid_console.people.service import add_person
from tests.console.payloads import alert, new_alert_id
from tests.console.pg import PostgresCluster, find_bindir

KEY = "console_deadlines"
T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
POLICY = CasePolicy()


def prepare(engine: Engine, cases: int) -> None:
    upgrade(engine)

    def people(session: Session) -> None:
        session.add(Grid(id="A-05", name="五网格"))
        session.flush()
        for name, role in (
            ("p1", Role.PATROL),
            ("p2", Role.PATROL),
            ("p3", Role.PATROL),
            ("head", Role.GRID_HEAD),
            ("lead", Role.GRID_LEADER),
        ):
            person = add_person(session, username=name, role=role, now=T0, grids=["A-05"])
            if role is Role.PATROL:
                session.add(
                    Shift(
                        person_id=person.id,
                        grid_id="A-05",
                        weekday=0,
                        start_minute=0,
                        end_minute=24 * 60,
                    )
                )

    transaction(engine, people)
    for n in range(cases):
        body = AlertPayload.from_valid(
            alert(new_alert_id(), 1, "raised", kind="smoke", at=T0, source=f"s-{n}")
        )
        transaction(
            engine,
            lambda s, b=body: apply_alert_event(  # type: ignore[misc]
                s, b, prefix="grid/xizhen/gate-1", received_at=T0, policy=POLICY
            ),
        )


def act(urls: list[str], replicas: int) -> tuple[float, list[int]]:
    engines = [make_engine(url) for url in urls[:replicas]]
    jobs = [DeadlineJob(e, POLICY, owner=f"r{n}") for n, e in enumerate(engines)]
    counts = [0] * replicas
    barrier = threading.Barrier(replicas)
    due = T0 + timedelta(seconds=61)

    def run(n: int) -> None:
        barrier.wait()
        counts[n] = jobs[n].run_once(due, limit=10**9)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(replicas)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for engine in engines:
        engine.dispose()
    return elapsed, counts


def once_each(url: str, cases: int) -> bool:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            seen = Counter(
                session.execute(
                    select(CaseEvent.case_id).where(CaseEvent.action == "overdue")
                ).scalars()
            )
        return len(seen) == cases and set(seen.values()) == {1}
    finally:
        engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("bench.console_deadlines", __doc__ or "")
    p.add_argument("--cases", type=int, default=2000)
    p.add_argument("--logins", type=int, default=20)
    args = p.parse_args(argv)
    if args.quick:
        args.cases, args.logins = 20, 2
    shown = sys.argv[1:] if argv is None else argv
    report = Report(
        KEY, "console deadline job and logins", command_line("bench.console_deadlines", shown)
    )
    stored = hash_password("a-bench-password-1")
    settle(args)
    logins = []
    for _ in range(args.logins):
        started = time.perf_counter()
        assert verify_password(stored, "a-bench-password-1")
        logins.append(time.perf_counter() - started)
    rows = []
    with workspace("bench-console-deadlines-") as work:
        bindir = find_bindir()
        cluster = PostgresCluster(bindir) if bindir else None
        try:
            if cluster is not None:
                cluster.start()
            for backend in ("SQLite", "PostgreSQL 15"):
                if backend != "SQLite" and cluster is None:
                    continue
                for replicas in (1, 2):
                    name = f"{backend[:2].lower()}{replicas}"
                    url = (
                        default_url(work / name)
                        if backend == "SQLite"
                        else cluster.create_database(name)
                    )  # type: ignore[union-attr]
                    engine = make_engine(url)
                    try:
                        prepare(engine, args.cases)
                    finally:
                        engine.dispose()
                    settle(args)
                    elapsed, counts = act([url, url], replicas)
                    assert sum(counts) == args.cases, counts
                    exact = once_each(url, args.cases)
                    rate = args.cases / elapsed
                    rows.append(
                        [
                            backend,
                            replicas,
                            "/".join(map(str, counts)),
                            f"{elapsed:.2f}",
                            f"{rate:.0f}",
                            "yes" if exact else "NO",
                        ]
                    )
                    print(f"  {backend} x{replicas}: {rate:.0f} deadlines/s", flush=True)
        finally:
            if cluster is not None:
                cluster.stop()
    report.add(
        f"{args.cases} smoke cases due at one instant, each acted on (red, overdue, 督办 to the "
        "grid head, the notifications owed) in its own transaction.",
        "",
    )
    report.table(
        [
            "backend",
            "replicas",
            "acted by each",
            "all acted, s",
            "deadlines/s",
            "each case exactly once",
        ],
        rows,
    )
    report.add(
        f"One login's argon2id verify (RFC 9106 low memory: 64 MiB, t=3): "
        f"{Stats.of(logins).fmt(1000, 0)} ms, median (min-max) of {args.logins}.",
        "",
    )
    report.publish(args.doc, {"rows": rows, "login_s": logins}, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
