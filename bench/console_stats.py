"""Figure 8: the console's weekly figures (`GET /api/stats`) over a large case history.

`--cases` cases (default 100 000: a year of about 270 alerts a day) are written straight into
a migrated console database, spread over 52 weeks, 20 grids and 5 kinds, each with the audit
trail of its path (about 6 rows: open, register, dispatch, accept, handle, close; some false
alarms, returns, never-accepted ones). Then `StatsService.figures` is timed for the last week
(the weekly report as it is asked), a week in June (an old week asked again: every case closed
since then is a candidate for "still overdue" at that time), the same week for one grid, and
the whole year, `--repeats` times each, on SQLite (a file with the console's pragmas) and on
PostgreSQL (a throwaway cluster, analysed after the load as autovacuum would; when its
binaries are installed).

    .venv/bin/python -m bench.console_stats [--cases 100000] [--repeats 5]
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from bench.common import Report, Stats, command_line, parser, settle
from bench.harness import workspace
from grid_console.cases.models import Case, CaseEvent
from grid_console.db.engine import default_url, make_engine
from grid_console.db.migrate import upgrade
from grid_console.stats.period import parse_period
from grid_console.stats.queries import StatsService
from tests.console.pg import PostgresCluster, find_bindir

KEY = "console_stats"
KINDS = ("smoke", "illegal_parking", "fire_lane_blocked", "ebike_in_lift", "gas")
START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
GOAL_S = 1.0  # a figures page that takes longer than a second to appear is a bad page


def history(n: int, seed: int = 7) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    cases, events = [], []
    for i in range(1, n + 1):
        opened = START + timedelta(seconds=rng.uniform(0, 52 * 7 * 86400))
        kind = KINDS[i % len(KINDS)]
        cases.append({
            "id": i, "alert_id": f"01BENCH{i:019d}", "kind": kind, "severity": "major",
            "grid": f"G-{i % 20:02d}", "site": "s", "node": "n", "node_prefix": "grid/s/n",
            "state": "closed", "colour": "green", "alert_state": "open", "latest_seq": 1,
            "escalated": False, "problem_gone": False, "opened_at": opened,
            "updated_at": opened, "response_due_at": opened + timedelta(minutes=5),
            "handle_due_at": opened + timedelta(hours=1),
        })  # fmt: skip
        steps = [("open", None, "reported", 0.0), ("register", "reported", "registered", 20.0)]
        fate = rng.random()
        if fate < 0.1:
            steps.append(("false_alarm", "registered", "false_alarm", 60.0))
        elif fate < 0.15:
            steps.append(("dispatch", "registered", "dispatched", 40.0))  # never accepted
        else:
            accept = rng.lognormvariate(5.0, 0.8)
            handle = accept + rng.lognormvariate(7.5, 0.7)
            steps += [("dispatch", "registered", "dispatched", 40.0),
                      ("accept", "dispatched", "accepted", 40.0 + accept),
                      ("handle", "accepted", "handled", 40.0 + handle)]  # fmt: skip
            if fate < 0.2:
                steps += [("return", "handled", "returned", 60.0 + handle),
                          ("dispatch", "returned", "dispatched", 90.0 + handle),
                          ("accept", "dispatched", "accepted", 120.0 + handle),
                          ("handle", "accepted", "handled", 900.0 + handle)]  # fmt: skip
            steps.append(("close", "handled", "closed", 1800.0 + handle))
        cases[-1]["state"] = steps[-1][2]
        terminal = steps[-1][2] in ("closed", "false_alarm")
        cases[-1]["closed_at"] = opened + timedelta(seconds=steps[-1][3]) if terminal else None
        for action, before, after, after_s in steps:
            events.append({"case_id": i, "at": opened + timedelta(seconds=after_s),
                           "actor": "bench", "action": action, "from_state": before,
                           "to_state": after, "source": "api", "detail": {}})  # fmt: skip
    return cases, events


def fill(engine: Engine, cases: list[dict[str, Any]], events: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    upgrade(engine)
    with engine.begin() as connection:
        for chunk in range(0, len(cases), 5000):
            connection.execute(insert(Case), cases[chunk : chunk + 5000])
        for chunk in range(0, len(events), 20000):
            connection.execute(insert(CaseEvent), events[chunk : chunk + 20000])
    if engine.dialect.name == "postgresql":
        # What autovacuum does within a minute of a bulk load on a live server; without it
        # the planner still believes the tables empty and the first queries take 30 s.
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    return time.perf_counter() - started


def timings(engine: Engine, repeats: int) -> dict[str, Stats]:
    stats = StatsService(engine)
    now = START + timedelta(days=400)
    queries = {
        "the last week, all grids": (parse_period("2026-12-28", "2027-01-04", None, now), None),
        "a week in June, all grids": (parse_period("2026-06-01", "2026-06-08", None, now), None),
        "a week in June, one grid": (parse_period("2026-06-01", "2026-06-08", None, now), "G-03"),
        "52 weeks, all grids": (parse_period("2026-01-05", "2027-01-04", None, now), None),
    }
    out: dict[str, list[float]] = {name: [] for name in queries}
    for _ in range(repeats):
        for name, (period, grid) in queries.items():
            started = time.perf_counter()
            rows = stats.figures(period, now, grid)
            out[name].append(time.perf_counter() - started)
            assert rows, name
    return {name: Stats.of(values) for name, values in out.items()}


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("bench.console_stats", __doc__ or "")
    p.add_argument("--cases", type=int, default=100_000)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    if args.quick:
        args.cases, args.repeats = 500, 1
    shown = sys.argv[1:] if argv is None else argv
    report = Report(KEY, "console weekly figures", command_line("bench.console_stats", shown))
    cases, events = history(args.cases)
    rows = []
    with workspace("bench-console-stats-") as work:
        bindir = find_bindir()
        cluster = PostgresCluster(bindir) if bindir else None
        try:
            targets = [("SQLite", default_url(work / "sqlite"))]
            if cluster is not None:
                cluster.start()
                targets.append(("PostgreSQL 15", cluster.create_database("bench")))
            for name, url in targets:
                engine = make_engine(url)
                try:
                    filled = fill(engine, cases, events)
                    settle(args)
                    for query, stats in timings(engine, args.repeats).items():
                        rows.append([name, query, stats.fmt(1000, 0), f"{filled:.0f}"])
                        print(f"  {name} {query}: {stats.fmt(1000, 0)} ms", flush=True)
                finally:
                    engine.dispose()
        finally:
            if cluster is not None:
                cluster.stop()
    report.add(
        f"{args.cases} cases with {len(events)} audit rows over 52 weeks, 20 grids, "
        f"{len(KINDS)} kinds; {args.repeats} repeats, median (min-max) in ms. Goal: the page's "
        f"figures within {GOAL_S:g} s.",
        "",
    )
    report.table(["backend", "query", "figures(), ms", "fill, s"], rows)
    report.publish(args.doc, {"rows": rows}, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
