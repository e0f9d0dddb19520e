"""One bounded GET of a node's clip: http or https only, no redirects, a size cap checked
before and while reading, and a deadline on the whole download.

A per-read socket timeout alone would let a node that trickles a byte a second hold the
request for hours; the deadline is checked between reads, each of which returns what has
arrived (`read1`), so it is overrun by one read timeout at most.
"""

from __future__ import annotations

import http.client
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

_CHUNK = 256 * 1024
_MAX_DETAIL = 300


class Failure(StrEnum):
    NONE = "none"  # the alert carries no clip
    BAD_URL = "bad_url"  # not an absolute http(s) URL: the node has no api.public_url
    NOT_FOUND = "not_found"  # 404: not written yet, or pruned on the node
    REFUSED = "refused"  # 401/403: the node wants a token we lack, or another one
    HTTP_ERROR = "http_error"  # any other status, a redirect included
    UNREACHABLE = "unreachable"  # no connection, a reset, a broken answer
    TIMEOUT = "timeout"  # no complete answer within the deadline
    TOO_BIG = "too_big"  # over the size cap, announced or counted
    NOT_MP4 = "not_mp4"  # the bytes are not an MP4 file


@dataclass(frozen=True, slots=True)
class FetchLimits:
    max_bytes: int = 32 * 1024 * 1024
    timeout_s: float = 20.0


@dataclass(frozen=True, slots=True)
class Fetched:
    content: bytes


@dataclass(frozen=True, slots=True)
class Failed:
    reason: Failure
    detail: str
    http_status: int | None = None


def fetch_clip(
    url: str,
    token: str | None,
    limits: FetchLimits,
    monotonic: Callable[[], float] = time.monotonic,
) -> Fetched | Failed:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Failed(Failure.BAD_URL, f"not an absolute http(s) URL: {url[:200]}")
    deadline = monotonic() + limits.timeout_s
    connection = _connection(parts.scheme, parts.hostname, parts.port, limits.timeout_s)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Accept": "video/mp4", "User-Agent": "grid-console"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request("GET", path, headers=headers)
        reply = connection.getresponse()
        failed = _status(reply, limits)
        if failed is not None:
            return failed
        return _body(reply, limits, deadline, monotonic)
    except TimeoutError:
        return Failed(Failure.TIMEOUT, f"no complete answer within {limits.timeout_s:g} s")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Failed(Failure.UNREACHABLE, f"{type(exc).__name__}: {exc}"[:_MAX_DETAIL])
    finally:
        connection.close()


def _connection(
    scheme: str, host: str, port: int | None, timeout_s: float
) -> http.client.HTTPConnection:
    if scheme == "https":
        return http.client.HTTPSConnection(
            host, port, timeout=timeout_s, context=ssl.create_default_context()
        )
    return http.client.HTTPConnection(host, port, timeout=timeout_s)


def _status(reply: http.client.HTTPResponse, limits: FetchLimits) -> Failed | None:
    status = reply.status
    if status == 404:
        return Failed(Failure.NOT_FOUND, "the node has no clip for this alert (yet)", status)
    if status in (401, 403):
        return Failed(Failure.REFUSED, f"HTTP {status}: the node wants its API token", status)
    if status != 200:
        return Failed(Failure.HTTP_ERROR, f"HTTP {status} {reply.reason}"[:_MAX_DETAIL], status)
    announced = reply.getheader("Content-Length")
    if announced is not None and announced.isdigit() and int(announced) > limits.max_bytes:
        return Failed(Failure.TOO_BIG, f"{announced} bytes; at most {limits.max_bytes}", status)
    return None


def _body(
    reply: http.client.HTTPResponse,
    limits: FetchLimits,
    deadline: float,
    monotonic: Callable[[], float],
) -> Fetched | Failed:
    chunks: list[bytes] = []
    size = 0
    while chunk := reply.read1(_CHUNK):
        size += len(chunk)
        if size > limits.max_bytes:
            return Failed(Failure.TOO_BIG, f"over {limits.max_bytes} bytes", 200)
        if monotonic() > deadline:
            return Failed(Failure.TIMEOUT, f"not complete within {limits.timeout_s:g} s", 200)
        chunks.append(chunk)
    content = b"".join(chunks)
    # Every MP4 (ISO BMFF) file starts with a box whose type is `ftyp`.
    if content[4:8] != b"ftyp":
        return Failed(Failure.NOT_MP4, f"{size} bytes that are not an MP4 file", 200)
    return Fetched(content)
