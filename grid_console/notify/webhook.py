"""The generic webhook: a JSON body, signed with the channel's secret (HMAC-SHA256).

Headers on every request:
  X-Grid-Delivery: the delivery id; the same on every retry of it (receivers dedupe on it)
  X-Grid-Timestamp: Unix seconds when this attempt was signed
  X-Grid-Signature: sha256=hex(HMAC-SHA256(secret, "{timestamp}.{raw body}"))
The timestamp is inside the signed text, so a receiver that refuses old timestamps (300 s,
`verify`) refuses a replayed request; the signature is over the raw bytes, not re-encoded JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime

from grid_console.clock import format_timestamp
from grid_console.notify.http import SendResult, excerpt, post
from grid_console.notify.message import Message

SCHEMA = "grid-console.notification/1"
MAX_AGE_S = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, now: datetime,
    max_age_s: float = MAX_AGE_S,
) -> None:  # fmt: skip
    """What a receiver does (and what the tests do): raise ValueError unless authentic and fresh."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get("x-grid-timestamp", "")
    given = lowered.get("x-grid-signature", "")
    if not timestamp.isdigit():
        raise ValueError("X-Grid-Timestamp is missing or not Unix seconds")
    if abs(now.timestamp() - int(timestamp)) > max_age_s:
        raise ValueError(f"X-Grid-Timestamp is more than {max_age_s:g} s away: a replay?")
    if not hmac.compare_digest(given, sign(secret, timestamp, body)):
        raise ValueError("X-Grid-Signature does not match the body")


def send_webhook(
    url: str,
    secret: str | None,
    *,
    delivery_id: int,
    recipient: str,
    case: dict[str, object],
    message: Message,
    now: datetime,
    timeout_s: float,
) -> SendResult:
    payload = {
        "schema": SCHEMA,
        "delivery_id": delivery_id,
        "reason": message.reason,
        "recipient": recipient,
        "sent_at": format_timestamp(now),
        "case": case,
        "message": message.as_json(),
    }
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "grid-console",
        "X-Grid-Delivery": str(delivery_id),
        "X-Grid-Timestamp": timestamp,
    }
    if secret:
        headers["X-Grid-Signature"] = sign(secret, timestamp, body)
    reply = post(url, body, headers, timeout_s)
    if isinstance(reply, SendResult):
        return reply
    ok = 200 <= reply.status < 300
    return SendResult(ok, f"HTTP {reply.status}: {excerpt(reply.body)}".strip(), reply.status)
