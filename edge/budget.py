"""A directory of evidence files kept under a byte budget: the oldest go first.

A node runs for years on a small disk, and a full disk would stop the outbox too, which would
lose alerts, far worse than losing an old picture or clip. The snapshot store and the clip
store both keep their files this way.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from pathlib import Path

log = logging.getLogger(__name__)


class ByteBudget:
    """Files with one suffix under `directory`, at most `max_bytes` in all (never the newest
    one deleted). The directory is read once, at the first file added; kept up to date after."""

    def __init__(self, directory: Path, suffix: str, max_bytes: int, what: str) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.directory = directory
        self._suffix = suffix
        self._max_bytes = max_bytes
        self._what = what  # for the log line: "snapshot", "clip"
        self._lock = threading.Lock()
        self._files: deque[tuple[Path, int]] | None = None  # oldest first
        self._total = 0
        self.pruned = 0

    def add(self, path: Path, size: int) -> None:
        """`path` (already in the directory) was just written; delete the oldest beyond the
        budget."""
        with self._lock:
            if self._files is None:
                self._files = self._inventory(exclude=path)
                self._total = sum(n for _, n in self._files)
            self._files.append((path, size))
            self._total += size
            removed = 0
            while self._total > self._max_bytes and len(self._files) > 1:
                old, n = self._files.popleft()
                old.unlink(missing_ok=True)
                self._total -= n
                removed += 1
            self.pruned += removed
        if removed:
            log.info("deleted %d oldest %s(s) to keep %s under %d MiB",
                     removed, self._what, self.directory, self._max_bytes // 2**20)  # fmt: skip

    def _inventory(self, *, exclude: Path) -> deque[tuple[Path, int]]:
        found: list[tuple[float, str, Path, int]] = []
        for entry in os.scandir(self.directory):
            if entry.name.endswith(self._suffix) and entry.is_file() and entry.path != str(exclude):
                st = entry.stat()
                found.append((st.st_mtime, entry.name, Path(entry.path), st.st_size))
        found.sort()
        return deque((p, n) for _, _, p, n in found)
