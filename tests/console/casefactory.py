"""Cases written straight into a migrated database, for tests that start after the ingest:
notifications and figures, with audit trails at times the test chooses."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from grid_console.cases.machine import STATE_COLOURS, State
from grid_console.cases.models import Case, CaseEvent
from grid_console.db.engine import default_url, make_engine
from grid_console.db.migrate import upgrade
from tests.console.conftest import Backend

_ids = itertools.count(1)


@contextmanager
def migrated_engine(backend: Backend, tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(backend.url or default_url(tmp_path / "console"))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()


def insert_case(
    session: Session,
    opened_at: datetime,
    *,
    kind: str = "smoke",
    severity: str = "critical",
    grid: str | None = "A-05",
    state: State = State.REPORTED,
    response_s: float = 300,
    handle_s: float = 3600,
    camera: str | None = None,
) -> Case:
    case = Case(
        alert_id=f"01TEST{next(_ids):020d}", kind=kind, severity=severity, grid=grid,
        location="5号楼 2单元 1楼", building="5", floor="1", lon=None, lat=None,
        site="xizhen", node="gate-1", node_prefix="grid/xizhen/gate-1",
        camera=camera, zone="car" if camera else None, sensor=None if camera else "smoke-1",
        state=state.value, colour=STATE_COLOURS[state].value, assignee=None,
        alert_state="open", latest_seq=1, escalated=False, problem_gone=False,
        opened_at=opened_at, updated_at=opened_at,
        response_due_at=opened_at + timedelta(seconds=response_s),
        handle_due_at=opened_at + timedelta(seconds=handle_s),
    )  # fmt: skip
    session.add(case)
    session.flush()
    session.add(CaseEvent(case_id=case.id, at=opened_at, actor="node:xizhen/gate-1",
                          action="open", from_state=None, to_state=State.REPORTED.value,
                          note=None, source="node", detail={}))  # fmt: skip
    return case


def add_event(
    session: Session, case: Case, action: str, at: datetime, to_state: State, *,
    actor: str = "operator",
) -> None:  # fmt: skip
    """An audit row as CaseService writes it, and the case moved to match."""
    session.add(CaseEvent(case_id=case.id, at=at, actor=actor, action=action,
                          from_state=case.state, to_state=to_state.value, note="n",
                          source="api", detail={}))  # fmt: skip
    case.state = to_state.value
    case.updated_at = at
    if action == "accept" and case.accepted_at is None:
        case.accepted_at = at
    if to_state in (State.CLOSED, State.FALSE_ALARM):
        case.closed_at = at
    session.flush()
