"""The one loopback check the node and the console share (grid_contract/hosts.py)."""

from __future__ import annotations

import pytest

from grid_contract.hosts import is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("api.localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        (" 127.0.0.1 ", True),
        ("0.0.0.0", False),  # a wildcard listens everywhere
        ("::", False),
        ("192.168.1.5", False),
        ("localhost.example.com", False),
        ("broker", False),
        ("", False),
        (None, False),
    ],
)
def test_only_this_machine_is_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback
