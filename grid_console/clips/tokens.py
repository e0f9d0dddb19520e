"""Which API token to show which node when fetching its clip (`--node-token-file`).

A node whose API listens beyond loopback protects its reads with its `api.token`, the clip
route included. Each entry is `FILE` (every node) or `SITE/NODE=FILE` (that node; it wins).
The files are read at each fetch, so a node's rotated token needs only the file changed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from grid_console.per_node import PerNodeFiles, parse_per_node_files

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NodeTokens:
    files: PerNodeFiles = field(default_factory=PerNodeFiles)

    def token_for(self, site: str, node: str) -> str | None:
        path = self.files.path_for(site, node)
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
    return NodeTokens(parse_per_node_files(entries, "node-token-file"))
