"""ByteTrack-style multi-object tracker: stable ids for detections across irregular frames.

Association runs in two stages (Zhang et al., "ByteTrack", ECCV 2022). High-confidence
detections are matched first against every live track's predicted box; the tracks left over are
then matched against low-confidence detections. A parked car half hidden by a passer-by is
usually still detected, only with low confidence, so the second stage keeps its id instead of
letting the track coast and die. Low-confidence detections never start tracks, because on their
own they are mostly clutter.

Everything is in seconds on the `ts` passed to `update`, never frame counts: frames arrive
irregularly (motion gating, a shared inference worker, dropped frames), and replays run faster
than real time on video timestamps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edge.messages import Box, Category, Detection, Track

FloatArray = npt.NDArray[np.float64]

# Time constant of the velocity smoothing: a single noisy box (jitter, or a partial box while
# occluded) moves the estimate only a little when frames come fast, but after a long gap the new
# measurement, being averaged over that gap, is trusted more.
_VELOCITY_SMOOTHING_S = 0.5

# Coasting velocity decays with this time constant, so a track's predicted displacement is bounded
# by `speed * _VELOCITY_DECAY_S` however long it coasts. Objects we care about stop (they park);
# an extrapolation that runs on for seconds would drift away from where they are hidden.
_VELOCITY_DECAY_S = 1.0

# Below this gap two updates are treated as simultaneous and no velocity is derived from them,
# which also guards against division by ~0 when timestamps repeat.
_MIN_VELOCITY_DT_S = 1e-3


def boxes_array(boxes: Sequence[Box]) -> FloatArray:
    """Boxes as an N x 4 array of (x1, y1, x2, y2)."""
    if not boxes:
        return np.zeros((0, 4), dtype=np.float64)
    return np.array([(b.x1, b.y1, b.x2, b.y2) for b in boxes], dtype=np.float64)


def iou_matrix(a: FloatArray, b: FloatArray) -> FloatArray:
    """IoU of every box in `a` (N x 4) with every box in `b` (M x 4), as an N x M array.

    Same semantics as `Box.iou` (degenerate boxes have no area), computed in one broadcast.
    """
    ix = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    iy = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(ix, 0.0, None) * np.clip(iy, 0.0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0.0, None) * np.clip(a[:, 3] - a[:, 1], 0.0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0.0, None) * np.clip(b[:, 3] - b[:, 1], 0.0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    out = np.zeros(inter.shape, dtype=np.float64)
    np.divide(inter, union, out=out, where=union > 0.0)
    return out


def greedy_match(scores: FloatArray, threshold: float) -> list[tuple[int, int]]:
    """Pairs (row, col) taken greedily by descending score, each row and column at most once.

    Greedy instead of the Hungarian algorithm: a camera sees a handful of objects, rarely more
    than a few dozen, and with IoU scores the greedy choice only differs from the optimum when
    boxes overlap ambiguously, where neither answer is reliably right. It needs no scipy and is
    deterministic (ties go to the lower row, then the lower column).
    """
    rows, cols = np.nonzero(scores >= threshold)
    order = np.argsort(-scores[rows, cols], kind="stable")
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r in used_rows or c in used_cols:
            continue
        used_rows.add(r)
        used_cols.add(c)
        pairs.append((r, c))
    return pairs


def _centre(box: Box) -> tuple[float, float]:
    return ((box.x1 + box.x2) / 2.0, (box.y1 + box.y2) / 2.0)


def _clip01(v: float) -> float:
    return min(1.0, max(0.0, v))


@dataclass(slots=True)
class _TrackState:
    """The tracker's private, mutable view of one object."""

    track_id: int
    category: Category
    box: Box  # the last matched detection's box: predictions start from real evidence
    confidence: float
    first_seen: float
    last_seen: float
    hits: int = 1
    velocity: tuple[float, float] = (0.0, 0.0)  # box centre, normalised units per second
    velocity_samples: int = 0
    class_scores: dict[str, float] = field(default_factory=dict)

    def predict(self, ts: float) -> Box:
        """The box expected at `ts`: last box shifted by the damped velocity, size unchanged.

        Always extrapolated from the last match rather than stepped frame by frame, so the answer
        does not depend on how many frames (if any) arrived while the object was unseen.
        """
        dt = max(0.0, ts - self.last_seen)
        gain = _VELOCITY_DECAY_S * -math.expm1(-dt / _VELOCITY_DECAY_S)
        dx, dy = self.velocity[0] * gain, self.velocity[1] * gain
        b = self.box
        return Box(_clip01(b.x1 + dx), _clip01(b.y1 + dy), _clip01(b.x2 + dx), _clip01(b.y2 + dy))

    def hit(self, det: Detection, ts: float) -> None:
        dt = ts - self.last_seen
        if dt >= _MIN_VELOCITY_DT_S:
            (x0, y0), (x1, y1) = _centre(self.box), _centre(det.box)
            measured = ((x1 - x0) / dt, (y1 - y0) / dt)
            # A running mean while samples are few (the first one is taken as is), then an
            # exponential average whose weight grows with the time the sample spans.
            self.velocity_samples += 1
            alpha = max(1.0 / self.velocity_samples, -math.expm1(-dt / _VELOCITY_SMOOTHING_S))
            self.velocity = (
                self.velocity[0] + alpha * (measured[0] - self.velocity[0]),
                self.velocity[1] + alpha * (measured[1] - self.velocity[1]),
            )
        self.box = det.box
        self.confidence = det.confidence
        self.last_seen = ts
        self.hits += 1
        self.add_class(det)

    def add_class(self, det: Detection) -> None:
        self.class_scores[det.class_name] = (
            self.class_scores.get(det.class_name, 0.0) + det.confidence
        )

    def class_name(self) -> str:
        # max() keeps the first of equal scores, i.e. the class seen first: stable under ties.
        return max(self.class_scores.items(), key=lambda kv: kv[1])[0]

    def to_track(self, box: Box) -> Track:
        return Track(
            track_id=self.track_id,
            box=box,
            class_name=self.class_name(),
            category=self.category,
            confidence=self.confidence,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            hits=self.hits,
        )


class ByteTracker:
    """Follows detections of one camera across frames and gives each object a stable id.

    One instance per camera. Not thread-safe: the rules stage calls it from one thread.

    - `high_threshold`: detections at or above it take part in the first association stage.
    - `low_threshold`: detections below it are ignored; those between the two thresholds can
      only extend confirmed tracks (second stage).
    - `new_track_threshold`: an unmatched high detection starts a track only at or above it.
    - `match_iou`: minimum IoU between a track's predicted box and a detection, both stages.
    - `max_coast_s`: a track unmatched for longer than this is dropped; its object, if seen
      again, gets a new id. Absence is counted up to the previous frame, not to this one: only
      a frame that did not see the object is evidence that it went. A camera judged every 5 s
      (a node past its limit) would otherwise lose every track between two looks, and no
      parked car would ever be seen staying put.
    - `min_hits`: matched frames (including the first) before a track is confirmed and reported.
      Tentative tracks coast like confirmed ones instead of dying on their first miss, so an
      object detected only every other frame (an e-bike half hidden by its rider) still
      confirms.

    `ts` should not go backwards; call `reset()` when a source restarts (a new replay clip).
    """

    def __init__(
        self,
        *,
        high_threshold: float = 0.45,
        low_threshold: float = 0.1,
        new_track_threshold: float = 0.5,
        match_iou: float = 0.3,
        max_coast_s: float = 3.0,
        min_hits: int = 2,
    ) -> None:
        if not 0.0 <= low_threshold <= high_threshold <= 1.0:
            raise ValueError("need 0 <= low_threshold <= high_threshold <= 1")
        if not 0.0 <= new_track_threshold <= 1.0:
            raise ValueError("new_track_threshold must be within [0, 1]")
        # IoU 0 must never match: with match_iou > 0 disjoint boxes are never paired.
        if not 0.0 < match_iou <= 1.0:
            raise ValueError("match_iou must be within (0, 1]")
        if not (max_coast_s >= 0.0 and math.isfinite(max_coast_s)):
            raise ValueError("max_coast_s must be a finite number >= 0")
        if min_hits < 1:
            raise ValueError("min_hits must be >= 1")
        self._high = high_threshold
        self._low = low_threshold
        self._new = new_track_threshold
        self._match_iou = match_iou
        self._max_coast_s = max_coast_s
        self._min_hits = min_hits
        self._tracks: list[_TrackState] = []
        self._next_id = 1
        self._last_ts: float | None = None

    def reset(self) -> None:
        """Forget every track; ids start again at 1."""
        self._tracks = []
        self._next_id = 1
        self._last_ts = None

    def update(self, detections: Sequence[Detection], ts: float) -> list[Track]:
        """Feed one frame's detections taken at `ts`; return the confirmed tracks, by id.

        A track matched on this frame carries the detection's own box and `last_seen == ts`; a
        coasting one carries its predicted box and an older `last_seen`.
        """
        # Drop expired tracks first, so an object back after more than max_coast_s gets a new id:
        # unseen for longer than that by the frames up to the previous one.
        seen_until = ts if self._last_ts is None else min(ts, self._last_ts)
        self._tracks = [t for t in self._tracks if seen_until - t.last_seen <= self._max_coast_s]
        self._last_ts = ts
        predicted = [t.predict(ts) for t in self._tracks]
        high = [d for d in detections if d.confidence >= self._high]
        low = [d for d in detections if self._low <= d.confidence < self._high]

        all_idx = list(range(len(self._tracks)))
        left_idx, left_high = self._associate(all_idx, predicted, high, ts)
        # Only confirmed tracks may live on weak evidence; a tentative track fed by a
        # low-confidence box would let clutter confirm itself.
        confirmed_left = [i for i in left_idx if self._tracks[i].hits >= self._min_hits]
        self._associate(confirmed_left, predicted, low, ts)

        for det in left_high:
            if det.confidence >= self._new:
                self._start(det, ts)
        return self._report(predicted, ts)

    def _associate(
        self,
        track_idx: list[int],
        predicted: list[Box],
        dets: list[Detection],
        ts: float,
    ) -> tuple[list[int], list[Detection]]:
        """Match `dets` to the tracks `track_idx`; apply the hits; return what is left of both."""
        if not track_idx or not dets:
            return track_idx, dets
        scores = iou_matrix(
            boxes_array([predicted[i] for i in track_idx]), boxes_array([d.box for d in dets])
        )
        track_cats = np.array([self._tracks[i].category.value for i in track_idx])
        det_cats = np.array([d.category.value for d in dets])
        # A person never continues a car's track, however well the boxes overlap.
        scores[track_cats[:, None] != det_cats[None, :]] = 0.0
        matched_tracks: set[int] = set()
        matched_dets: set[int] = set()
        for r, c in greedy_match(scores, self._match_iou):
            self._tracks[track_idx[r]].hit(dets[c], ts)
            matched_tracks.add(r)
            matched_dets.add(c)
        left_tracks = [i for r, i in enumerate(track_idx) if r not in matched_tracks]
        left_dets = [d for c, d in enumerate(dets) if c not in matched_dets]
        return left_tracks, left_dets

    def _start(self, det: Detection, ts: float) -> None:
        state = _TrackState(
            track_id=self._next_id,
            category=det.category,
            box=det.box,
            confidence=det.confidence,
            first_seen=ts,
            last_seen=ts,
        )
        state.add_class(det)
        self._next_id += 1
        self._tracks.append(state)

    def _report(self, predicted: list[Box], ts: float) -> list[Track]:
        # Hits never decrease, so a confirmed track stays reported while it coasts.
        out: list[Track] = []
        for i, t in enumerate(self._tracks):
            if t.hits < self._min_hits:
                continue
            # New tracks sit past the end of `predicted`; they were all matched on this frame.
            matched = i >= len(predicted) or t.last_seen == ts
            out.append(t.to_track(t.box if matched else predicted[i]))
        return out
