"""Read and replace one camera's zones in the config text, keeping the file's comments and order.

The edit is a ruamel.yaml round trip: the document is loaded with its comments, key order,
quoting and flow/block styles, the camera's `zones` list is changed in place and the document is
written back. A zone whose id is kept is updated key by key, so its own comments and key order
survive and new keys go last; a new zone is written in block style with its polygon on one line.
The indentation of the file (mapping indent, and how far a `- ` sits under its key) is measured
and kept.

ruamel re-emits the whole document, and its emitter re-wraps a long flow mapping its own way.
So only the edited camera's `zones` value is taken from its output and spliced into the file's
own text (spans from PyYAML's node marks), and a zone that did not change keeps its original
text: everything the installer did not touch stays byte for byte. Every result is parsed again
and must equal the intended data; if the splice cannot be made, the whole ruamel output is used,
and if that fails too, the document is dumped plainly and its comments are lost (logged).
"""

from __future__ import annotations

import io
import itertools
import logging
import re
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.error import YAMLError as RuamelError
from ruamel.yaml.tokens import CommentToken

log = logging.getLogger(__name__)

ZoneDict = dict[str, Any]
# libyaml's parser when PyYAML has it (about ten times faster than the pure-Python one; its marks
# count characters too, so they index the text the same way).
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)


_KEY_ONLY = re.compile(r"^(\s*)(?:- )?[^#\s][^:#]*:\s*(?:#.*)?$")


class CameraNotInFileError(KeyError):
    """The camera id is not in the file's `cameras` list."""


def _camera_list(data: object) -> list[Any]:
    if not isinstance(data, dict) or not isinstance(data.get("cameras"), list):
        raise CameraNotInFileError("the config has no cameras list")
    cameras: list[Any] = data["cameras"]
    return cameras


def _camera_index(cameras: list[Any], camera_id: str) -> int:
    for i, cam in enumerate(cameras):
        if isinstance(cam, dict) and str(cam.get("id")) == camera_id:
            return i
    raise CameraNotInFileError(f"no camera {camera_id!r} in the config file")


def zones_of(text: str, camera_id: str) -> list[ZoneDict]:
    """The camera's zones as the file has them (only the keys it has)."""
    cameras = _camera_list(_load(text))
    zones = cameras[_camera_index(cameras, camera_id)].get("zones") or []
    return [z for z in zones if isinstance(z, dict)] if isinstance(zones, list) else []


def measure_indent(text: str) -> tuple[int, int]:
    """(mapping indent, offset of a `- ` under its key) as the file writes them; (2, 2) if the
    file never shows them. A key with no value on its line is followed by what it holds."""
    mapping: int | None = None
    offset: int | None = None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    for line, after in itertools.pairwise(lines):
        m = _KEY_ONLY.match(line)
        if m is None:
            continue
        # A key after "- " sits two columns right of the dash.
        col = len(m.group(1)) + (2 if line.lstrip().startswith("- ") else 0)
        inner = len(after) - len(after.lstrip())
        if inner <= col and not after.lstrip().startswith("- "):
            continue
        if after.lstrip().startswith("- "):
            offset = inner - col if offset is None else offset
        elif mapping is None:
            mapping = inner - col
        if mapping is not None and offset is not None:
            break
    mapping = mapping if mapping and mapping > 0 else 2
    offset = offset if offset is not None and offset >= 0 else 2
    return mapping, offset


def _round_trip(text: str) -> YAML:
    mapping, offset = measure_indent(text)
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 100
    rt.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    return rt


def _flow(value: list[Any]) -> CommentedSeq:
    seq = CommentedSeq(_flow(v) if isinstance(v, list) else v for v in value)
    seq.fa.set_flow_style()
    return seq


def _value(key: str, value: Any) -> Any:
    """Lists (polygon, categories) on one line, as the examples write them."""
    if isinstance(value, list):
        return _flow(value)
    if isinstance(value, dict):
        inner = CommentedMap()
        for k, v in value.items():
            inner[k] = _value(k, v)
        return inner
    return value


def _take_trailing(zone: CommentedMap) -> str:
    """The full-line comments ruamel keeps behind the zone's last key (often the heading of
    what follows), taken off it; its end-of-line comment stays."""
    if not zone or zone.fa.flow_style():
        return ""
    slots = zone.ca.items.get(list(zone)[-1])
    token = slots[2] if slots and len(slots) > 2 else None
    if not isinstance(token, CommentToken) or "\n" not in token.value.rstrip("\n"):
        return ""
    first, _, rest = token.value.partition("\n")
    if first.strip():
        token.value = first + "\n"
    else:
        slots[2] = None
    return rest


def _give_trailing(zone: CommentedMap, rest: str) -> None:
    """Put the comments back behind whatever is now the zone's last key."""
    if not rest or not zone:
        return
    slots = zone.ca.items.setdefault(list(zone)[-1], [None, None, None, None])
    token = slots[2]
    if isinstance(token, CommentToken):
        token.value = token.value.rstrip("\n") + "\n" + rest
    else:
        slots[2] = CommentToken("\n" + rest, CommentMark(0), None)


def _update(old: CommentedMap, new: ZoneDict) -> CommentedMap:
    """The old mapping changed to hold exactly `new`: kept keys keep their place and comments,
    new keys go last, before the comments that followed the zone."""
    trailing = _take_trailing(old)
    _change(old, new)
    _give_trailing(old, trailing)
    return old


def _change(old: CommentedMap, new: ZoneDict) -> CommentedMap:
    for key in [k for k in old if k not in new]:
        del old[key]
    for key, value in new.items():
        if key in old and _plain(old[key]) == value:
            continue
        if key in old and isinstance(old[key], CommentedMap) and isinstance(value, dict):
            _change(old[key], value)
            continue
        old[key] = _value(key, value)
    return old


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _new_zone(zone: ZoneDict) -> CommentedMap:
    out = CommentedMap()
    for key, value in zone.items():
        out[key] = _value(key, value)
    return out


def _set_zones(camera: CommentedMap, zones: list[ZoneDict]) -> None:
    old = camera.get("zones")
    by_id = {}
    if isinstance(old, list):
        by_id = {str(z.get("id")): z for z in old if isinstance(z, CommentedMap)}
    items = [
        _update(by_id[str(z.get("id"))], z) if str(z.get("id")) in by_id else _new_zone(z)
        for z in zones
    ]
    if isinstance(old, CommentedSeq) and items:
        del old[:]
        old.extend(items)
        return
    seq = CommentedSeq(items)
    if items:
        camera["zones"] = seq
        return
    # `zones: []`: a comment that stood after `zones:` above a block list moves behind the [].
    seq.fa.set_flow_style()
    slots = camera.ca.items.pop("zones", None) or []
    token = slots[2] if len(slots) > 2 else None
    camera["zones"] = seq
    if token is not None and token.value.strip().startswith("#"):
        camera.yaml_add_eol_comment(token.value.strip(), "zones")


def _dump(rt: YAML, data: Any) -> str:
    out = io.StringIO()
    rt.dump(data, out)
    return out.getvalue()


def _find_key(node: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k, v
    return None


def _content_end(node: yaml.Node) -> int:
    """Index just past the node's last character (a block collection ends at its last value,
    not at the next token, so comments after it are not part of it)."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return _content_end(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _content_end(node.value[-1])
    return int(node.end_mark.index)


def _value_end(text: str, node: yaml.Node) -> int:
    """Where a `zones` value ends, with the comment behind its last line (which ruamel keeps
    with the value, so it must not stay behind in the file's text as well)."""
    end = _content_end(node)
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    rest = text[end:line_end]
    return line_end if rest.strip().startswith("#") or not rest.strip() else end


def _zones_node(text: str, index: int) -> tuple[yaml.Node, yaml.Node] | None:
    """The `zones` key and value of `cameras[index]`, when the camera is a block mapping."""
    root = yaml.compose(text, Loader=_LOADER)
    if not isinstance(root, yaml.MappingNode):
        return None
    pair = _find_key(root, "cameras")
    if pair is None or not isinstance(pair[1], yaml.SequenceNode) or pair[1].flow_style:
        return None
    items = pair[1].value
    camera = items[index] if index < len(items) else None
    if not isinstance(camera, yaml.MappingNode) or camera.flow_style:
        return None
    return _find_key(camera, "zones")


def _kept_zones(old_text: str, old: yaml.Node, new_text: str, new: yaml.Node) -> str:
    """The new zones value's text (with the comment behind its last line), each zone that did
    not change in its original text, comment behind it included (ruamel drops some of those)."""
    start, end = int(new.start_mark.index), _value_end(new_text, new)
    if not (isinstance(old, yaml.SequenceNode) and isinstance(new, yaml.SequenceNode)):
        return new_text[start:end]
    if old.flow_style or new.flow_style:
        return new_text[start:end]
    loader = yaml.SafeLoader("")
    originals: dict[str, yaml.Node] = {}
    for item in old.value:
        data = loader.construct_document(item)
        if isinstance(data, dict):
            originals[str(data.get("id"))] = item
    pieces: list[str] = []
    at = start
    for item in new.value:
        data = loader.construct_document(item)
        was = originals.get(str(data.get("id"))) if isinstance(data, dict) else None
        if was is None or was.start_mark.column != item.start_mark.column:
            continue
        if loader.construct_document(was) != data:
            continue
        pieces += [
            new_text[at : item.start_mark.index],
            old_text[was.start_mark.index : _value_end(old_text, was)],
        ]
        at = _value_end(new_text, item)
    pieces.append(new_text[at : max(at, end)])
    return "".join(pieces)


def _splice(text: str, full: str, index: int) -> str | None:
    """The file's own text with only `cameras[index].zones` taken from ruamel's output."""
    old, new = _zones_node(text, index), _zones_node(full, index)
    if old is None or new is None:
        return None
    (old_key, old_value), (new_key, new_value) = old, new
    head = (
        text[: old_key.end_mark.index] + full[new_key.end_mark.index : new_value.start_mark.index]
    )
    value = _kept_zones(text, old_value, full, new_value)
    return head + value + text[_value_end(text, old_value) :]


def replace_zones(text: str, camera_id: str, zones: list[ZoneDict]) -> str:
    """The config text with that camera's zones replaced; raises CameraNotInFileError."""
    intended = _load(text)  # a broken file raises yaml.YAMLError, as the routes expect
    cameras = _camera_list(intended)
    index = _camera_index(cameras, camera_id)
    cameras[index]["zones"] = zones
    try:
        rt = _round_trip(text)
        doc = rt.load(text)
        camera = doc["cameras"][index]
        if isinstance(camera, CommentedMap):
            _set_zones(camera, zones)
            # ruamel leaves a space at the end of a wrapped flow mapping's line.
            full = re.sub(r"[ \t]+(?=\n)", "", _dump(rt, doc))
            for out in (_splice(text, full, index), full):
                if out is not None and _load(out) == intended:
                    return out
    except (RuamelError, yaml.YAMLError, TypeError, KeyError, IndexError) as exc:
        log.warning("zones of %s: ruamel.yaml could not keep the file's layout: %s",
                    camera_id, exc)  # fmt: skip
    log.warning("zones of %s: the file's layout needs a full rewrite; comments are lost",
                camera_id)  # fmt: skip
    return yaml.safe_dump(intended, sort_keys=False, allow_unicode=True, width=100)
