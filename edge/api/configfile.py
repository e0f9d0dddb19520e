"""The site config file as the API edits it: read with a version, validate, write atomically.

A write is refused unless the proposed text passes `check_config`, the one check that
`edge check-config`, `edge run` and the `reload` command make too (edge/config/check.py): what
is written here starts the node after a reboot. It is refused too when the file changed since
the client read it (its `version`, the sha256 of the file, no longer matches). The new text goes
to a temporary file beside the config, is fsynced and renamed over it; the text it replaced is
kept as `site.yaml.prev`. The file mode is kept, since a config can hold secrets.

Zones of one camera are replaced by a ruamel.yaml round trip (`zonesedit.py`), so the file's
comments, key order and layout survive an edit made on the installer page.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from edge.config.check import check_config
from edge.config.loader import SiteConfig

log = logging.getLogger(__name__)


def version_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class VersionConflictError(Exception):
    """The file changed since the client read it."""


@dataclass(frozen=True, slots=True)
class ConfigDoc:
    text: str
    version: str
    file: str


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Readers see the old content or the new, never half of it, even across a power cut."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with tmp.open("wb") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


class ConfigFile:
    """One site config file. `write` is serialised; reads may run alongside."""

    def __init__(self, path: Path, models_dir: Path | None) -> None:
        self.path = path
        self._models_dir = models_dir
        self._lock = threading.Lock()

    @property
    def prev_path(self) -> Path:
        return self.path.with_name(self.path.name + ".prev")

    def read(self) -> ConfigDoc:
        data = self.path.read_bytes()
        return ConfigDoc(data.decode("utf-8", errors="replace"), version_of(data), self.path.name)

    def check(self, text: str) -> SiteConfig:
        """The proposed text as a config, or ConfigError with every issue (file, line, path)."""
        return check_config(self.path, text=text, models_dir=self._models_dir)

    def write(self, text: str, expected_version: str | None) -> str:
        """Check and write the text; returns the new version. Raises ConfigError or
        VersionConflictError and then leaves the file as it was."""
        with self._lock:
            old = self.path.read_bytes()
            if expected_version is not None and expected_version != version_of(old):
                raise VersionConflictError(
                    "the config file changed since it was read; reload it and try again"
                )
            self.check(text)
            data = text.encode("utf-8")
            mode = stat.S_IMODE(self.path.stat().st_mode)
            atomic_write(self.prev_path, old, mode)
            atomic_write(self.path, data, mode)
            version = version_of(data)
            log.info(
                "config written: %s (%d bytes, version %s, previous kept as %s)",
                self.path, len(data), version[:12], self.prev_path.name,
            )  # fmt: skip
            return version
