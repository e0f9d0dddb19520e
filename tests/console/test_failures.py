"""A retrying loop's failures in the log: the first with its traceback, the rest summed up, and
the recovery said once (grid_console/failures.py). Real logging through caplog, a fake clock."""

from __future__ import annotations

import logging

import pytest

from grid_console.failures import FailureLog
from tests.console.fakeclock import FakeClock

LOGGER = "tests.console.test_failures.loop"


def _log(clock: FakeClock, every_s: float = 60.0) -> FailureLog:
    return FailureLog(logging.getLogger(LOGGER), "outbox pass", clock, every_s=every_s)


def _fail(failures: FailureLog, exc: Exception) -> None:
    try:
        raise exc
    except Exception as caught:
        failures.failed(caught, "outbox pass failed; retrying")


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str, bool]]:
    return [
        (r.levelno, r.getMessage(), r.exc_info is not None)
        for r in caplog.records
        if r.name == LOGGER
    ]


def test_a_run_of_one_kind_of_failure_is_one_traceback_then_a_summary_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = FakeClock()
    failures = _log(clock)
    for _ in range(130):  # two minutes and ten seconds of a pass failing every second
        _fail(failures, ConnectionError("connection refused\n\tIs the server running?"))
        clock.advance(1)
    lines = _lines(caplog)
    assert lines[0] == (logging.ERROR, "outbox pass failed; retrying", True)
    assert [level for level, _, _ in lines[1:]] == [logging.WARNING, logging.WARNING]
    assert not any(tb for _, _, tb in lines[1:])
    assert lines[1][1] == (
        "outbox pass still failing: 61 failures in 1 min 0 s since the first; last: "
        "ConnectionError: connection refused; retrying"
    )
    assert lines[2][1].startswith("outbox pass still failing: 121 failures in 2 min 0 s ")


def test_a_different_kind_of_failure_gets_its_traceback_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = FakeClock()
    failures = _log(clock)
    # Alternating kinds: each is new once, then it is only counted.
    for exc in (ConnectionError("a"), TimeoutError("b"), ConnectionError("c"), TimeoutError("d")):
        _fail(failures, exc)
        clock.advance(1)
    lines = _lines(caplog)
    assert [(level, tb) for level, _, tb in lines] == [
        (logging.ERROR, True),
        (logging.ERROR, True),
    ]
    assert caplog.records[1].exc_info is not None
    assert caplog.records[1].exc_info[0] is TimeoutError


def test_the_first_success_after_failures_says_it_works_again_and_starts_afresh(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = FakeClock()
    failures = _log(clock)
    failures.succeeded()  # success without failures says nothing
    for _ in range(7):
        _fail(failures, ConnectionError("refused"))
        clock.advance(1.1)
    failures.succeeded()
    failures.succeeded()
    _fail(failures, ConnectionError("refused"))  # a new run: its traceback again
    lines = _lines(caplog)
    assert lines == [
        (logging.ERROR, "outbox pass failed; retrying", True),
        (logging.INFO, "outbox pass works again after 7 failures in 7.7 s", False),
        (logging.ERROR, "outbox pass failed; retrying", True),
    ]


def test_the_summary_interval_is_the_constructors_and_long_runs_read_in_hours(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = FakeClock()
    failures = _log(clock, every_s=600)
    for _ in range(3 * 60):  # three hours, a failure a minute
        _fail(failures, ConnectionError("refused"))
        clock.advance(60)
    failures.succeeded()
    lines = _lines(caplog)
    assert [level for level, _, _ in lines].count(logging.WARNING) == 17  # every 10 minutes
    assert lines[-1] == (
        logging.INFO,
        "outbox pass works again after 180 failures in 3 h 0 min",
        False,
    )


def test_a_clock_set_back_does_not_silence_the_summary(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = FakeClock()
    failures = _log(clock)
    _fail(failures, ConnectionError("refused"))
    clock.advance(-3600)  # NTP corrects a clock an hour fast
    _fail(failures, ConnectionError("refused"))
    assert [level for level, _, _ in _lines(caplog)] == [logging.ERROR, logging.WARNING]


def test_the_last_errors_line_is_one_line_and_bounded(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = FakeClock()
    failures = _log(clock, every_s=1)
    _fail(failures, ConnectionError("first"))
    clock.advance(2)
    _fail(failures, ConnectionError("x" * 1000 + "\nsecond line"))
    message = _lines(caplog)[1][1]
    assert "\n" not in message and "second line" not in message
    assert len(message) < 400, message
