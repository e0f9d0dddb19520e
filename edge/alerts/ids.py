"""Alert ids: ULIDs, sortable by creation time and unique without coordination."""

from __future__ import annotations

import os
from collections.abc import Callable

from edge.clock import Clock

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def encode_ulid(millis: int, randomness: bytes) -> str:
    """26 Crockford base-32 characters: 48 bits of milliseconds, then 80 random bits."""
    if len(randomness) != 10 or not 0 <= millis < 2**48:
        raise ValueError("a ULID needs 48 bits of time and 10 random bytes")
    value = (millis << 80) | int.from_bytes(randomness, "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


class UlidFactory:
    def __init__(self, clock: Clock, random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        self._clock = clock
        self._random = random_bytes

    def __call__(self) -> str:
        return encode_ulid(int(self._clock.now() * 1000), self._random(10))
