"""The log formatter, throttle and rotation (edge/logsetup.py), on real handlers and files."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge import logsetup
from edge.logsetup import SafeFormatter, Throttle, escape

RECORD_START = "2026-"  # every record line starts with its timestamp


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\nb", "a\\nb"),
        ("a\r\nb", "a\\r\\nb"),
        ("nul\x00", "nul\\x00"),
        ("\x1b[2J", "\\x1b[2J"),
        ("tab\tbell\x07del\x7f", "tab\\tbell\\x07del\\x7f"),
        ("c1\x85\x9b", "c1\\x85\\x9b"),
        ("ls\u2028ps\u2029", "ls\\u2028ps\\u2029"),
        ("rlo\u202eabc", "rlo\\u202eabc"),
        ("lone\udcff", "lone\\udcff"),
        ("西镇社区 ok", "西镇社区 ok"),
    ],
)
def test_escape(raw: str, shown: str) -> None:
    assert escape(raw) == shown


def _format(record_args: tuple[object, ...], msg: str, exc: BaseException | None = None) -> str:
    record = logging.LogRecord("edge.test", logging.ERROR, __file__, 1, msg, record_args, None)
    if exc is not None:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    return SafeFormatter().format(record)


def test_a_record_is_one_line_and_its_traceback_is_indented() -> None:
    forged = "x\n2026-01-01 00:00:00,000 ERROR edge: forged"
    try:
        raise ValueError(f"bad topic {forged}")
    except ValueError as exc:
        text = _format((forged,), "topic %s refused", exc)
    first, *rest = text.split("\n")
    assert first.endswith("topic x\\n2026-01-01 00:00:00,000 ERROR edge: forged refused")
    assert rest[0] == "    Traceback (most recent call last):"
    assert rest[-2:] == [
        "    ValueError: bad topic x",
        "    2026-01-01 00:00:00,000 ERROR edge: forged",
    ]
    assert all(line.startswith("    ") for line in rest)  # the forged line too: indented


def test_huge_messages_are_clipped() -> None:
    text = _format(("y" * 100_000,), "payload %s")
    assert len(text) < logsetup.MAX_MESSAGE_CHARS + 200 and text.endswith("more chars)")


def test_throttle_passes_a_burst_then_counts() -> None:
    now = [0.0]
    throttle = Throttle(burst=3, window_s=10.0, clock=lambda: now[0])

    def record(name: str = "uvicorn.error", level: int = logging.WARNING) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, "Invalid HTTP request", None, None)

    assert [throttle.filter(record()) for _ in range(5)] == [True, True, True, False, False]
    assert throttle.filter(record("edge.alerts.manager"))  # not a noisy source: never held
    assert throttle.filter(record(level=logging.DEBUG))
    now[0] = 11.0
    passed = record()
    assert throttle.filter(passed)
    assert passed.getMessage() == "Invalid HTTP request [and 2 more like this, not logged]"


def test_configure_writes_a_rotating_capped_file(tmp_path: Path, restore_logging: None) -> None:
    path = tmp_path / "logs" / "node.log"
    logsetup.configure("INFO", log_file=path, max_bytes=20_000, backups=2)
    log = logging.getLogger("edge.test")
    for i in range(2_000):
        log.info("line %d with a forged\nrecord and \x00", i)
    logging.getLogger().handlers[0].flush()
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["node.log", "node.log.1", "node.log.2"]
    sizes = [p.stat().st_size for p in path.parent.iterdir()]
    assert max(sizes) <= 20_000 and sum(sizes) <= 3 * 20_000
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines and all(line.startswith(RECORD_START) for line in lines)
    assert lines[-1].endswith("line 1999 with a forged\\nrecord and \\x00")


def test_configure_routes_uvicorn_through_the_formatter(restore_logging: None) -> None:
    stream = io.StringIO()
    logging.getLogger("uvicorn.error").addHandler(logging.StreamHandler(io.StringIO()))
    logsetup.configure("INFO", stream=stream)
    assert logging.getLogger("uvicorn.error").handlers == []
    logging.getLogger("uvicorn.error").warning("bad %s", "x\ny")
    assert stream.getvalue().count("\n") == 1 and "bad x\\ny" in stream.getvalue()
    with pytest.raises(ValueError, match="backup"):
        logsetup.configure("INFO", log_file=Path("x.log"), backups=0)
