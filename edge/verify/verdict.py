"""The verifier's answer for one lift zone on one frame: is there an e-bike, how sure, where."""

from __future__ import annotations

from dataclasses import dataclass

from edge.messages import Box


@dataclass(frozen=True, slots=True)
class Verdict:
    """`score` is the alarm score (compared with the zone's threshold to give `is_ebike`);
    `box_score` the best candidate's e-bike probability, `frame_score` the whole-car one;
    `label` what the best candidate looks like most; `box` where it is (normalised);
    `crop_id` names the saved crop of that box when it is an e-bike (for the feedback loop);
    `rider` says a person is on it or beside it (the rider-and-vehicle pattern).
    """

    is_ebike: bool
    score: float
    box_score: float
    frame_score: float
    label: str
    box: Box | None = None
    crop_id: str | None = None
    rider: bool = False

    def detail(self) -> dict[str, float | str | bool]:
        """What the alert carries about the verification."""
        out: dict[str, float | str | bool] = {
            "verifier_score": round(self.score, 3),
            "verifier_label": self.label,
            "verifier_box_score": round(self.box_score, 3),
            "verifier_frame_score": round(self.frame_score, 3),
        }
        if self.crop_id is not None:
            out["crop_id"] = self.crop_id
        return out
