"""Which API token to show which node when fetching its clip (`--node-token-file`).

A node whose API listens beyond loopback protects its reads with its `api.token`, the clip
route included. Each entry is `FILE` (every node) or `SITE/NODE=FILE` (that node; it wins).
The files are read at each fetch, so a node's rotated token needs only the file changed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)
_NODE = re.compile(r"^([^/=\s]+)/([^/=\s]+)=(.+)$")


@dataclass(frozen=True, slots=True)
class NodeTokens:
    default: Path | None = None
    per_node: Mapping[tuple[str, str], Path] = field(default_factory=dict)

    def token_for(self, site: str, node: str) -> str | None:
        path = self.per_node.get((site, node), self.default)
        if path is None:
            return None
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            # Fetched without it: the node answers 401, recorded as `refused` on the case.
            logger.error("node token file %s: %s", path, exc.strerror)
            return None
        return token or None


def parse_node_tokens(entries: Iterable[str]) -> NodeTokens:
    """`FILE` or `SITE/NODE=FILE`; a second default or a node named twice is refused."""
    default: Path | None = None
    per_node: dict[tuple[str, str], Path] = {}
    for entry in entries:
        found = _NODE.match(entry.strip())
        if found is None:
            if "=" in entry:
                raise ValueError(f"node-token-file: {entry!r} is not FILE or SITE/NODE=FILE")
            if default is not None:
                raise ValueError("node-token-file: more than one file for every node")
            default = Path(entry.strip())
            continue
        key = (found.group(1), found.group(2))
        if key in per_node:
            raise ValueError(f"node-token-file: {key[0]}/{key[1]} is named twice")
        per_node[key] = Path(found.group(3))
    return NodeTokens(default, per_node)
