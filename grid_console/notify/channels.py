"""A person's notification channels, as plain data handed over by the people/dispatch code."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

MAX_TARGET = 2048
MAX_NAME = 128


class ChannelKind(StrEnum):
    WECOM = "wecom"  # 企业微信 group robot: its webhook URL
    DINGTALK = "dingtalk"  # 钉钉 robot: its webhook URL, and the signing secret if set
    FEISHU = "feishu"  # 飞书 custom bot: its webhook URL, and the signing secret if set
    EMAIL = "email"  # an address; the console's SMTP server is configured once
    WEBHOOK = "webhook"  # any HTTP(S) endpoint; the secret signs every body (HMAC-SHA256)


_URL_KINDS = frozenset({ChannelKind.WECOM, ChannelKind.DINGTALK, ChannelKind.FEISHU,
                        ChannelKind.WEBHOOK})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Channel:
    kind: ChannelKind
    target: str
    secret: str | None = None

    def __post_init__(self) -> None:
        # Checked here, when the channel is handed over, not when a send fails at 3 a.m.
        try:
            kind = ChannelKind(self.kind)
        except ValueError:
            names = ", ".join(k.value for k in ChannelKind)
            raise ValueError(f"channel kind {self.kind!r} is not one of: {names}") from None
        object.__setattr__(self, "kind", kind)
        target = self.target.strip() if isinstance(self.target, str) else ""
        if not target:
            raise ValueError(f"{kind.value} channel: target is empty")
        if len(target) > MAX_TARGET:
            raise ValueError(f"{kind.value} channel: target is longer than {MAX_TARGET}")
        if kind in _URL_KINDS:
            parts = urlsplit(target)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{kind.value} channel: target {target!r} is not an http(s) URL")
        elif "@" not in target or any(c in target for c in " ,;<>\r\n"):
            raise ValueError(f"email channel: target {target!r} is not one e-mail address")
        object.__setattr__(self, "target", target)
        if self.secret is not None and not self.secret.strip():
            object.__setattr__(self, "secret", None)


@dataclass(frozen=True, slots=True)
class Recipient:
    name: str
    channels: tuple[Channel, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > MAX_NAME:
            raise ValueError(f"recipient name must be 1 to {MAX_NAME} characters")
        object.__setattr__(self, "channels", tuple(self.channels))


def recipient_from(
    name: str, channels: Iterable[tuple[str, str, str | None]]
) -> tuple[Recipient, list[str]]:
    """A Recipient from stored (kind, target, secret) rows, skipping the ones that are not valid
    any more, with the reason for each: one bad channel must not stop a dispatch."""
    good: list[Channel] = []
    problems: list[str] = []
    for kind, target, secret in channels:
        try:
            good.append(Channel(kind, target, secret))  # type: ignore[arg-type]  # checked there
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    return Recipient(name, tuple(good)), problems
