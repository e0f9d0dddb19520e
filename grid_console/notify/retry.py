"""When to try a failed delivery again: exponential backoff with a cap, and a last attempt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first_s: float = 10.0
    factor: float = 2.0
    max_delay_s: float = 600.0
    max_attempts: int = 10  # 10 s, 20 s, 40 s ... 10 min: about 45 minutes in all

    def __post_init__(self) -> None:
        if self.first_s <= 0 or self.factor < 1 or self.max_delay_s < self.first_s:
            raise ValueError("retry: need first_s > 0, factor >= 1 and max_delay_s >= first_s")
        if self.max_attempts < 1:
            raise ValueError("retry: max_attempts must be at least 1")

    def delay_after(self, attempts: int) -> timedelta | None:
        """The wait after `attempts` failed attempts, or None when it was the last one."""
        if attempts >= self.max_attempts:
            return None
        seconds = self.first_s * self.factor ** (attempts - 1)
        return timedelta(seconds=min(seconds, self.max_delay_s))
