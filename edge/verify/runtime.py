"""The verifier at run time: one verdict per lift zone per frame, from the detector's own run.

    detector = OnnxYoloDetector(path, class_map, feature_outputs=model.spec.map_names, ...)
    verifier = LiftVerifier(model, detector, crops=CropStore(storage / "verifier-crops"))
    pipeline = CameraPipeline(camera, detector, verifier=verifier)

After the detector has seen a frame, `judge` gives each `LiftRule` of the camera its verdict
(candidates in the zone, embedded from the detector's maps, classified; plus the whole-car
score); the rule raises on verified frames only. `keep_evidence` saves the crop of each lift
alert that is raised or updated, for the feedback loop (`edge.verify.feedback`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np

from edge.config.model import Zone
from edge.detect.onnx_yolo import OnnxYoloDetector
from edge.messages import AlertEvent, AlertKind, Box, Frame, Image
from edge.rules.geometry import point_in_polygon
from edge.rules.lift import LiftRule
from edge.verify import candidates as cands
from edge.verify.dataset import CLASSES, EBIKE
from edge.verify.features import (
    FeatureMaps,
    FeatureSpecError,
    embed_boxes,
    embed_region,
    feature_maps,
)
from edge.verify.feedback import CropStore
from edge.verify.model_file import VerifierFileError, VerifierModel, check_detector, sha256_of
from edge.verify.verdict import Verdict

log = logging.getLogger(__name__)

CROP_MARGIN = 0.1


def zone_region(zone: Zone) -> Box:
    xs = [x for x, _ in zone.polygon]
    ys = [y for _, y in zone.polygon]
    return Box(max(0.0, min(xs)), max(0.0, min(ys)), min(1.0, max(xs)), min(1.0, max(ys)))


def crop_of(image: Image, box: Box, margin: float = CROP_MARGIN) -> Image:
    """The pixels of `box` (normalised) and a margin around it, clipped to the image."""
    h, w = image.shape[:2]
    dx, dy = box.width * margin, box.height * margin
    x1, x2 = int(max(0.0, box.x1 - dx) * w), int(np.ceil(min(1.0, box.x2 + dx) * w))
    y1, y2 = int(max(0.0, box.y1 - dy) * h), int(np.ceil(min(1.0, box.y2 + dy) * h))
    return np.ascontiguousarray(image[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)])


class LiftVerifier:
    """Verdicts for the lift zones of the cameras a (shared) detector serves."""

    def __init__(
        self,
        model: VerifierModel,
        detector: OnnxYoloDetector,
        *,
        thresholds: Mapping[tuple[str, str], float] | None = None,
        crops: CropStore | None = None,
        crops_in_memory: int = 16,
        detector_sha256: str | None = None,
    ) -> None:
        missing = set(model.spec.map_names) - set(detector.feature_outputs)
        if missing:
            raise VerifierFileError(
                "the detector must be built with feature_outputs=model.spec.map_names "
                f"(missing {sorted(missing)})"
            )
        sha = detector_sha256 or sha256_of(detector.model_path)
        check_detector(model, detector.model_path, sha)
        try:
            self._ids = model.spec.bind(detector.names)
        except FeatureSpecError as exc:
            raise VerifierFileError(str(exc)) from exc
        self.model = model
        self._detector = detector
        self._thresholds = dict(thresholds or {})
        self._crops = crops
        self._pending: OrderedDict[str, Image] = OrderedDict()
        self._pending_max = crops_in_memory

    @property
    def crops(self) -> CropStore | None:
        """Where alert crops are kept, for the feedback loop."""
        return self._crops

    def threshold(self, camera_id: str, zone_id: str) -> float:
        """The zone's own threshold (`thresholds[(camera id, zone id)]`), else the file's."""
        return self._thresholds.get((camera_id, zone_id), self.model.threshold)

    def judge(self, frame: Frame, rules: Sequence[object]) -> None:
        """Give every lift rule its verdict on `frame` (the detector's last input)."""
        lift_rules = [r for r in rules if isinstance(r, LiftRule)]
        if not lift_rules:
            return
        fm = feature_maps(self._detector, self.model.spec)
        for rule in lift_rules:
            rule.observe(self.verify(fm, frame, rule.zone))

    def verify(self, fm: FeatureMaps, frame: Frame, zone: Zone) -> Verdict:
        region = zone_region(zone)
        found = [
            c
            for c in cands.generate(
                fm, region, self._ids.two_wheeler, self._ids.person, self.model.candidates
            )
            if c.box == region or point_in_polygon(_centre(c.box), list(zone.polygon))
        ]
        p = self.model.candidates
        people = cands.detections(fm, self._ids.person, p.person_conf, p.nms_iou, p.max_persons)
        persons = np.array([[*_xyxy(b), s] for b, s in people], np.float32).reshape(-1, 5)
        bikes = cands.classed_detections(
            fm, self._ids.two_wheeler, p.two_wheeler_conf, p.nms_iou, p.max_two_wheelers
        )
        wheels = np.array([[*_xyxy(b), s, k] for b, s, k in bikes], np.float32).reshape(-1, 6)
        boxes = np.array([_xyxy(c.box) for c in found], np.float32).reshape(-1, 4)
        x = embed_boxes(fm, [c.box for c in found], region, self._ids.scores)
        probs = self.model.box.predict(self.model.box_inputs(x, boxes, persons, wheels))
        best = int(np.argmax(probs[:, EBIKE]))
        box_score = float(probs[best, EBIKE])
        frame_x = self.model.frame_inputs(
            embed_region(fm, region, self._ids.scores), persons, wheels
        )
        frame_score = float(self.model.frame.predict(frame_x)[0, EBIKE])
        score = self.model.decide(box_score, frame_score)
        is_ebike = score >= self.threshold(frame.camera_id, zone.id)
        box = found[best].box
        crop_id = None
        if is_ebike:
            # Wall-clock milliseconds: unique across restarts (frame numbers start over).
            crop_id = f"{frame.camera_id}-{zone.id}-{int(frame.wall_ts * 1000)}"
            self._remember(crop_id, crop_of(frame.image, box))
        label = CLASSES[int(np.argmax(probs[best]))]
        rider = any(with_rider(box, person) for person, _ in people)
        return Verdict(is_ebike, score, box_score, frame_score, label, box, crop_id, rider)

    def _remember(self, crop_id: str, crop: Image) -> None:
        self._pending[crop_id] = crop
        while len(self._pending) > self._pending_max:
            self._pending.popitem(last=False)

    def keep_evidence(self, events: Sequence[AlertEvent]) -> None:
        """Save the crop named by each lift alert event, while it is still in memory."""
        if self._crops is None:
            return
        for event in events:
            crop_id = event.detail.get("crop_id")
            if event.kind is not AlertKind.EBIKE_IN_LIFT or not isinstance(crop_id, str):
                continue
            crop = self._pending.get(crop_id)
            if crop is not None:
                try:
                    self._crops.put(crop_id, crop)
                except (OSError, ValueError):
                    log.exception("could not save the crop %s of a lift alert", crop_id)


def with_rider(vehicle: Box, person: Box) -> bool:
    """The rider-and-vehicle pattern: a person on it or right beside it (their boxes overlap,
    or the person stands within half a person's width of it at the same floor level)."""
    if vehicle.iou(person) > 0.05 or _inter(vehicle, person) > 0.2 * vehicle.area:
        return True
    gap = max(vehicle.x1 - person.x2, person.x1 - vehicle.x2)
    level = abs(vehicle.y2 - person.y2) < 0.35 * person.height
    return gap < 0.5 * person.width and level


def _inter(a: Box, b: Box) -> float:
    iw = min(a.x2, b.x2) - max(a.x1, b.x1)
    ih = min(a.y2, b.y2) - max(a.y1, b.y1)
    return iw * ih if iw > 0 and ih > 0 else 0.0


def _xyxy(box: Box) -> tuple[float, float, float, float]:
    return (box.x1, box.y1, box.x2, box.y2)


def _centre(box: Box) -> tuple[float, float]:
    return ((box.x1 + box.x2) / 2.0, (box.y1 + box.y2) / 2.0)
