"""The thread that fetches new cases' clips ahead of time (`ClipService.prefetch`).

A node keeps its clips within a byte budget, so the clip of a case nobody opens for a while may
be gone by the time someone does. Every `prefetch_s` this fetches the clips the nodes should
have written by now. Each replica runs one; a clip two replicas fetch at once is stored once
(the case row is locked while the result is recorded).
"""

from __future__ import annotations

import logging
import threading

from grid_console.clips.service import ClipService
from grid_console.clock import Clock
from grid_console.failures import FailureLog

logger = logging.getLogger(__name__)


class ClipPrefetcher:
    def __init__(self, clips: ClipService, clock: Clock, *, poll_s: float) -> None:
        self._clips = clips
        self._clock = clock
        self._poll_s = poll_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console-clips", daemon=True)
        self._failures = FailureLog(logger, "clip prefetch", clock)

    def start(self) -> None:
        if self._poll_s > 0:  # 0: clips are fetched only when a case is opened
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._clips.prefetch(self._clock())
            except Exception as exc:
                self._failures.failed(exc, "clip prefetch pass failed; retrying")
            else:
                self._failures.succeeded()
            self._stopping.wait(self._poll_s)
