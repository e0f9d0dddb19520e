"""A file that holds disk space in reserve, deleted to make room when the disk is full.

When the alert store or the outbox cannot write (the disk is full), the alert manager deletes
this file and at once writes one `storage_fault` alert into the room it freed, so the platform
learns that the node cannot record alerts even though nothing else fits on the disk. The file
is written back (allocated, not sparse, and fsynced) once there is room again.

It works on file systems that free blocks when a file is deleted (ext4, xfs, f2fs, tmpfs); on a
copy-on-write file system with snapshots (btrfs, ZFS) deleting it may free nothing.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_RESERVE_BYTES = 1 << 20
_CHUNK = 1 << 16
# posix_fallocate not offered by the file system: write zeros instead.
_UNSUPPORTED = {errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL}


class DiskReserve:
    """`size` bytes held in the file `path`; `release()` frees them, `ensure()` takes them back."""

    def __init__(self, path: Path, size: int = DEFAULT_RESERVE_BYTES) -> None:
        if size < 0:
            raise ValueError(f"size must not be negative, got {size}")
        self.path = path
        self.size = size

    @property
    def present(self) -> bool:
        try:
            return self.path.stat().st_size >= self.size
        except OSError:
            return False

    def ensure(self) -> bool:
        """Write the reserve if it is missing; True when it is in place."""
        if self.size == 0 or self.present:
            return True
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                _allocate(fd, self.size)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            log.debug("no room for the %d-byte disk reserve %s: %s", self.size, self.path, exc)
            return False
        return True

    def release(self) -> bool:
        """Delete the reserve; True if there was one to free."""
        if self.size == 0:
            return False
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.error("could not delete the disk reserve %s: %s", self.path, exc)
            return False
        log.warning("deleted the disk reserve %s to free %d bytes", self.path, self.size)
        return True


def _allocate(fd: int, size: int) -> None:
    """Really take `size` bytes: allocated blocks, never a sparse file."""
    fallocate = getattr(os, "posix_fallocate", None)
    if fallocate is not None:
        try:
            fallocate(fd, 0, size)
            return
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise
    block = b"\0" * _CHUNK
    written = 0
    while written < size:
        written += os.write(fd, block[: min(_CHUNK, size - written)])
