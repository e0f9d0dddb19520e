"""Time, injected: every module that needs "now" takes a Clock instead of reading the wall clock.

Tests pass a clock they control; the service passes `system_clock`. Times are aware datetimes
in UTC everywhere inside the console; they are converted only at the edges (JSON, signing).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp of the contract (`2026-11-23T14:20:01.250Z`) as an aware UTC time."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return value.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """The contract's form: UTC, milliseconds, `Z`."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
