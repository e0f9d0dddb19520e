"""Several replicas on one database share the work: each event is applied exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grid_console.cases.models import Case
from tests.console.conftest import Backend
from tests.console.helpers import NodeStandIn, count_events, make_console, started, wait_until
from tests.console.payloads import PREFIX, alert, encode, new_alert_id
from tests.integration.broker import MosquittoBroker

pytestmark = pytest.mark.integration

ALERTS = 40
EVENTS = ("raised", "updated", "escalated", "cleared")


def test_two_replicas_with_a_share_group_apply_every_event_once(
    tmp_path: Path, broker: MosquittoBroker, backend: Backend
) -> None:
    replicas = [
        started(make_console(tmp_path, broker, backend, client_id=f"console-{n}",
                             share_group="consoles"))
        for n in (1, 2)
    ]  # fmt: skip
    node = NodeStandIn(broker)
    try:
        ids = [new_alert_id() for _ in range(ALERTS)]
        for n, alert_id in enumerate(ids):
            for seq, event in enumerate(EVENTS, start=1):
                # One sensor each: a re-raise on the same sensor would join the cleared case.
                body = alert(alert_id, seq, event, source=f"smoke-{n}")
                node.publish(f"{PREFIX}/alerts/smoke", encode(body))
        total = ALERTS * len(EVENTS)
        wait_until(lambda: count_events(replicas[0]) == total, 60, f"{total} events")

        with Session(replicas[0].engine) as session:
            cases = session.execute(select(Case)).scalars().all()
        assert sorted(c.alert_id for c in cases) == sorted(ids)
        assert {(c.latest_seq, c.problem_gone, c.alert_state) for c in cases} == {
            (4, True, "cleared")
        }
        # The broker gave each message to one replica, and both had a share of the work.
        outcomes = [r.stats.snapshot()["outcomes"] for r in replicas]
        assert all(isinstance(o, dict) and o.get("applied", 0) > 0 for o in outcomes)
        handled = sum(sum(o.values()) for o in outcomes if isinstance(o, dict))
        assert handled == total
    finally:
        node.close()
        for replica in replicas:
            replica.stop()
