"""Fixtures shared by every test: where the real models and footage live.

`GRID_SHARED_DIR` points at the shared material (models, footage, datasets); by default it is the
`shared/` directory beside this repository, as CI lays it out. Tests that need it skip with a
clear reason when it is absent; in CI it is present, so they run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.broker import MosquittoBroker, find_mosquitto
from tests.integration.pki import Pki, have_openssl, make_pki

REPO = Path(__file__).resolve().parent.parent


def _shared_dir() -> Path:
    env = os.environ.get("GRID_SHARED_DIR")
    return Path(env) if env else REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = _shared_dir()
    if not (path / "models").is_dir() or not (path / "data").is_dir():
        pytest.skip(f"shared material not found at {path} (set GRID_SHARED_DIR)")
    return path


@pytest.fixture(scope="session")
def models_dir(shared_dir: Path) -> Path:
    return shared_dir / "models"


@pytest.fixture(scope="session")
def data_dir(shared_dir: Path) -> Path:
    return shared_dir / "data"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A Mosquitto on a free 127.0.0.1 port with persistence in tmp; always stopped afterwards.

    For the node's integration tests and the console's tests alike."""
    executable = find_mosquitto()
    if executable is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto); CI installs it")
    instance = MosquittoBroker(executable, tmp_path / "broker")
    instance.start()
    try:
        yield instance
    finally:
        instance.kill()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA with broker and client certificates, for the node's and the console's
    TLS tests."""
    if not have_openssl():
        pytest.skip("openssl not installed (apt-get install openssl); CI installs it")
    return make_pki(tmp_path_factory.mktemp("pki"))
