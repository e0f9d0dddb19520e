"""Camera health: a camera that stops delivering frames is an alert, never an empty zone."""

from __future__ import annotations

from edge.messages import AlertEvent, AlertKind, Severity, Transition


class CameraHealth:
    """Raises camera_offline after `offline_after_s` without a frame; clears on the next one."""

    def __init__(self, camera_id: str, offline_after_s: float, started: float) -> None:
        self.camera_id = camera_id
        self._offline_after = offline_after_s
        # Counting from start-up means a camera that never delivers a frame is reported too.
        self._last_frame = started
        self._offline_since: float | None = None
        self._key = f"{camera_id}/offline"

    @property
    def offline(self) -> bool:
        return self._offline_since is not None

    def frame(self, now: float) -> list[AlertEvent]:
        """A frame arrived; returns the clearing event if the camera was offline."""
        self._last_frame = now
        if self._offline_since is None:
            return []
        event = self._event(Transition.CLEARED, self._offline_since, now)
        self._offline_since = None
        return [event]

    def check(self, now: float, delivered: float | None = None) -> list[AlertEvent]:
        """`delivered`: when the camera last delivered a frame, judged or not yet. A camera
        whose frames arrive is not offline, however long its detection lane takes to judge it.
        """
        if delivered is not None and delivered > self._last_frame:
            self._last_frame = delivered if self._offline_since is None else self._last_frame
        if self._offline_since is None and now - self._last_frame >= self._offline_after:
            self._offline_since = self._last_frame
            return [self._event(Transition.RAISED, self._last_frame, now)]
        return []

    def _event(self, transition: Transition, started: float, now: float) -> AlertEvent:
        return AlertEvent(
            key=self._key,
            kind=AlertKind.CAMERA_OFFLINE,
            transition=transition,
            severity=Severity.MAJOR,
            started=started,
            ts=now,
            camera_id=self.camera_id,
            detail={"offline_after_s": self._offline_after},
        )
