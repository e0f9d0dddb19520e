"""`python -m bench`: every benchmark in turn, each writing its block of docs/benchmarks.md.

Arguments are passed to every benchmark (for example `--doc -` to only print, or `--quick`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from bench import (
    capacity,
    decode,
    delivery,
    efficiency,
    inference,
    lift_latency,
    memory,
    replay_speed,
    rtsp_capacity,
    zones_save,
)

ALL: list[tuple[str, Callable[[Sequence[str] | None], int]]] = [
    ("inference", inference.main),
    ("efficiency", efficiency.main),
    ("capacity", capacity.main),
    ("lift_latency", lift_latency.main),
    ("replay_speed", replay_speed.main),
    ("delivery", delivery.main),
    ("memory", memory.main),
    ("decode", decode.main),
    ("rtsp_capacity", rtsp_capacity.main),
    ("zones_save", zones_save.main),
]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    failed = 0
    for name, run in ALL:
        print(f"== bench.{name}", flush=True)
        failed += run(args) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
