"""Every kind a person can meet has its words, in Python (messages, exports) and on the pages.

A node-offline case once reached a WeCom message as `node_offline`: the console raises that
kind itself, and the Python names lacked it while the pages had it.
"""

from __future__ import annotations

import re
from pathlib import Path

from edge.messages import AlertKind
from grid_console.cases.health import KIND_OF
from grid_console.cases.labels import KIND_NAMES

COMMON_JS = Path(__file__).parents[2] / "grid_console" / "web" / "static" / "common.js"


def _page_kinds() -> list[set[str]]:
    """The `kind.*` keys of each language's dictionary in common.js, in file order."""
    text = COMMON_JS.read_text(encoding="utf-8")
    parts = re.split(r"^\s*(?:zh|en)\s*:\s*\{", text, flags=re.MULTILINE)[1:]
    return [set(re.findall(r'"kind\.([a-z_]+)"', part)) for part in parts]


def test_every_kind_a_node_or_the_console_raises_has_chinese_and_english_words() -> None:
    raised = {k.value for k in AlertKind} | set(KIND_OF.values())
    missing = sorted(raised - set(KIND_NAMES))
    assert not missing, f"no words for {missing} in grid_console/cases/labels.py"
    for kind in raised:
        zh, en = KIND_NAMES[kind]
        assert re.search(r"[\u4e00-\u9fff]", zh), kind
        assert en and "_" not in en, kind  # words, not the code


def test_the_pages_and_the_messages_name_the_same_kinds() -> None:
    languages = _page_kinds()
    assert len(languages) == 2, "common.js should hold a zh and an en dictionary"
    for kinds in languages:
        assert kinds == set(KIND_NAMES)
