"""The node's MQTT client id: `gs-{site}-{node}-{random}`, the random part made once per install.

A broker hands a client id's session to whoever connects with it and drops the one holding it,
so an id anyone can work out (`gs-{site}-{node}`) lets any broker client knock the node off,
again and again. The random part is kept in the node's storage, so the id stays the same across
restarts, which the persistent session (queued sensor alarms and commands) is keyed on.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

FILE_NAME = "mqtt-client-id"
_SUFFIX = re.compile(r"^[0-9a-f]{16}$")


def install_suffix(storage_dir: Path) -> str:
    """This install's random part: read from storage, or made and written there once."""
    path = storage_dir / FILE_NAME
    try:
        existing = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        existing = ""
    if _SUFFIX.match(existing):
        return existing
    suffix = secrets.token_hex(8)
    storage_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(suffix + "\n", encoding="ascii")
    os.replace(tmp, path)  # never a half-written id after a crash
    return suffix


def client_id(storage_dir: Path, site: str, node: str, configured: str | None) -> str:
    """The configured id if there is one (the installer's choice), else the per-install one."""
    if configured:
        return configured
    return f"gs-{site}-{node}-{install_suffix(storage_dir)}"
