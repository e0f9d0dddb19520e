"""One HTTP POST with a deadline, reduced to what a delivery records: worked or not, and why."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

_MAX_REPLY = 64 * 1024  # an endpoint's answer is evidence, not something to buffer unbounded
_MAX_DETAIL = 500


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    detail: str
    http_status: int | None = None


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib would follow a 301/302/303 with a GET and no body, and a 200 from there would
    count as delivered. A redirect is reported as what it is, a failure with its status."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def post(
    url: str, body: bytes, headers: dict[str, str], timeout_s: float
) -> HttpReply | SendResult:
    """The reply (any status), or a failed SendResult when there was no reply at all."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    opener = urllib.request.build_opener(_NoRedirect())
    try:
        with opener.open(request, timeout=timeout_s) as reply:
            return HttpReply(reply.status, reply.read(_MAX_REPLY))
    except urllib.error.HTTPError as error:
        return HttpReply(error.code, error.read(_MAX_REPLY) if error.fp else b"")
    except TimeoutError:  # socket.timeout is TimeoutError since 3.10
        return SendResult(False, f"no answer within {timeout_s:g} s")
    except urllib.error.URLError as error:
        return SendResult(False, f"cannot connect: {error.reason}")
    except (OSError, ValueError) as error:  # a reset connection, a URL urllib cannot use
        return SendResult(False, f"{type(error).__name__}: {error}")


def post_json(
    url: str, payload: dict[str, Any], timeout_s: float, headers: dict[str, str] | None = None
) -> HttpReply | SendResult:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    sent = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "grid-console"}
    return post(url, body, {**sent, **(headers or {})}, timeout_s)


def excerpt(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    return text[:_MAX_DETAIL]
