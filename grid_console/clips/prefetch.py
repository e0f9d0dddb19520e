"""The thread that fetches new cases' clips ahead of time (`ClipService.prefetch`).

A node keeps its clips within a byte budget, so the clip of a case nobody opens for a while may
be gone by the time someone does. Every `prefetch_s` this fetches the clips the nodes should
have written by now. Each replica runs one; a clip two replicas fetch at once is stored once
(the case row is locked while the result is recorded).
"""

from __future__ import annotations

import logging

from grid_console.clips.service import ClipService
from grid_console.clock import Clock
from grid_console.periodic import Periodic

logger = logging.getLogger(__name__)


class ClipPrefetcher(Periodic):
    def __init__(self, clips: ClipService, clock: Clock, *, poll_s: float) -> None:
        super().__init__(clips.prefetch, clock, poll_s=poll_s, name="console-clips",
                         what="clip prefetch", logger=logger)  # fmt: skip
        self._enabled = poll_s > 0

    def start(self) -> None:
        if self._enabled:  # 0: clips are fetched only when a case is opened
            super().start()
