"""What the console's pages ask of it: the polls of the monitoring centre's inbox (every 3 s:
the case list and the open case's detail with its evidence) and of a patrol's phone (every 4 s:
the cases of its grid), timed through the real FastAPI app on SQLite.

`--cases` parking cases (default 1 000, half in grid A-05, half in B-01) are opened through the
ingest's own code path, each with a snapshot and one object; each request is then made
`--rounds` times (default 30) as an operator or as a patrol with a bearer token, in one thread.
The figure that matters is how many operators and patrols one core serves at those intervals.

    .venv/bin/python -m bench.console_pages [--cases 1000] [--rounds 30]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bench.common import Report, Stats, command_line, parser, settle
from bench.harness import workspace
from grid_console.auth.roles import Role
from grid_console.auth.service import AuthService
from grid_console.cases.flows import apply_alert_event
from grid_console.cases.policy import CasePolicy
from grid_console.cases.service import CaseService
from grid_console.db.engine import default_url, make_engine
from grid_console.db.migrate import upgrade
from grid_console.db.session import transaction
from grid_console.ingest.payloads import AlertPayload
from grid_console.people.models import Grid
from grid_console.people.service import add_person
from grid_console.snapshots.service import store_snapshot
from grid_console.web.app import WebContext, create_app
from tests.console.payloads import alert, new_alert_id

KEY = "console_pages"
T0 = datetime.now(UTC)
POLICY = CasePolicy()
PASSWORD = "a-bench-password-1"
INBOX_POLL_S = 3.0
PATROL_POLL_S = 4.0


def prepare(engine: Engine, cases: int) -> int:
    """Migrate, add an operator and a patrol, open the cases; the id of the newest case."""
    upgrade(engine)

    def people(session: Session) -> None:
        session.add_all([Grid(id="A-05", name="五网格"), Grid(id="B-01", name="一网格")])
        session.flush()
        add_person(session, username="op", role=Role.OPERATOR, now=T0, password=PASSWORD)
        add_person(session, username="pa", role=Role.PATROL, now=T0, password=PASSWORD,
                   grids=["A-05"])  # fmt: skip

    transaction(engine, people)
    last = 0
    for n in range(cases):
        body = alert(new_alert_id(), 1, "raised", kind="illegal_parking", severity="warning",
                     at=T0, grid="A-05" if n % 2 else "B-01", source=f"cam-{n}")  # fmt: skip
        body["objects"] = [{"category": "vehicle", "class": "car", "confidence": 0.9,
                            "box": [0.1, 0.2, 0.5, 0.8], "track_id": n}]  # fmt: skip
        payload = AlertPayload.from_valid(body)
        picture = b"\xff\xd8\xff" + n.to_bytes(4, "big") * 4000  # 16 KB, one per case

        def work(session: Session, p: AlertPayload = payload, jpg: bytes = picture) -> int:
            result = apply_alert_event(session, p, prefix="grid/xizhen/gate-1",
                                       received_at=T0, policy=POLICY)  # fmt: skip
            store_snapshot(session, p.id, jpg, T0)
            return result.case_id

        last = transaction(engine, work)
    return last


def timed(rounds: int, call: Callable[[], None]) -> list[float]:
    call()  # warm: the first request compiles the route and fills SQLite's page cache
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        out.append(time.perf_counter() - started)
    return out


def client_for(engine: Engine, username: str) -> TestClient:
    cases, auth = CaseService(engine, POLICY), AuthService(engine)
    context = WebContext(cases=cases, auth=auth, clock=lambda: datetime.now(UTC), health=dict,
                         cookie_secure=False)  # fmt: skip
    app = create_app(context)
    client = TestClient(app)
    reply = client.post("/api/login", json={"username": username, "password": PASSWORD})
    reply.raise_for_status()
    client.headers["Authorization"] = f"Bearer {reply.json()['token']}"
    return client


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("bench.console_pages", __doc__ or "")
    p.add_argument("--cases", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=30)
    args = p.parse_args(argv)
    if args.quick:
        args.cases, args.rounds = 6, 2
    shown = sys.argv[1:] if argv is None else argv
    report = Report(KEY, "the pages' polls", command_line("bench.console_pages", shown))
    with workspace("bench-console-pages-") as work:
        engine = make_engine(default_url(work / "console"))
        try:
            newest = prepare(engine, args.cases)
            operator, patrol = client_for(engine, "op"), client_for(engine, "pa")

            def get(client: TestClient, path: str) -> Callable[[], None]:
                def call() -> None:
                    reply = client.get(path)
                    assert reply.status_code == 200, reply.text

                return call

            settle(args)
            inbox = timed(args.rounds, get(operator, "/api/cases?limit=500"))
            detail = timed(args.rounds, get(operator, f"/api/cases/{newest}"))
            evidence = timed(args.rounds, get(operator, f"/api/pages/cases/{newest}/evidence"))
            tasks = timed(args.rounds, get(patrol, "/api/cases?limit=200"))
        finally:
            engine.dispose()
    rows = [
        ["inbox list, 500 newest of all grids", Stats.of(inbox).fmt(1000, 1)],
        ["case detail (case, events, alerts, photos)", Stats.of(detail).fmt(1000, 1)],
        ["case evidence (snapshots, objects)", Stats.of(evidence).fmt(1000, 1)],
        ["patrol's tasks, 200 newest of its grid", Stats.of(tasks).fmt(1000, 1)],
    ]
    median = Stats.of
    operator_s = median(inbox).median + median(detail).median + median(evidence).median
    patrol_s = median(tasks).median
    report.add(
        f"{args.cases} open parking cases on SQLite, half in the patrol's grid; each request "
        f"{args.rounds} times after one warm-up, through the FastAPI app in one thread.",
        "",
    )
    report.table(["request", "ms, median (min-max)"], rows)
    report.add(
        f"One core serves about {INBOX_POLL_S / operator_s:.0f} operators polling every "
        f"{INBOX_POLL_S:.0f} s with a case open, or {PATROL_POLL_S / patrol_s:.0f} patrols polling "
        f"every {PATROL_POLL_S:.0f} s (the medians above, one request at a time).",
        "",
    )
    report.publish(args.doc, {"inbox_s": inbox, "detail_s": detail, "evidence_s": evidence,
                              "tasks_s": tasks}, args.json)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
