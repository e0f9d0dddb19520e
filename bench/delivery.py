"""Figure 6: delivery, draining an outbox backlog and sustained alerts into the outbox.

The real node's delivery path (`edge.app.Node`: SQLite outbox in WAL mode with
`synchronous=FULL`, the publisher thread, the MQTT link) against a real Mosquitto on a free
port; no cameras. One round:

1. the broker is down; `--backlog` alert messages (realistic ~1.5 KB alert JSON, one topic per
   kind) are put into the node's outbox as fast as one thread can: the sustained put rate with
   durability on (each put is a committed, fsynced transaction);
2. the node starts (link reconnecting with its back-off), then the broker starts; we time the
   broker start to the link's connection, and the connection to the outbox being empty (every
   row PUBACKed and deleted); a platform subscriber counts what arrives;
3. with everything up, another `--live` puts are timed while the publisher drains them
   concurrently (the put rate a busy node sustains while delivering).

    .venv/bin/python -m bench.delivery [--rounds 3] [--backlog 10000]
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import Report, Stats, command_line, parser, settle
from bench.harness import build_node, mosquitto, workspace
from bench.sites import write_site
from edge.messages import Image
from tests.integration.broker import MosquittoBroker, Subscriber

KEY = "delivery"
GOAL_S = 10.0
KINDS = ("illegal_parking", "fire_lane_blocked", "ebike_in_lift")


class NoDetector:
    """The delivery benchmark has no cameras; the node still wants a detector."""

    def detect(self, image: Image) -> list[Any]:
        return []


def payload(i: int) -> bytes:
    """An alert event of the size and shape the alert manager publishes (about 1.5 KB)."""
    doc = {
        "schema": "grid-sentinel.alert/1",
        "id": f"01JBENCH{i:018d}",
        "seq": 1,
        "event": "raised",
        "kind": KINDS[i % len(KINDS)],
        "severity": "warning",
        "state": "active",
        "site": {"id": "bench-site", "name": "bench"},
        "node": "bench-node",
        "grid": "A-01",
        "location": {"text": "地面停车场 前排车位", "building": "1号楼", "floor": "1"},
        "source": {"camera": "lot", "zone": "front-bays-ab", "sensor": None},
        "started_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:05:00.000Z",
        "dwell_s": 300.0,
        "objects": [
            {
                "category": "vehicle",
                "class": "car",
                "confidence": 0.71,
                "box": [0.401, 0.702, 0.498, 0.811],
                "track": 17,
            }
        ],
        "evidence": {
            "snapshot_id": f"01JBENCH{i:018d}-1",
            "url": f"/api/alerts/01JBENCH{i:018d}/snapshots/01JBENCH{i:018d}-1.jpg",
            "bytes": 48213,
            "sha256": "9f2b" * 16,
        },
        "escalated": False,
        "padding": "x" * 700,
    }
    return json.dumps(doc, ensure_ascii=False).encode()


@dataclass
class Round:
    put_rate: float
    connect_s: float
    drain_s: float
    delivered: int
    live_put_rate: float


def one_round(work: Path, broker: MosquittoBroker, backlog: int, live: int) -> Round:
    site = write_site(work, [], broker_url=broker.url)
    nut = build_node(site, NoDetector())
    node = nut.node
    prefix = site.settings.topic_prefix
    topics = [f"{prefix}/alerts/{k}" for k in KINDS]
    bodies = [payload(i) for i in range(backlog + live)]
    t = time.perf_counter()
    for i in range(backlog):
        node.outbox.put(topics[i % len(topics)], bodies[i], qos=1, retain=False)
    put_rate = backlog / (time.perf_counter() - t)

    connected = threading.Event()
    stamps: dict[str, float] = {}

    def on_connection(up: bool) -> None:
        if up and not connected.is_set():
            stamps["connected"] = time.perf_counter()
            connected.set()

    node.link.add_connection_listener(on_connection)
    nut.start()
    time.sleep(1.0)  # the link is retrying against a dead broker
    broker.start()
    stamps["broker"] = time.perf_counter()
    subscriber = Subscriber(broker.port, f"{prefix}/alerts/#", client_id="bench-platform")
    try:
        if not connected.wait(30.0):
            raise RuntimeError("the node did not connect to the broker")
        if not node.publisher.flush(120.0):
            raise RuntimeError(f"backlog not drained: {node.outbox.size()} left")
        drained = time.perf_counter()
        t = time.perf_counter()
        for i in range(backlog, backlog + live):
            node.outbox.put(topics[i % len(topics)], bodies[i], qos=1, retain=False)
        live_rate = live / (time.perf_counter() - t)
        node.publisher.flush(60.0)
        subscriber.wait_for(lambda m: len(m) >= backlog + live, 10.0)
        delivered = len({m.payload for m in subscriber.messages})
    finally:
        subscriber.close()
        nut.stop()
        broker.stop()
    return Round(
        put_rate,
        stamps["connected"] - stamps["broker"],
        drained - stamps["connected"],
        delivered,
        live_rate,
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("bench.delivery", __doc__ or "")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--backlog", type=int, default=10_000)
    p.add_argument("--live", type=int, default=2_000)
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.backlog, args.live = 1, 200, 100
    report = Report(KEY, "delivery (outbox)", command_line("bench.delivery", argv or []))
    rounds: list[Round] = []
    with workspace("bench-delivery-") as work, mosquitto(work) as broker:
        broker.stop()
        for i in range(args.rounds):
            settle(args)
            r = one_round(work / f"round-{i}", broker, args.backlog, args.live)
            print(f"  round {i + 1}: {r}", flush=True)
            rounds.append(r)
    drain = Stats.of(r.drain_s for r in rounds)
    report.add(
        f"{args.rounds} rounds; backlog {args.backlog} messages of ~{len(payload(0))} bytes; "
        f"{args.live} more put while delivering. Median (min-max) over rounds.",
        "",
    )

    def med(values: Sequence[float], scale: float = 1.0, digits: int = 0) -> str:
        return Stats.of(values).fmt(scale, digits)

    received = f"{min(r.delivered for r in rounds)} / {args.backlog + args.live}"
    report.table(
        ["measure", "value"],
        [
            ["puts/s into the outbox, broker down", med([r.put_rate for r in rounds])],
            ["puts/s into the outbox while draining", med([r.live_put_rate for r in rounds])],
            ["broker start to node connected, s", med([r.connect_s for r in rounds], 1, 2)],
            [f"connected to {args.backlog} rows PUBACKed and deleted, s", drain.fmt(1, 2)],
            ["backlog drain rate, messages/s", med([args.backlog / r.drain_s for r in rounds])],
            ["distinct messages the platform received / sent", received],
            [f"goal: backlog in <= {GOAL_S:g} s", "met" if drain.median <= GOAL_S else "missed"],
        ],
    )
    report.publish(args.doc, {"rounds": [vars(r) for r in rounds]}, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
