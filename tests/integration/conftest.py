"""Fixtures for integration tests: a private Mosquitto per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.broker import MosquittoBroker, find_mosquitto


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A Mosquitto on a free 127.0.0.1 port with persistence in tmp; always stopped afterwards."""
    executable = find_mosquitto()
    if executable is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto); CI installs it")
    instance = MosquittoBroker(executable, tmp_path / "broker")
    instance.start()
    try:
        yield instance
    finally:
        instance.kill()
