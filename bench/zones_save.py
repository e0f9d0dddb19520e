"""The installer page's save: one camera's zones replaced in the site file, comments kept.

Times `edge.api.zonesedit.replace_zones` (a ruamel.yaml round trip spliced into the file's own
text, then parsed again and compared with the intended data) on every camera with zones in the
example configs, one setting changed per save, and counts the comment lines lost (there must be
none). The write and the reload that follow a save (`PUT /api/cameras/{id}/zones`) are not in
this figure: they are the config check and `Node.reload`, the same as for any config change.

    .venv/bin/python -m bench.zones_save [--rounds 50]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from bench.common import Report, command_line, parser, percentile, settle
from edge.api.zonesedit import replace_zones, zones_of

EXAMPLES = Path(__file__).resolve().parents[1] / "config" / "examples"


def _comments(text: str) -> list[str]:
    return sorted(ln for ln in text.splitlines() if ln.strip().startswith("#"))


def measure(path: Path, camera: str, rounds: int) -> tuple[list[float], int]:
    text = path.read_text(encoding="utf-8")
    zones = zones_of(text, camera)
    zones[0]["stationary_window_s"] = 4
    times = []
    out = text
    for _ in range(rounds):
        start = time.perf_counter()
        out = replace_zones(text, camera, zones)
        times.append(1000.0 * (time.perf_counter() - start))
    lost = len(set(_comments(text)) - set(_comments(out)))
    return times, lost


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("bench.zones_save", __doc__ or "")
    p.add_argument("--rounds", type=int, default=50)
    args = p.parse_args(argv)
    rounds = 3 if args.quick else args.rounds
    settle(args)
    command = command_line("bench.zones_save", sys.argv[1:] if argv is None else list(argv))
    report = Report("zones_save", "saving zones from the installer page", command)
    rows = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        for cam in yaml.safe_load(text).get("cameras") or []:
            if not zones_of(text, cam["id"]):
                continue
            times, lost = measure(path, cam["id"], rounds)
            size = f"{len(text.encode()) / 1024:.1f}"
            median, p95 = f"{percentile(times, 50):.0f}", f"{percentile(times, 95):.0f}"
            rows.append((path.name, size, cam["id"], median, p95, lost))
    report.add(f"One setting changed per save, {rounds} saves per camera.", "")
    report.table(["file", "KiB", "camera", "median ms", "p95 ms", "comment lines lost"], rows)
    report.publish(args.doc, json_path=args.json)
    return 0 if all(r[-1] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
