"""Read and replace one camera's zones in the config text, keeping the rest of the file as it is.

PyYAML has no round-trip mode, so the edit is made on the text: the composed node tree gives
where `cameras[i].zones` starts and ends, and only that span is rewritten (polygons and other
lists in flow style, one zone per block). Comments and layout elsewhere survive. The result is
parsed again and must equal the intended data; if the file's layout defeats the splice (flow
style cameras, anchors), the whole document is dumped instead and its comments are lost, which
is logged.
"""

from __future__ import annotations

import logging
from typing import Any

import yaml

log = logging.getLogger(__name__)

ZoneDict = dict[str, Any]


class CameraNotInFileError(KeyError):
    """The camera id is not in the file's `cameras` list."""


class _Flow(list[Any]):
    """A list written in flow style: `[[0.1, 0.2], [0.3, 0.4]]`."""


class _Dumper(yaml.SafeDumper):
    pass


def _represent_flow(dumper: yaml.SafeDumper, data: _Flow) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


_Dumper.add_representer(_Flow, _represent_flow)


def _styled(zone: ZoneDict) -> ZoneDict:
    return {k: _Flow(v) if isinstance(v, list) else v for k, v in zone.items()}


def dump_zones(zones: list[ZoneDict], indent: int) -> str:
    """Zones as a block sequence, every line indented by `indent` spaces, no final newline."""
    text = yaml.dump(
        [_styled(z) for z in zones],
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    return "\n".join(" " * indent + line for line in text.rstrip("\n").split("\n"))


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
    cameras = _camera_list(yaml.safe_load(text))
    zones = cameras[_camera_index(cameras, camera_id)].get("zones") or []
    return [z for z in zones if isinstance(z, dict)] if isinstance(zones, list) else []


def _content_end(node: yaml.Node) -> int:
    """Index just past the node's last character (block collections end at their last value,
    not at the next token, so comments after them are not swallowed)."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return _content_end(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _content_end(node.value[-1])
    return int(node.end_mark.index)


def _find_key(node: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k, v
    return None


def _splice(text: str, camera: yaml.MappingNode, zones: list[ZoneDict]) -> str:
    first_key = camera.value[0][0]
    col = int(first_key.start_mark.column)
    pair = _find_key(camera, "zones")
    if pair is None:
        at = _content_end(camera)
        body = f"\n{' ' * col}zones:" + (" []" if not zones else "\n" + dump_zones(zones, col + 2))
        return text[:at] + body + text[at:]
    key, value = pair
    start = int(key.end_mark.index)
    end = max(_content_end(value), start)
    # A comment on the `zones:` line itself stays there when the value starts below it.
    line_end = len(text) if text.find("\n", start) < 0 else text.find("\n", start)
    rest = text[start:line_end]
    comment = ""
    empty = isinstance(value, yaml.ScalarNode) and value.value == "" and value.style is None
    if (empty or int(value.start_mark.index) >= line_end) and "#" in rest:
        comment = "  " + rest[rest.index("#") :].rstrip()
        end = max(end, line_end)
    if not zones:
        return text[:start] + ": []" + comment + text[end:]
    block = dump_zones(zones, int(key.start_mark.column) + 2)
    return text[:start] + ":" + comment + "\n" + block + text[end:]


def _camera_node(root: yaml.Node | None, index: int) -> yaml.MappingNode | None:
    """The block mapping of `cameras[index]`, or None when the layout is not one we splice."""
    if not isinstance(root, yaml.MappingNode):
        return None
    pair = _find_key(root, "cameras")
    if pair is None or not isinstance(pair[1], yaml.SequenceNode) or pair[1].flow_style:
        return None
    items = pair[1].value
    camera = items[index] if index < len(items) else None
    if not isinstance(camera, yaml.MappingNode) or camera.flow_style or not camera.value:
        return None
    return camera


def replace_zones(text: str, camera_id: str, zones: list[ZoneDict]) -> str:
    """The config text with that camera's zones replaced; raises CameraNotInFileError."""
    data = yaml.safe_load(text)
    cameras = _camera_list(data)
    index = _camera_index(cameras, camera_id)
    cameras[index]["zones"] = zones
    camera = _camera_node(yaml.compose(text, Loader=yaml.SafeLoader), index)
    if camera is not None:
        out = _splice(text, camera, zones)
        try:
            if yaml.safe_load(out) == data:
                return out
        except yaml.YAMLError:
            pass
    log.warning("zones of %s: the file's layout needs a full rewrite; comments are lost",
                camera_id)  # fmt: skip
    for cam in cameras:
        if isinstance(cam, dict) and isinstance(cam.get("zones"), list):
            cam["zones"] = [_styled(z) if isinstance(z, dict) else z for z in cam["zones"]]
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
