"""Read an untrusted file and its YAML with a bound on everything: bytes, nesting, values.

`edge check-config` must answer every file, and the HTTP API checks whatever text a client
sends, so nothing here reads without a limit, blocks, or recurses without a bound:

- `read_limited` reads at most `limit` bytes of a regular file: a FIFO, a device such as
  /dev/zero or a directory is refused at once instead of blocking or filling memory.
- `parse_yaml` takes libyaml's events (or PyYAML's where libyaml is missing) and builds the
  node tree itself, without recursion: at most `MAX_CONFIG_BYTES` of text, `MAX_DEPTH` levels
  and `MAX_NODES` values, both counted with what aliases repeat (so a "billion laughs" file is
  refused after `MAX_NODES`, not expanded); an alias inside its own anchor is refused; a key
  written twice in one mapping is refused, naming both lines (YAML would keep the last one
  silently). A value PyYAML cannot build (a 5,000-digit integer, 2024-13-45) is an error at its
  line, never an exception out of here.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MAX_CONFIG_BYTES = 1_000_000
"""A site config: a real one is tens of kilobytes."""
MAX_DEPTH = 32
"""Nesting levels, aliases expanded; the deepest key of a valid config is 8 levels down."""
MAX_NODES = 50_000
"""Values (scalars, lists, mappings, keys included), aliases expanded."""

Loc = tuple[int | str, ...]

# libyaml's parser is about twenty times faster than PyYAML's and has its own nesting limit.
_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class FileProblemError(ValueError):
    """A file cannot be read as asked; the message says why, naming the file."""


def read_limited(path: Path, limit: int) -> bytes:
    """At most `limit` bytes of the regular file at `path`; FileProblemError otherwise.

    Opened non-blocking and checked with fstat before the first read, so a FIFO never blocks and
    a character device (/dev/zero, /dev/urandom) is never read at all.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError) as exc:
        raise FileProblemError(f"cannot read {path}: {_why(exc)}") from exc
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FileProblemError(f"{path} is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise FileProblemError(f"{path} is not a regular file (a pipe, socket or device)")
        if info.st_size > limit:
            raise FileProblemError(f"{path} is {info.st_size} bytes, over the limit of {limit}")
        chunks: list[bytes] = []
        total = 0
        while total <= limit:  # the size may change under us: count what is actually read
            chunk = os.read(fd, min(1 << 16, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise FileProblemError(f"{path} is over the limit of {limit} bytes")
        return b"".join(chunks)
    except OSError as exc:
        raise FileProblemError(f"cannot read {path}: {_why(exc)}") from exc
    finally:
        os.close(fd)


def _why(exc: BaseException) -> str:
    if isinstance(exc, ValueError):
        return "the path holds a NUL character"
    if isinstance(exc, OSError) and exc.errno == errno.ENOENT:
        return "no such file"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


@dataclass(frozen=True, slots=True)
class YamlProblem:
    line: int
    loc: Loc
    message: str


class YamlProblemsError(Exception):
    """The text is not a YAML document this node will read; `problems` says where and why."""

    def __init__(self, problems: list[YamlProblem]) -> None:
        super().__init__("; ".join(f"line {p.line}: {p.message}" for p in problems))
        self.problems = problems


class _AbortError(Exception):
    def __init__(self, problem: YamlProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass(slots=True)
class _Open:
    """A sequence or mapping whose end event has not come yet."""

    node: yaml.SequenceNode | yaml.MappingNode
    loc: Loc
    anchor: str | None
    size: int = 1
    height: int = 1
    key: yaml.Node | None = None
    keys: dict[tuple[str, str], int] = field(default_factory=dict)


class _Builder(yaml.SafeLoader):
    """PyYAML's resolver and safe constructor, over nodes built elsewhere. A value that
    cannot be built raises _BadValue naming its node, not ValueError from deep inside."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except _BadValueError:
            raise
        except yaml.MarkedYAMLError as exc:  # an unknown tag, an unhashable key
            mark = exc.problem_mark or node.start_mark
            raise _BadValueError(node, _line(mark), f"not valid YAML: {exc.problem}") from exc
        except Exception as exc:  # int(), datetime(), base64 and friends raise their own
            message = f"cannot read this value: {exc}"
            raise _BadValueError(node, _line(node.start_mark), message) from exc


class _BadValueError(Exception):
    def __init__(self, node: yaml.Node, line: int, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.line = line
        self.message = message


def _line(mark: Any) -> int:
    return int(getattr(mark, "line", 0)) + 1


def _key_text(node: yaml.Node | None) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


class _Composer:
    """yaml.compose without recursion, counting values and levels as it goes."""

    def __init__(self, resolver: _Builder) -> None:
        self.resolver = resolver
        self.stack: list[_Open] = []
        self.anchors: dict[str, tuple[yaml.Node, int, int]] = {}  # node, size, height
        self.anchor_names: set[str] = set()
        self.locs: dict[int, Loc] = {}
        self.nodes = 0
        self.root: yaml.Node | None = None
        self.documents = 0
        self.duplicates: list[YamlProblem] = []

    def run(self, text: str) -> yaml.Node | None:
        for event in yaml.parse(text, Loader=_LOADER):
            self.event(event)
        return self.root

    def child_loc(self) -> Loc:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.node, yaml.SequenceNode):
            return (*top.loc, len(top.node.value))
        if top.key is None:
            return top.loc  # a key: its problems are the mapping's
        key = _key_text(top.key)
        return (*top.loc, key if key is not None else "?")

    def fail(self, mark: Any, message: str) -> None:
        raise _AbortError(YamlProblem(_line(mark), self.child_loc(), message))

    def event(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                self.fail(event.start_mark, "holds more than one YAML document (---)")
        elif isinstance(event, yaml.AliasEvent):
            self.alias(event)
        elif isinstance(event, yaml.ScalarEvent):
            tag = self.tag(event, yaml.ScalarNode, event.value)
            start: Any = event.start_mark
            end: Any = event.end_mark
            node = yaml.ScalarNode(tag, event.value, start, end, style=event.style)
            self.new(node, event)
            if event.anchor is not None:
                self.anchors[event.anchor] = (node, 1, 1)
            self.attach(node, 1, 1)
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            self.start(event)
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            top = self.stack.pop()
            top.node.end_mark = event.end_mark
            if top.anchor is not None:
                self.anchors[top.anchor] = (top.node, top.size, top.height)
            self.attach(top.node, top.size, top.height)

    def new(self, node: yaml.Node, event: yaml.NodeEvent) -> None:
        if len(self.stack) >= MAX_DEPTH:
            self.fail(event.start_mark, f"nested more than {MAX_DEPTH} levels deep")
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self.fail(event.start_mark, f"holds more than {MAX_NODES} values")
        if event.anchor is not None:
            if event.anchor in self.anchor_names:
                self.fail(event.start_mark, f"anchor &{event.anchor} is defined twice")
            self.anchor_names.add(event.anchor)
        self.locs.setdefault(id(node), self.child_loc())

    def tag(self, event: Any, kind: type[yaml.Node], value: str | None) -> str:
        """The event's tag, or the one the safe resolver gives an untagged value."""
        tag = event.tag
        if tag is None or tag == "!":
            resolve: Any = self.resolver.resolve
            tag = resolve(kind, value, event.implicit)
        return str(tag)

    def start(self, event: yaml.SequenceStartEvent | yaml.MappingStartEvent) -> None:
        node: yaml.SequenceNode | yaml.MappingNode
        mark: Any = event.start_mark
        if isinstance(event, yaml.SequenceStartEvent):
            tag = self.tag(event, yaml.SequenceNode, None)
            node = yaml.SequenceNode(tag, [], mark, None, flow_style=event.flow_style)
        else:
            tag = self.tag(event, yaml.MappingNode, None)
            node = yaml.MappingNode(tag, [], mark, None, flow_style=event.flow_style)
        loc = self.child_loc()
        self.new(node, event)
        self.stack.append(_Open(node, loc, event.anchor))

    def alias(self, event: yaml.AliasEvent) -> None:
        found = self.anchors.get(str(event.anchor))
        if found is None:
            if any(o.anchor == event.anchor for o in self.stack):
                self.fail(event.start_mark, f"alias *{event.anchor} is inside its own anchor")
            self.fail(event.start_mark, f"alias *{event.anchor} names no anchor defined before it")
            return
        node, size, height = found
        self.nodes += size
        if self.nodes > MAX_NODES:
            self.fail(
                event.start_mark,
                f"holds more than {MAX_NODES} values, counting what aliases repeat",
            )
        self.attach(node, size, height)

    def attach(self, node: yaml.Node, size: int, height: int) -> None:
        if len(self.stack) + height > MAX_DEPTH:
            self.fail(
                node.start_mark, f"nested more than {MAX_DEPTH} levels deep, counting aliases"
            )
        if not self.stack:
            self.root = node
            return
        top = self.stack[-1]
        top.size += size
        top.height = max(top.height, height + 1)
        if isinstance(top.node, yaml.SequenceNode):
            top.node.value.append(node)
        elif top.key is None:
            top.key = node
            self.check_duplicate(top, node)
        else:
            top.node.value.append((top.key, node))
            top.key = None

    def check_duplicate(self, top: _Open, key: yaml.Node) -> None:
        if not isinstance(key, yaml.ScalarNode):
            return
        line = _line(key.start_mark)
        ident = (str(key.tag), str(key.value))
        first = top.keys.get(ident)
        if first is None:
            top.keys[ident] = line
        else:
            shown = str(key.value)[:80]
            self.duplicates.append(
                YamlProblem(
                    line,
                    (*top.loc, str(key.value)),
                    f"duplicate key {shown!r}: first on line {first}, again on line {line}; "
                    "YAML would silently keep the last one",
                )
            )


def parse_yaml(text: str) -> tuple[Any, yaml.Node | None]:
    """The data of a one-document YAML text and its node tree (for line numbers).

    Raises YamlProblemsError; never anything else for any text.
    """
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        line = text.count("\n", 0, exc.start) + 1
        raise YamlProblemsError([YamlProblem(line, (), "is not valid UTF-8 text")]) from exc
    if size > MAX_CONFIG_BYTES:
        message = f"is {size} bytes, over the limit of {MAX_CONFIG_BYTES}"
        raise YamlProblemsError([YamlProblem(1, (), message)])
    builder = _Builder("")
    composer = _Composer(builder)
    try:
        root = composer.run(text)
    except _AbortError as exc:
        raise YamlProblemsError([exc.problem]) from None
    except yaml.YAMLError as exc:
        raise YamlProblemsError([_syntax_problem(exc, text)]) from None
    if composer.duplicates:
        raise YamlProblemsError(composer.duplicates)
    if root is None:
        return None, None
    try:
        data = builder.construct_document(root)
    except _BadValueError as exc:
        loc = composer.locs.get(id(exc.node), ())
        raise YamlProblemsError([YamlProblem(exc.line, loc, exc.message)]) from None
    except yaml.YAMLError as exc:
        raise YamlProblemsError([_syntax_problem(exc, text)]) from None
    except Exception as exc:  # a bound above should make this unreachable; never a traceback
        message = f"cannot read this YAML: {type(exc).__name__}: {exc}"
        raise YamlProblemsError([YamlProblem(1, (), message)]) from None
    return data, root


def _syntax_problem(exc: yaml.YAMLError, text: str) -> YamlProblem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        line = _line(mark)
    else:  # a ReaderError: a position in the (UTF-8) input
        position = int(getattr(exc, "position", 0) or 0)
        line = text.encode("utf-8", "replace")[:position].count(b"\n") + 1
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
    return YamlProblem(line, (), f"not valid YAML: {problem}")
