"""Expose a YOLO export's neck feature maps as extra ONNX outputs, in memory.

The verifier pools the detector's own features over candidate boxes, so the detector must hand
them out with its boxes from the one run per frame. An Ultralytics export only outputs the
decoded boxes; here the graph is copied with the tensors that feed the Detect head (the P3, P4,
P5 neck outputs) added as outputs. Nothing is written to disk and the file is never changed.

Needs the `onnx` package (graph surgery only; inference stays onnxruntime).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_MODULE = re.compile(r"^/model\.(\d+)/")
_QUANTIZE = "DynamicQuantizeLinear"


class GraphError(Exception):
    """The model cannot be read, or does not have the tensors asked for."""


def _onnx() -> Any:
    try:
        import onnx  # noqa: PLC0415 (only the verifier needs it, and only at start-up)
    except ImportError as exc:
        raise GraphError(
            "the 'onnx' package is needed to expose the detector's feature maps: pip install onnx"
        ) from exc
    return onnx


def _load(path: Path) -> Any:
    onnx = _onnx()
    try:
        return onnx.load(str(path))
    except Exception as exc:  # onnx raises several unrelated types for a bad file
        raise GraphError(f"{path}: not a readable ONNX model: {exc}") from exc


def _module_index(node_name: str) -> int:
    match = _MODULE.match(node_name)
    return int(match.group(1)) if match else -1


def _input_dependent(graph: Any) -> set[str]:
    """Tensors computed from the image (not from weights and constants)."""
    live = {i.name for i in graph.input}
    for node in graph.node:  # ONNX graphs are topologically sorted
        if any(name in live for name in node.input):
            live.update(node.output)
    return live


def head_inputs(model_path: Path) -> list[str]:
    """Names of the float feature maps the Detect head reads (P3, P4, P5 for YOLOv8/YOLO11).

    The head is the highest-numbered `/model.N/` module. In an int8 export the head reads the
    quantised copy of each map; the float tensor before `DynamicQuantizeLinear` is returned.
    """
    graph = _load(Path(model_path)).graph
    producer = {out: node for node in graph.node for out in node.output}
    live = _input_dependent(graph)
    head = max((_module_index(n.name) for n in graph.node), default=-1)
    if head < 0:
        raise GraphError(f"{model_path}: no '/model.N/' nodes: not an Ultralytics export")
    found: list[str] = []
    for node in graph.node:
        if _module_index(node.name) != head:
            continue
        for consumed in node.input:
            source = producer.get(consumed)
            if consumed not in live or source is None or _module_index(source.name) == head:
                continue
            name = source.input[0] if source.op_type == _QUANTIZE else consumed
            if name not in found:
                found.append(name)
    if not found:
        raise GraphError(f"{model_path}: found no feature maps feeding the detection head")
    return found


def with_outputs(model_path: Path, names: Sequence[str]) -> bytes:
    """The model serialised with `names` appended as float outputs (existing outputs first)."""
    onnx = _onnx()
    model = _load(Path(model_path))
    graph = model.graph
    produced = {out for node in graph.node for out in node.output}
    existing = {o.name for o in graph.output}
    missing = [n for n in names if n not in produced]
    if missing:
        raise GraphError(f"{model_path}: the model has no tensors named {missing}")
    for name in names:
        if name not in existing:
            graph.output.append(
                onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
            )
    data: bytes = model.SerializeToString()
    return data
