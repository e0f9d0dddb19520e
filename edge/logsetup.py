"""Logging for the command line: one record is one line, whatever it contains, and the log's
size is bounded.

Much of what the node logs comes from outside: request paths, MQTT topics, payload excerpts,
client ids, exception messages about them. A `%0a` in a URL must not write a second, forged
record, nor a `%00` turn the log binary, nor an ESC sequence repaint an operator's terminal. So
the one formatter every handler uses escapes control characters (C0 but the newline of a
traceback, DEL, C1, U+2028/2029, bidirectional overrides, lone surrogates) in the message, and
indents every line of a traceback: no line of the log can pass for the start of a record unless
it is one. This is done here, centrally, not at each call site; uvicorn's loggers propagate here.

Noisy sources (HTTP, asyncio) are throttled per message template, and `--log-file` writes to a
rotating file of bounded size instead of stderr.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_MESSAGE_CHARS = 16 * 1024
MAX_TRACEBACK_CHARS = 64 * 1024
INDENT = "    "  # continuation lines of a record (tracebacks): never the start of a record


def _escape_table() -> dict[int, str]:
    table = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
    table.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"})
    for c in (0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF):
        table[c] = f"\\u{c:04x}"
    for c in range(0xD800, 0xE000):  # lone surrogates (undecodable bytes in file names)
        table[c] = f"\\u{c:04x}"
    return table


_TABLE = _escape_table()


def escape(text: str) -> str:
    """`text` with every control and line-breaking character written as a visible escape."""
    return text.translate(_TABLE)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more chars)"


class SafeFormatter(logging.Formatter):
    """A Formatter whose output is one line per record, plus indented traceback lines."""

    def __init__(self, fmt: str = FORMAT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape(_clip(record.getMessage(), MAX_MESSAGE_CHARS))
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        text = self.formatMessage(record)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        blocks = [record.exc_text] if record.exc_text else []
        if record.stack_info:
            blocks.append(self.formatStack(record.stack_info))
        for block in blocks:
            lines = _clip(block, MAX_TRACEBACK_CHARS).split("\n")
            text += "".join(f"\n{INDENT}{escape(line)}" for line in lines)
        return text


class Throttle(logging.Filter):
    """At most `burst` records of one kind (logger, level, message template) per `window_s`
    from the noisy loggers (HTTP, asyncio); the rest are dropped and counted, and the count is
    added to the next record of that kind that passes. DEBUG records are never throttled."""

    def __init__(
        self,
        prefixes: tuple[str, ...] = ("uvicorn", "asyncio", "edge.api"),
        *,
        burst: int = 20,
        window_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.prefixes = prefixes
        self.burst = burst
        self.window_s = window_s
        self.clock = clock
        self._seen: dict[tuple[str, int, str], tuple[float, int, int]] = {}
        self._lock = threading.Lock()

    def _noisy(self, name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in self.prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG or not self._noisy(record.name):
            return True
        key = (record.name, record.levelno, str(record.msg)[:200])
        now = self.clock()
        with self._lock:
            if len(self._seen) > 1000:
                self._seen.clear()
            start, passed, dropped = self._seen.get(key, (now, 0, 0))
            if now - start >= self.window_s:
                start, passed = now, 0
            if passed >= self.burst:
                self._seen[key] = (start, passed, dropped + 1)
                return False
            self._seen[key] = (start, passed + 1, 0)
        if dropped:
            record.msg = f"{record.msg} [and {dropped} more like this, not logged]"
        return True


def configure(
    level: str | int = "INFO",
    *,
    log_file: Path | None = None,
    max_bytes: int = 10 * 2**20,
    backups: int = 3,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Replace the root logger's handlers with one: `stream` (default stderr), or `log_file`
    rotated at `max_bytes` with `backups` old files kept (at most (backups + 1) x max_bytes on
    disk). Uvicorn's loggers lose any handlers of their own and propagate here."""
    if log_file is not None:
        if backups < 1 or max_bytes < 1:
            raise ValueError("a log file needs a size cap and at least one backup to rotate")
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = RotatingFileHandler(
            log_file,
            maxBytes=max_bytes,
            backupCount=backups,
            encoding="utf-8",
            errors="backslashreplace",
        )
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(SafeFormatter())
    handler.addFilter(Throttle())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
    root.setLevel(level if isinstance(level, int) else logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "asyncio"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
    return handler
