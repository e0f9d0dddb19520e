"""Fixtures' helpers for tests that talk to a real RTSP server (bench/rtsp): the footage they
stream, encoded once into the cache, and the server, skipped with a reason where it cannot run."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.rtsp.bench import unavailable
from bench.rtsp.footage import encode, recipes

# Short loops, cheap to encode on a cold cache: the road clip (9 s, real motion) and the
# lift cycle (10 s), as substreams, and the road clip as a 1080p main stream.
ROAD_SUB = "road-640x360-g50-512k"
ROAD_MAIN = "road-1920x1080-g50-3000k"
LIFT_SUB = "lift-640x360-g50-512k"


def footage(name: str) -> Path:
    reason = unavailable()
    if reason is not None:
        pytest.skip(f"RTSP bench unavailable: {reason}")
    return encode(recipes()[name])


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
