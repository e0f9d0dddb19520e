"""Prometheus text exposition (format 0.0.4), written by hand: no client library needed.

A `Family` is one metric name with its help, type and samples; `render` turns a list of them
into the text a Prometheus server scrapes from `/metrics`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

MetricType = Literal["counter", "gauge", "untyped"]
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Sample:
    labels: Mapping[str, str]
    value: float


@dataclass(slots=True)
class Family:
    name: str
    help: str
    type: MetricType
    samples: list[Sample] = field(default_factory=list)

    def add(self, value: float | int | bool, **labels: str) -> Family:
        self.samples.append(Sample(labels, float(value)))
        return self


def counter(name: str, help_text: str) -> Family:
    return Family(name, help_text, "counter")


def gauge(name: str, help_text: str) -> Family:
    return Family(name, help_text, "gauge")


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _sample_line(name: str, sample: Sample) -> str:
    if not sample.labels:
        return f"{name} {format_value(sample.value)}"
    for key in sample.labels:
        if not _LABEL.match(key):
            raise ValueError(f"bad label name {key!r} on {name}")
    labels = ",".join(f'{k}="{escape_label(v)}"' for k, v in sorted(sample.labels.items()))
    return f"{name}{{{labels}}} {format_value(sample.value)}"


def render(families: Iterable[Family]) -> str:
    """The exposition text; a family without samples still says what it is."""
    lines: list[str] = []
    seen: set[str] = set()
    for fam in families:
        if not _NAME.match(fam.name) or fam.name in seen:
            raise ValueError(f"bad or repeated metric name {fam.name!r}")
        seen.add(fam.name)
        lines.append(f"# HELP {fam.name} {_escape_help(fam.help)}")
        lines.append(f"# TYPE {fam.name} {fam.type}")
        lines.extend(_sample_line(fam.name, s) for s in fam.samples)
    return "\n".join(lines) + "\n"
