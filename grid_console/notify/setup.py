"""The notification options of `grid-console serve`, and building the worker from them."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import Engine

from grid_console.clock import Clock
from grid_console.notify.email import check_smtp_url
from grid_console.notify.retry import RetryPolicy
from grid_console.notify.senders import Senders
from grid_console.notify.worker import DeliveryWorker, WorkerOptions


@dataclass(frozen=True, slots=True)
class NotifySettings:
    public_url: str = ""  # how people reach the console; empty: http://HOST:PORT of serve
    smtp_url: str | None = None  # apprise mailto:// or mailtos:// URL of the SMTP server
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.public_url:
            parts = urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"--public-url {self.public_url!r} is not an http(s) URL")
        if self.smtp_url:
            check_smtp_url(self.smtp_url)
        if self.timeout_s <= 0:
            raise ValueError("--notify-timeout-s must be positive")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("notifications")
    group.add_argument(
        "--public-url", default="", help="the console's address in links (default http://HOST:PORT)"
    )
    group.add_argument(
        "--smtp-url",
        help="SMTP server for e-mail, e.g. "
        "mailtos://USER:PASSWORD@smtp.example.com:465?from=grid@example.com",
    )
    defaults = RetryPolicy()
    group.add_argument(
        "--notify-retry-s",
        type=float,
        default=defaults.first_s,
        help="first wait after a failed send; doubles each time",
    )
    group.add_argument(
        "--notify-retry-max-s",
        type=float,
        default=defaults.max_delay_s,
        help="the longest wait between two attempts",
    )
    group.add_argument(
        "--notify-attempts",
        type=int,
        default=defaults.max_attempts,
        help="attempts before a delivery is given up and marked failed",
    )
    group.add_argument("--notify-timeout-s", type=float, default=10.0)  # fmt: skip


def from_arguments(args: argparse.Namespace) -> NotifySettings:
    retry = RetryPolicy(first_s=args.notify_retry_s, max_delay_s=args.notify_retry_max_s,
                        max_attempts=args.notify_attempts)  # fmt: skip
    return NotifySettings(public_url=args.public_url, smtp_url=args.smtp_url or None,
                          retry=retry, timeout_s=args.notify_timeout_s)  # fmt: skip


def build_worker(
    engine: Engine, clock: Clock, settings: NotifySettings, *, owner: str, host: str, port: int
) -> DeliveryWorker:
    public_url = settings.public_url or f"http://{host}:{port}"
    senders = Senders(smtp_url=settings.smtp_url, timeout_s=settings.timeout_s)
    options = WorkerOptions(public_url=public_url, retry=settings.retry)
    return DeliveryWorker(engine, senders, clock, owner=owner, options=options)
