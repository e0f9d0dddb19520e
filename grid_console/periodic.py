"""A background loop that does one pass of some work every `poll_s` seconds, in its own thread.

The deadline job and the clip prefetcher are such loops. A failed pass (the database gone, a
bug) is reported through a FailureLog and the next pass comes as usual: the loop never dies.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from grid_console.clock import Clock
from grid_console.failures import FailureLog


class Periodic:
    def __init__(
        self,
        work: Callable[[datetime], object],
        clock: Clock,
        *,
        poll_s: float,
        name: str,
        what: str,
        logger: logging.Logger,
    ) -> None:
        self._work = work
        self._clock = clock
        self._poll_s = poll_s
        self._what = what
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._failures = FailureLog(logger, what, clock)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._work(self._clock())
            except Exception as exc:
                self._failures.failed(exc, f"{self._what} pass failed; retrying")
            else:
                self._failures.succeeded()
            self._stopping.wait(self._poll_s)
