"""Mutation test of the config checker: hundreds of broken configs, made deterministically from
config/examples/*.yaml, each answered with exit 0 or 2, `file:line` messages, no traceback, in
time; a node is built from each one it accepts; a few run in a child process under a memory
limit.

    python -m pytest tests/unit/test_config_mutations.py -q -s   # prints the counts
"""

from __future__ import annotations

import math
import random
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.app import Node
from edge.clock import SystemClock
from edge.config.check import check_config
from edge.parts import build_detection
from tests.unit.test_config_checker import TIME_BOUND_S, assert_well_formed, run_check

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "config" / "examples").glob("*.yaml"))
PER_EXAMPLE = 100
MEMORY_LIMIT = 1 << 30  # address space of a child `edge check-config`; it needs about 0.6 GiB

Data = Any
Path_ = tuple[int | str, ...]


@dataclass(frozen=True)
class Mutant:
    name: str
    text: str


# --- mutations of the data -----------------------------------------------------------------------


def paths_of(data: Data) -> list[Path_]:
    out: list[Path_] = []
    todo: list[tuple[Path_, Data]] = [((), data)]
    while todo:
        path, value = todo.pop()
        if path:
            out.append(path)
        if isinstance(value, dict):
            todo.extend(((*path, k), v) for k, v in value.items())
        elif isinstance(value, list):
            todo.extend(((*path, i), v) for i, v in enumerate(value))
    return sorted(out, key=repr)


def parent_of(data: Data, path: Path_) -> Data:
    for part in path[:-1]:
        data = data[part]
    return data


def nested(depth: int) -> Data:
    value: Data = "bottom"
    for _ in range(depth):
        value = [value]
    return value


ODD_VALUES: list[Data] = [
    None, True, 0, -1, 65536, 99999, 1.5, -1e308, 1e-320, math.inf, -math.inf, math.nan, "", " ",
    "text", [], {}, [1, 2], {"x": 1}, "x" * 300_000, "电梯🚲\u202e\u0301\ufeff", "a\x00b",
    "\x1b[31mred\n", "mqtt://127.0.0.1:99999", "mqtt://", "grid/+/#", "../../../../etc/passwd",
    "/dev/zero", "~nosuchuser/x", "rtsp://h:0/x", "0x7fffffff", "2024-13-45", [0] * 60_000,
    nested(60), {"env": "GS_NO_SUCH_VARIABLE"}, {"file": "/dev/zero"}, {"file": "/"},
]  # fmt: skip


def mutate_data(data: Data, rng: random.Random) -> tuple[str, Data]:
    path = rng.choice(paths_of(data))
    parent, last = parent_of(data, path), path[-1]
    op = rng.choice(["delete", "replace", "replace", "replace", "unknown key", "unicode"])
    if op == "delete":
        del parent[last]
    elif op == "replace":
        value = rng.choice(ODD_VALUES)
        parent[last] = value
        op = f"replace with {str(value)[:24]!r}"
    elif op == "unknown key" and isinstance(parent, dict):
        parent[f"{last}_x"] = 1
    else:
        parent[last] = f"{parent[last]}\u202e电梯\x00"
    return f"{op} at {'.'.join(map(str, path))}", data


# --- mutations of the text -----------------------------------------------------------------------

LAUGHS = "".join(
    f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10 if i else ["lol"] * 10) + "]\n"
    for i in range(9)
)
SNIPPETS = [": ", "- ", "&a ", "*a ", "*nosuch ", "{", "[", "]", '"', "'", "\t", "\\0", "%", "@",
            "`", "!!python/object:os.system ", "<<: *a\n", "? ", "|\n", "---\n", "\x7f", "\x00",
            "\ufeff", "!!binary ", "!!int ", "!!timestamp ", "&a [*a]"]  # fmt: skip


def mutate_text(text: str, rng: random.Random) -> tuple[str, str]:
    lines = text.splitlines(keepends=True)
    i = rng.randrange(len(lines))
    op = rng.choice(["duplicate line", "delete line", "indent", "dedent", "truncate", "snippet",
                     "snippet", "big number", "laughs", "recursive alias", "huge"])  # fmt: skip
    if op == "duplicate line":
        lines.insert(i, lines[i])
    elif op == "delete line":
        del lines[i]
    elif op == "indent":
        lines[i] = "  " + lines[i]
    elif op == "dedent":
        lines[i] = lines[i][2:] if lines[i].startswith("  ") else lines[i]
    elif op == "truncate":
        return op, text[: rng.randrange(len(text))]
    elif op == "snippet":
        at = rng.randrange(len(lines[i]) + 1)
        snippet = rng.choice(SNIPPETS)
        lines[i] = lines[i][:at] + snippet + lines[i][at:]
        op = f"insert {snippet!r}"
    elif op == "big number":
        numbers = list(re.finditer(r"(?<=: )\d+(\.\d+)?", text))
        if numbers:
            m = rng.choice(numbers)
            return op, text[: m.start()] + "9" * 5000 + text[m.end() :]
    elif op == "laughs":
        return op, LAUGHS + text
    elif op == "recursive alias":
        return op, text.replace("\ncameras:", "\ncameras: &c", 1) + "\n    extra: *c\n"
    elif op == "huge":
        return op, text + "# " + "x" * 1_100_000 + "\n"
    return f"{op} at line {i + 1}", "".join(lines)


# --- the mutants ---------------------------------------------------------------------------------


def localised(text: str, shared: Path, storage: Path) -> str:
    """The example's relative paths made absolute (after mutating, so that the mutants do not
    depend on where the test runs), storage in tmp."""
    text = text.replace("../../../shared", str(shared)).replace("../../var", str(storage))
    return text.replace("../../models", str(REPO / "models"))


def mutants(shared: Path, storage: Path) -> Iterator[Mutant]:
    for example in EXAMPLES:
        text = example.read_text(encoding="utf-8")
        for k in range(PER_EXAMPLE):
            rng = random.Random(f"{example.name}:{k}")
            if k % 2:
                what, mutated = mutate_text(text, rng)
            else:
                what, data = mutate_data(yaml.safe_load(text), rng)
                mutated = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
            yield Mutant(f"{example.stem} #{k}: {what}", localised(mutated, shared, storage))


@pytest.fixture(scope="module")
def shared(shared_dir: Path) -> Path:
    return shared_dir


def test_mutated_configs_get_exit_0_or_2_with_lines_in_time(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = tmp_path / "var"
    outcomes: Counter[str] = Counter()
    slowest = (0.0, "")
    accepted: list[Path] = []
    for n, mutant in enumerate(mutants(shared, storage)):
        path = tmp_path / f"m{n:03d}" / "site.yaml"
        path.parent.mkdir()
        path.write_text(mutant.text, encoding="utf-8")
        code, out, err, seconds = run_check(path)
        try:
            assert_well_formed("site.yaml", code, out, err)
            assert seconds < TIME_BOUND_S, f"{seconds:.1f} s"
        except AssertionError as exc:
            raise AssertionError(f"{mutant.name}: {exc}") from None
        outcomes["accepted" if code == 0 else "refused"] += 1
        slowest = max(slowest, (seconds, mutant.name))
        if code == 0:
            accepted.append(path)
    total = sum(outcomes.values())
    assert total == PER_EXAMPLE * len(EXAMPLES) >= 300
    assert outcomes["refused"] > total // 2 and outcomes["accepted"] > 10
    # What check-config accepts, `edge run` starts with: a node is built from each (sharing one
    # detection lane; check-config loaded each one's model as a lane loads it).
    lane = build_detection(check_config(accepted[0]))
    for path in accepted:
        node = Node(check_config(path), SystemClock(), lanes=[lane])
        node.stop(drain_timeout_s=0)
    with capsys.disabled():
        print(
            f"\nconfig mutations: {total} checked, {outcomes['accepted']} accepted, "
            f"{outcomes['refused']} refused, 0 tracebacks, 0 over {TIME_BOUND_S:g} s "
            f"(slowest {slowest[0]:.2f} s: {slowest[1][:60]})"
        )


# The child limits its own address space, then runs `python -m edge` (no preexec_fn: this
# process may have threads).
LIMITED_EDGE = (
    "import resource, runpy, sys; "
    f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT})); "
    "sys.argv[0] = 'edge'; runpy.run_module('edge', run_name='__main__', alter_sys=True)"
)


HOSTILE = {
    "token on /dev/zero": "api: {token: {file: /dev/zero}}\n",
    "billion laughs": LAUGHS,
    "most values": "cameras: [" + ", ".join(["{}"] * 24_000) + "]\n",
    "deep flow": "x: " + "[" * 200_000 + "]" * 200_000 + "\n",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_check_config_in_a_child_process_stays_within_a_memory_limit(
    tmp_path: Path, name: str
) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "yolov8n_int8.onnx").touch()
    path = tmp_path / "site.yaml"
    path.write_text("site: {id: s}\nnode: {id: n}\n" + HOSTILE[name], encoding="utf-8")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", LIMITED_EDGE, "check-config", str(path), "--skip-model"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr
    assert result.stderr.startswith("site.yaml:"), result.stderr[:500]
    assert time.monotonic() - started < 30  # the interpreter and imports included
