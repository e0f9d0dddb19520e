"""The only way a request names a file: strict patterns, resolved inside one data directory.

Snapshot ids and clip names are checked against a whitelist pattern before they are joined to
a directory, and the joined path is resolved (symlinks followed) and must still lie inside that
directory. Anything else is "not found", whatever it was trying to reach.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException

from edge.video.files import IMAGE_EXTENSIONS

log = logging.getLogger(__name__)

ALERT_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
SNAPSHOT_ID = re.compile(r"^([0-9A-HJKMNP-TV-Z]{26})-([0-9]{1,9})$")
CLIP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,95}(\.[A-Za-z0-9]{1,8})$")
VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".avi", ".mov", ".webm", ".ts", ".m4v", ".mjpeg"})
CLIP_EXTENSIONS = VIDEO_EXTENSIONS | IMAGE_EXTENSIONS
MAX_CLIP_BYTES = 512 * 1024 * 1024


def not_found(what: str = "not found") -> HTTPException:
    return HTTPException(404, what)


def inside(directory: Path, name: str) -> Path:
    """`directory/name`, refusing anything that resolves elsewhere (404)."""
    if not name or "/" in name or "\\" in name or "\x00" in name or name in (".", ".."):
        raise not_found()
    base = directory.resolve()
    path = (base / name).resolve()
    if path.parent != base:
        log.warning("refused a path outside %s: %r", base, name[:200])
        raise not_found()
    return path


def check_alert_id(alert_id: str) -> str:
    if not ALERT_ID.match(alert_id):
        raise not_found(f"no alert {alert_id[:40]!r}")
    return alert_id


def snapshot_file(directory: Path, snapshot_id: str, alert_id: str | None = None) -> Path:
    """The JPEG of a snapshot id (`<alert id>-<seq>`), optionally one of that alert's."""
    m = SNAPSHOT_ID.match(snapshot_id)
    if m is None or (alert_id is not None and m.group(1) != alert_id):
        raise not_found("no such snapshot")
    path = inside(directory, f"{snapshot_id}.jpg")
    if not path.is_file():
        raise not_found("no such snapshot")
    return path


def check_clip_name(name: str) -> str:
    if not CLIP_NAME.match(name) or Path(name).suffix.lower() not in CLIP_EXTENSIONS:
        exts = " ".join(sorted(CLIP_EXTENSIONS))
        raise HTTPException(400, f"clip names are letters, digits, '_' and '-' with one of: {exts}")
    return name


def clip_file(directory: Path, name: str, *, must_exist: bool = True) -> Path:
    if not CLIP_NAME.match(name):
        raise not_found("no such clip")
    path = inside(directory, name)
    if must_exist and not path.is_file():
        raise not_found(f"no clip {name!r}")
    return path


@dataclass(frozen=True, slots=True)
class ClipInfo:
    name: str
    bytes: int
    modified_at: float


def list_clips(directory: Path) -> list[ClipInfo]:
    if not directory.is_dir():
        return []
    out = []
    for entry in os.scandir(directory):
        if entry.is_file(follow_symlinks=False) and CLIP_NAME.match(entry.name):
            st = entry.stat(follow_symlinks=False)
            out.append(ClipInfo(entry.name, st.st_size, st.st_mtime))
    return sorted(out, key=lambda c: c.name)


def prune_old(directory: Path, *, keep_s: float, keep_files: int) -> int:
    """Delete the oldest files beyond `keep_files`, and any older than `keep_s`."""
    if not directory.is_dir():
        return 0
    entries = sorted(
        (e for e in os.scandir(directory) if e.is_file(follow_symlinks=False)),
        key=lambda e: e.stat().st_mtime,
        reverse=True,
    )
    now, removed = time.time(), 0
    for i, entry in enumerate(entries):
        if i >= keep_files or now - entry.stat().st_mtime > keep_s:
            Path(entry.path).unlink(missing_ok=True)
            removed += 1
    return removed
