"""The node's MQTT client id cannot be guessed, and stays the same across restarts."""

from __future__ import annotations

import re
from pathlib import Path

from edge.mqtt.clientid import FILE_NAME, client_id


def test_the_id_has_a_random_part_kept_per_install(tmp_path: Path) -> None:
    first = client_id(tmp_path / "a", "xizhen", "gate-1", None)
    assert re.fullmatch(r"gs-xizhen-gate-1-[0-9a-f]{16}", first)
    assert client_id(tmp_path / "a", "xizhen", "gate-1", None) == first  # a restart: the same
    assert client_id(tmp_path / "b", "xizhen", "gate-1", None) != first  # another install


def test_a_damaged_file_gets_a_fresh_id_and_a_configured_id_wins(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / FILE_NAME).write_text("gs-xizhen-gate-1\n")  # guessable: never used as is
    made = client_id(tmp_path, "xizhen", "gate-1", None)
    assert re.fullmatch(r"gs-xizhen-gate-1-[0-9a-f]{16}", made)
    assert client_id(tmp_path, "xizhen", "gate-1", "installer-choice") == "installer-choice"
