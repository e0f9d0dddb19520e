"""Helpers to write rule scenarios as tables: who is where, at which second."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from edge.clock import FakeClock
from edge.config.model import Zone
from edge.messages import AlertEvent, Box, Category, Track

# A zone covering the lower half of the picture, where cars park in these scenes.
LOWER_HALF = [(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)]


def zone(kind: str, **overrides: object) -> Zone:
    data: dict[str, object] = {"id": "z1", "kind": kind, "polygon": LOWER_HALF}
    data.update(overrides)
    return Zone.model_validate(data)


def car_at(x: float, y: float = 0.6, w: float = 0.15, h: float = 0.12) -> Box:
    return Box(x, y, x + w, y + h)


@dataclass(frozen=True)
class Seen:
    """An object seen at time t: its track id, box and category."""

    track_id: int
    box: Box
    category: Category = Category.VEHICLE
    confidence: float = 0.8
    class_name: str = "car"


Scene = Callable[[float], Sequence[Seen]]


def run(
    update: Callable[[list[Track], float], list[AlertEvent]],
    scene: Scene,
    until: float,
    step: float = 1.0,
    clock: FakeClock | None = None,
) -> list[AlertEvent]:
    """Drive a rule with `scene(t)` every `step` seconds of a fake clock; collect its events."""
    clock = clock or FakeClock()
    events: list[AlertEvent] = []
    first_seen: dict[int, float] = {}
    while clock.monotonic() <= until + 1e-9:
        now = clock.monotonic()
        tracks = []
        for s in scene(now):
            first_seen.setdefault(s.track_id, now)
            tracks.append(
                Track(
                    s.track_id,
                    s.box,
                    s.class_name,
                    s.category,
                    s.confidence,
                    first_seen[s.track_id],
                    now,
                    10,
                )
            )
        events.extend(update(tracks, now))
        clock.advance(step)
    return events


def times(events: Sequence[AlertEvent], transition: str) -> list[float]:
    return [round(e.ts, 3) for e in events if e.transition.value == transition]


def frange(start: float, stop: float, step: float) -> Iterator[float]:
    t = start
    while t < stop:
        yield t
        t += step
