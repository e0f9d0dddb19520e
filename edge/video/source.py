"""Camera source strings: what kind of source they name, and how to show them in logs.

A camera URL often carries its password (`rtsp://admin:secret@10.0.0.5/stream1`), and logs end up
in tickets and screenshots, so everything that reaches a log goes through `describe_source` or
`mask_credentials` first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "STREAM_SCHEMES",
    "CameraSource",
    "SourceKind",
    "VideoSourceError",
    "describe_source",
    "mask_credentials",
    "parse_source",
]

STREAM_SCHEMES: tuple[str, ...] = (
    "rtsp",
    "rtsps",
    "http",
    "https",
    # Not in the original list, but FFmpeg reads them and they are live: treating them as files
    # would pace, loop and stop at "EOF" a stream that has none.
    "rtmp",
    "rtmps",
    "rtp",
    "srt",
    "udp",
    "tcp",
)

_MASK = "***"
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# userinfo in any URL inside free text; greedy up to the last "@" of the authority because
# camera passwords do contain "@" more often than one would hope.
_USERINFO_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^\s/?#:@]*):([^\s/?#]*)@")
# Some cameras take credentials in the query string instead (`?user=admin&password=...`).
_SECRET_PARAM_RE = re.compile(
    r"(?i)([?&;](?:password|passwd|pwd|pass|token|access_token|secret|api_?key|key|auth)=)"
    r"([^&;#\s]*)"
)


class VideoSourceError(Exception):
    """A video source (camera, stream or file) cannot be opened or read."""


class SourceKind(StrEnum):
    DEVICE = "device"
    STREAM = "stream"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class CameraSource:
    """A parsed camera source.

    `target` is what OpenCV opens (it may hold a password, so it stays out of `repr`);
    `display` is the masked form for logs and the API.
    """

    kind: SourceKind
    target: str | int = field(repr=False)
    display: str

    @property
    def is_live(self) -> bool:
        return self.kind is not SourceKind.FILE


def mask_credentials(text: str) -> str:
    """Replace every password in URLs inside `text` with `***` (user names are kept)."""
    masked = _USERINFO_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}:{_MASK}@", text)
    return _SECRET_PARAM_RE.sub(lambda m: f"{m.group(1)}{_MASK}", masked)


def parse_source(source: str | int) -> CameraSource:
    """Classify a camera source: a device index, a network stream, or a file path."""
    if isinstance(source, bool):
        # bool is an int; True as "device 1" would be a silent config mistake.
        raise TypeError("a camera source must be a string or a device index, not a bool")
    if isinstance(source, int):
        if source < 0:
            raise ValueError(f"a device index cannot be negative: {source}")
        return CameraSource(SourceKind.DEVICE, source, f"device {source}")
    text = source.strip()
    if not text:
        raise ValueError("a camera source cannot be empty")
    if text.isdecimal() and text.isascii():
        index = int(text)
        return CameraSource(SourceKind.DEVICE, index, f"device {index}")
    match = _SCHEME_RE.match(text)
    if match and match.group(1).lower() in STREAM_SCHEMES:
        return CameraSource(SourceKind.STREAM, text, mask_credentials(text))
    return CameraSource(SourceKind.FILE, text, mask_credentials(text))


def describe_source(source: str | int) -> str:
    """The source as it may appear in logs: `rtsp://user:***@host/...`, `device 0`, a path."""
    try:
        return parse_source(source).display
    except (TypeError, ValueError):
        return mask_credentials(str(source))
