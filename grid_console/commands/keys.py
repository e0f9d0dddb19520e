"""Which key signs a command to which node (`--command-key-file`, repeatable).

Each node has its own key (the node's `commands.key`), so a stolen key commands one node only:
an entry `SITE/NODE=FILE` is that node's key, `FILE` alone the key of every node without one.
The files are read once, at start: a missing, unreadable or short key refuses the start naming
the entry, rather than being found when a false alarm's `release` is due.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from grid_console.per_node import PerNodeFiles
from grid_contract.signing import MIN_KEY_CHARS

OPTION = "command-key-file"


@dataclass(frozen=True, slots=True)
class CommandKeys:
    """The keys themselves, never shown in a repr or a log."""

    default: str | None = field(default=None, repr=False)
    per_node: Mapping[tuple[str, str], str] = field(default_factory=dict, repr=False)

    def key_for(self, site: str, node: str) -> str | None:
        return self.per_node.get((site, node), self.default)

    def describe(self) -> dict[str, object]:
        """For /api/health: whether every node has a key, and which nodes have their own."""
        nodes = sorted(f"{site}/{node}" for site, node in self.per_node)
        return {"every_node": self.default is not None, "nodes": nodes}

    def __bool__(self) -> bool:
        return self.default is not None or bool(self.per_node)


def read_command_keys(files: PerNodeFiles) -> CommandKeys:
    """Read and check every file now; a ValueError names the option, the entry and the file."""
    default = _read(files.default, "FILE") if files.default is not None else None
    per_node = {
        (site, node): _read(path, f"{site}/{node}") for (site, node), path in files.per_node.items()
    }
    return CommandKeys(default, per_node)


def _read(path: Path, entry: str) -> str:
    where = f"{OPTION}: {path}" if entry == "FILE" else f"{OPTION}: {entry}={path}"
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(
            f"{where}: 无法读取命令密钥文件 / cannot read the command key file ({exc.strerror})"
        ) from None
    except UnicodeDecodeError:
        raise ValueError(
            f"{where}: 命令密钥文件不是 UTF-8 文本 / the command key file is not UTF-8 text"
        ) from None
    if len(key) < MIN_KEY_CHARS:
        raise ValueError(
            f"{where}: 命令密钥少于 {MIN_KEY_CHARS} 个字符 / the command key is shorter than "
            f"{MIN_KEY_CHARS} characters (edge keygen makes one)"
        )
    return key


def node_of(topic: str) -> tuple[str, str] | None:
    """The site and node a command topic is addressed to.

    The console builds every command topic as `{root}/{site}/{node}/cmd/{command}` (the prefix
    it learnt from the node's topics, grid_console/ingest/topics.py), so site and node are the
    two levels before `cmd`, however many levels the root has.
    """
    levels = topic.split("/")
    if len(levels) < 5 or levels[-2] != "cmd":
        return None
    return levels[-4], levels[-3]
