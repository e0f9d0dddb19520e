"""Camera streams made from the shared footage, for the multi-camera and lift benchmarks.

A stream is a function of time: `image_at(t)` is the picture the camera shows `t` seconds into
the stream. Pictures are decoded once and shared (read-only) by every camera that shows them,
so feeding 60 cameras costs a reference per frame, not a decode.

- `SlowedClip`: the car-park time-lapse played `slow` times slower than recorded. At the
  default 40x a video frame lasts 2 s and one of its ~65 stills about 5 s, so the picture
  changes every few seconds: busier than a real car park, where the scene changes when a car
  or a person moves. Cars stay 30-40 s in the watched bays.
- `Still`: one picture for ever (the forecourt with a van in the fire lane).
- `LiftCycle`: a lift car empty, then with two e-bikes, then empty again, in a cycle. The
  empty car is the same picture with the e-bikes' labelled boxes inpainted (the stock model
  sees nothing there on it; on the original it sees two motorcycles, 0.60-0.86).

Frames repeat exactly while a picture is held (no synthetic sensor noise): the motion gate's
cost does not depend on the content, and its threshold (25 grey levels on a blurred 160-pixel
thumbnail) is far above sensor noise.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from bench.common import EBIKE, FORECOURT, LOT_CLIP, MissingMaterialError, data_dir, image_file
from edge.messages import Image

# VOC boxes of the two e-bikes in the e-bike picture (etoilesha_..._12-07-27.xml).
EBIKE_BOXES = ((49, 141, 422, 764), (561, 218, 897, 720))
LOT_FPS = 20.0


class Stream(Protocol):
    def image_at(self, t: float) -> Image: ...


def _frozen(image: Image) -> Image:
    image.flags.writeable = False
    return image


@functools.cache
def lot_frames() -> tuple[Image, ...]:
    cap = cv2.VideoCapture(str(data_dir() / LOT_CLIP))
    frames: list[Image] = []
    try:
        while True:
            ok, image = cap.read()
            if not ok or image is None:
                break
            frames.append(_frozen(np.asarray(image, dtype=np.uint8)))
    finally:
        cap.release()
    if not frames:
        raise MissingMaterialError(f"no frames in {LOT_CLIP}")
    return tuple(frames)


@functools.cache
def forecourt() -> Image:
    return _frozen(image_file(FORECOURT))


@functools.cache
def lift_pictures() -> tuple[Image, Image]:
    """(empty car, car with two e-bikes)."""
    with_bikes = image_file(EBIKE)
    mask = np.zeros(with_bikes.shape[:2], dtype=np.uint8)
    for x1, y1, x2, y2 in EBIKE_BOXES:
        mask[y1:y2, x1:x2] = 255
    empty = np.asarray(cv2.inpaint(with_bikes, mask, 5, cv2.INPAINT_TELEA), dtype=np.uint8)
    return _frozen(empty), _frozen(with_bikes)


@dataclass(frozen=True, slots=True)
class SlowedClip:
    slow: float = 40.0

    @property
    def period_s(self) -> float:
        """How long the whole clip (a working day) lasts in the stream."""
        return len(lot_frames()) / LOT_FPS * self.slow

    def image_at(self, t: float) -> Image:
        frames = lot_frames()
        return frames[math.floor(t * LOT_FPS / self.slow) % len(frames)]


@dataclass(frozen=True, slots=True)
class Still:
    image: Image

    def image_at(self, t: float) -> Image:
        return self.image


@dataclass(frozen=True, slots=True)
class LiftCycle:
    """Empty for `empty_s`, then e-bikes for `bikes_s`, repeating; t = 0 starts an empty phase."""

    empty_s: float = 5.0
    bikes_s: float = 5.0

    @property
    def period_s(self) -> float:
        return self.empty_s + self.bikes_s

    def bikes_visible(self, t: float) -> bool:
        return t % self.period_s >= self.empty_s

    def appearances(self, start: float, end: float) -> list[float]:
        """Stream times in [start, end) at which the e-bikes appear."""
        first = math.floor((start - self.empty_s) / self.period_s) + 1
        out: list[float] = []
        k = first
        while (t := k * self.period_s + self.empty_s) < end:
            if t >= start:
                out.append(t)
            k += 1
        return out

    def image_at(self, t: float) -> Image:
        empty, bikes = lift_pictures()
        return bikes if self.bikes_visible(t) else empty
