"""Options that name a file for every node or for one: `FILE` or `SITE/NODE=FILE`.

`--node-token-file` and `--command-key-file` both take such entries (repeatable): `FILE` alone
is the file of every node, `SITE/NODE=FILE` that node's, and the node's own wins. What the files
hold, and when they are read, is the caller's business.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

_NODE = re.compile(r"^([^/=\s]+)/([^/=\s]+)=(.+)$")


@dataclass(frozen=True, slots=True)
class PerNodeFiles:
    default: Path | None = None
    per_node: Mapping[tuple[str, str], Path] = field(default_factory=dict)

    def path_for(self, site: str, node: str) -> Path | None:
        return self.per_node.get((site, node), self.default)


def parse_per_node_files(entries: Iterable[str], option: str) -> PerNodeFiles:
    """`FILE` or `SITE/NODE=FILE`; a second default or a node named twice is refused, with
    `option` (e.g. `node-token-file`) named first."""
    default: Path | None = None
    per_node: dict[tuple[str, str], Path] = {}
    for entry in entries:
        found = _NODE.match(entry.strip())
        if found is None:
            if "=" in entry:
                raise ValueError(f"{option}: {entry!r} is not FILE or SITE/NODE=FILE")
            if default is not None:
                raise ValueError(f"{option}: more than one file for every node")
            default = Path(entry.strip())
            continue
        key = (found.group(1), found.group(2))
        if key in per_node:
            raise ValueError(f"{option}: {key[0]}/{key[1]} is named twice")
        per_node[key] = Path(found.group(3))
    return PerNodeFiles(default, per_node)
