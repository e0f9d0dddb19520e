"""Fixtures of the console's tests: a real Mosquitto, each test on SQLite and PostgreSQL, and
for the page tests headless Chromium (one browser per module, a tab opener per test)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Imported here: pagekit imports helpers, which import Backend from this module.
    from tests.console.pagekit import launch_browser  # noqa: PLC0415

    yield from launch_browser()


@pytest.fixture
def open_tab(browser: Any) -> Iterator[Callable[..., Any]]:
    """Opens tabs at a size (desktop or phone); a JavaScript error on any page fails the test."""
    from tests.console.pagekit import tab_opener  # noqa: PLC0415

    errors: list[str] = []
    contexts: list[Any] = []
    yield tab_opener(browser, errors, contexts)
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def served(console: Any) -> Iterator[Any]:
    """The module's `console` fixture under a real uvicorn on a free port (pagekit.Served)."""
    from tests.console.pagekit import Served  # noqa: PLC0415

    server = Served(console)
    yield server
    server.stop()
