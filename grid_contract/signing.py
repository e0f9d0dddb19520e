"""Signed platform commands: HMAC-SHA256 over the topic and the whole body (mqtt/topics.md).

The broker's ACL already says who may publish on `{prefix}/cmd/#`, but an ACL is one mistake
away from open (an anonymous listener, a shared account). So the node checks each command
itself: the platform signs it with the node's key, and the node refuses anything unsigned,
badly signed, too old or seen before.

Wire format: the command's JSON object carries, beside its own fields,

    "by":    who acts (operator or patrol id), required: the audit trail names a person
    "ts":    when it was signed, integer milliseconds since the Unix epoch
    "nonce": 16-64 characters of [A-Za-z0-9_-], never reused
    "sig":   lower-case hex HMAC-SHA256(key, canonical(topic, body without "sig"))

canonical(topic, body) = b"gs-cmd/1\\n" + topic + b"\\n" + the body as JSON with keys sorted,
no spaces, non-ASCII characters as UTF-8 (not \\u escapes). Numbers in a signed body must be
integers: floats have more than one spelling across languages, integers have one.

The topic is signed so that an `ack` cannot be replayed as a `release`, nor one node's command
sent to another. Each node has its own key, so a stolen key commands one node only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

SCHEME = b"gs-cmd/1\n"
MIN_KEY_CHARS = 16
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_SIG = re.compile(r"^[0-9a-f]{64}$")
SIGNATURE_FIELDS = ("by", "ts", "nonce", "sig")


class Refusal(StrEnum):
    """Why a command was refused; the label of the node's refusal counter."""

    UNSIGNED = "unsigned"
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    STALE = "stale"
    REPLAYED = "replayed"
    NO_KEY = "no_key"


class CommandRefusedError(ValueError):
    """A command that did not pass the checks; `cause` for counting, the message for replies."""

    def __init__(self, cause: Refusal, message: str) -> None:
        super().__init__(message)
        self.cause = cause


def canonical(topic: str, body: Mapping[str, object]) -> bytes:
    """The exact bytes that are signed: the scheme, the topic, the body without `sig`."""
    unsigned = {k: v for k, v in body.items() if k != "sig"}
    _check_numbers(unsigned)
    text = json.dumps(
        unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return SCHEME + topic.encode("utf-8") + b"\n" + text.encode("utf-8")


def _check_numbers(value: object) -> None:
    if isinstance(value, float):
        raise CommandRefusedError(Refusal.MALFORMED, "numbers in a signed command must be integers")
    if isinstance(value, Mapping):
        for item in value.values():
            _check_numbers(item)
    elif isinstance(value, list):
        for item in value:
            _check_numbers(item)


def signature(key: str, topic: str, body: Mapping[str, object]) -> str:
    return hmac.new(key.encode("utf-8"), canonical(topic, body), hashlib.sha256).hexdigest()


def new_nonce() -> str:
    return secrets.token_urlsafe(18)  # 24 characters, 144 random bits


def sign(
    key: str,
    topic: str,
    body: Mapping[str, object],
    *,
    by: str,
    now: float,
    nonce: str | None = None,
) -> dict[str, object]:
    """`body` with `by`, `ts`, `nonce` and `sig` added, ready to publish on `topic`.

    `now` is Unix time in seconds (the caller's clock, injected).
    """
    signed: dict[str, object] = {k: v for k, v in body.items() if k not in SIGNATURE_FIELDS}
    signed.update(by=by, ts=int(now * 1000), nonce=nonce or new_nonce())
    signed["sig"] = signature(key, topic, signed)
    return signed


def generate_key() -> str:
    """A fresh per-node command key (43 URL-safe characters, 256 random bits)."""
    return secrets.token_urlsafe(32)


class NonceStore(Protocol):
    def claim(self, nonce: str, expires_at: float) -> bool:
        """Record `nonce` until `expires_at` (Unix s); False if it was already recorded."""
        ...


class MemoryNonces:
    """Nonces remembered in memory, bounded: full of unexpired nonces, it refuses new ones.

    Refusing is the safe side: forgetting an unexpired nonce would let its command be replayed.
    """

    def __init__(self, now: Callable[[], float], max_entries: int = 100_000) -> None:
        self._now = now
        self._max = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, nonce: str, expires_at: float) -> bool:
        with self._lock:
            cutoff = self._now()
            # Expiry times arrive nearly in order (they are signing time + a constant), so the
            # oldest entries are the first to go; one out of order only lives a little longer.
            while self._seen and next(iter(self._seen.values())) <= cutoff:
                self._seen.popitem(last=False)
            if nonce in self._seen:
                return False
            if len(self._seen) >= self._max:
                raise CommandRefusedError(
                    Refusal.REPLAYED, "too many recent commands; try again later"
                )
            self._seen[nonce] = expires_at
            return True


@dataclass(frozen=True, slots=True)
class Verified:
    """A command that passed: who signed it for, and when."""

    by: str
    ts: float


class Verifier:
    """Checks signed commands for one node: signature, age, and that each nonce is new."""

    def __init__(self, key: str, nonces: NonceStore, *, max_age_s: float) -> None:
        if len(key) < MIN_KEY_CHARS:
            raise ValueError(f"a command key needs at least {MIN_KEY_CHARS} characters")
        self._key = key
        self._nonces = nonces
        self._max_age_s = max_age_s

    def verify(self, topic: str, body: Mapping[str, object], now: float) -> Verified:
        """Return who and when, or raise CommandRefusedError with the cause. `now`: Unix seconds."""
        sig = body.get("sig")
        if sig is None:
            raise CommandRefusedError(Refusal.UNSIGNED, "command is not signed (no 'sig' field)")
        by, ts, nonce = body.get("by"), body.get("ts"), body.get("nonce")
        if not isinstance(sig, str) or not _SIG.match(sig):
            raise CommandRefusedError(Refusal.MALFORMED, "'sig' must be 64 lower-case hex digits")
        if not isinstance(by, str) or not 0 < len(by) <= 128:
            raise CommandRefusedError(Refusal.MALFORMED, "'by' must name who acts (1-128 chars)")
        if not isinstance(ts, int) or isinstance(ts, bool):
            raise CommandRefusedError(Refusal.MALFORMED, "'ts' must be integer Unix milliseconds")
        if not isinstance(nonce, str) or not _NONCE.match(nonce):
            raise CommandRefusedError(Refusal.MALFORMED, "'nonce' must be 16-64 of [A-Za-z0-9_-]")
        expected = signature(self._key, topic, body)
        if not hmac.compare_digest(expected, sig):
            raise CommandRefusedError(Refusal.BAD_SIGNATURE, "signature does not match")
        age = now - ts / 1000.0
        if abs(age) > self._max_age_s:
            when = "old" if age > 0 else "in the future"
            raise CommandRefusedError(
                Refusal.STALE,
                f"signed {abs(age):.0f} s {when}; accepted within {self._max_age_s:.0f} s "
                "(check the clocks, or re-sign and resend)",
            )
        # Remembered until it could no longer pass the age check anyway.
        if not self._nonces.claim(nonce, ts / 1000.0 + self._max_age_s):
            raise CommandRefusedError(Refusal.REPLAYED, "this command (its nonce) was already used")
        return Verified(by=by, ts=ts / 1000.0)
