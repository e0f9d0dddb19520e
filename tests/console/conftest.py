"""Fixtures of the console's tests: a real Mosquitto, and each test on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.console.pg import PostgresCluster, find_bindir

_names = itertools.count(1)


@dataclass(frozen=True)
class Backend:
    name: str  # sqlite | postgresql
    url: str  # "" for SQLite: the console's default, a file in its data directory


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One throwaway cluster for the session; every test gets its own database in it."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql); CI installs it")
    cluster = PostgresCluster(bindir)
    try:
        cluster.start()
    except Exception:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", "")
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    name = f"console_{next(_names)}"
    url = cluster.create_database(name)
    yield Backend("postgresql", url)
    cluster.drop_database(name)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "command.key"
    path.write_text("console-test-key-0123456789abcdef\n", encoding="utf-8")
    return path
