"""How a retrying background loop reports its failures, so an outage of hours stays readable.

A loop that retries forever (the ingest, the deadline job, the notifier, the command sender)
meets the same failure on every pass while the database is gone. Logging each one with its
traceback buries everything else in the log, so one `FailureLog` per loop says:

- the first failure of a run, at ERROR with its traceback and what happens next ("retrying");
- the first failure of another exception type in the same run, the same way: it may be a
  different problem. A type already shown in this run is only counted, so two kinds that
  alternate do not bring the flood back;
- while it goes on, one WARNING line at most every `every_s` seconds: how many failures since
  the first and the last error in one line;
- the first success after it, at INFO: "<what> works again after N failures in S s".

One instance belongs to one loop's thread; it is not shared between threads.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from grid_console.clock import Clock

_ONE_LINE_MAX = 200  # the last error's text in the summary; its traceback was shown already


class FailureLog:
    def __init__(
        self, logger: logging.Logger, what: str, clock: Clock, *, every_s: float = 60.0
    ) -> None:
        self._logger = logger  # the loop's own logger, so the line names its module
        self._what = what
        self._clock = clock
        self._every_s = every_s
        self._failures = 0
        self._first_at = clock()
        self._reported_at = self._first_at
        self._shown: set[type[BaseException]] = set()

    def failed(self, exc: BaseException, message: str, *args: object) -> None:
        """One failure; `message % args` says what failed and what happens next."""
        now = self._clock()
        if self._failures == 0:
            self._first_at = now
        self._failures += 1
        if type(exc) not in self._shown:
            self._shown.add(type(exc))
            self._reported_at = now
            self._logger.error(message, *args, exc_info=exc, stacklevel=2)
            return
        since = (now - self._reported_at).total_seconds()
        if 0 <= since < self._every_s:  # a clock set back must not silence the summary
            return
        self._reported_at = now
        self._logger.warning(
            "%s still failing: %d failures in %s since the first; last: %s; retrying",
            self._what,
            self._failures,
            _span(now - self._first_at),
            _one_line(exc),
            stacklevel=2,
        )

    def succeeded(self) -> None:
        """A pass that worked: ends the run of failures, if there was one."""
        if self._failures == 0:
            return
        self._logger.info(
            "%s works again after %d failures in %s",
            self._what,
            self._failures,
            _span(self._clock() - self._first_at),
            stacklevel=2,
        )
        self._failures = 0
        self._shown.clear()


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    return text if len(text) <= _ONE_LINE_MAX else text[: _ONE_LINE_MAX - 1] + "…"


def _span(delta: timedelta) -> str:
    """A duration as a person reads it: 6.2 s, 12 min 5 s, 3 h 0 min."""
    seconds = max(delta.total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"
