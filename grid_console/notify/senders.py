"""One entry point over every channel kind: the worker hands over a delivery, gets a SendResult."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from grid_console.notify.channels import ChannelKind
from grid_console.notify.email import send_email
from grid_console.notify.http import SendResult
from grid_console.notify.message import Message
from grid_console.notify.robots import send_dingtalk, send_feishu, send_wecom
from grid_console.notify.webhook import send_webhook

_URGENT = frozenset({"major", "critical"})


@dataclass(frozen=True, slots=True)
class Addressed:
    """Where one delivery goes (a Delivery row, detached from the database)."""

    delivery_id: int
    recipient: str
    kind: str
    target: str
    secret: str | None


class Senders:
    def __init__(self, *, smtp_url: str | None = None, timeout_s: float = 10.0) -> None:
        self._smtp_url = smtp_url
        self._timeout_s = timeout_s
        # apprise reports failures through its one logger; one e-mail at a time keeps each
        # attempt's captured reason its own.
        self._email_lock = threading.Lock()

    def send(self, to: Addressed, message: Message, case: dict[str, object],
             now: datetime) -> SendResult:  # fmt: skip
        t = self._timeout_s
        try:
            kind = ChannelKind(to.kind)
        except ValueError:
            return SendResult(False, f"unknown channel kind {to.kind!r}")
        if kind is ChannelKind.WECOM:
            return send_wecom(to.target, message, t)
        if kind is ChannelKind.DINGTALK:
            return send_dingtalk(to.target, to.secret, message, now, t)
        if kind is ChannelKind.FEISHU:
            urgent = case.get("severity") in _URGENT
            return send_feishu(to.target, to.secret, message, now, t, urgent=urgent)
        if kind is ChannelKind.EMAIL:
            with self._email_lock:
                return send_email(self._smtp_url, to.target, message, t)
        return send_webhook(to.target, to.secret, delivery_id=to.delivery_id,
                            recipient=to.recipient, case=case, message=message, now=now,
                            timeout_s=t)  # fmt: skip
