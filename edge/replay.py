"""Replay a recorded clip through the live pipeline, on the clip's own clock.

This is how an installer tests zones before going live: same detector, tracker, rules and
alert manager as `edge run`, but frames come from a file as fast as the machine allows, time is
the video's, and each alert event is printed as one JSON line instead of going to a broker.
With `release_each`, an operator answers every alert "false alarm" the moment it is raised: the
way to check, on a site's own footage, that a released car stays released.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from edge.alerts.evidence import SnapshotStore
from edge.alerts.ids import UlidFactory
from edge.alerts.manager import AlertManager
from edge.alerts.store import Actor
from edge.clock import VideoClock
from edge.config.loader import SiteConfig
from edge.mqtt.topics import Topics
from edge.parts import (
    build_detection,
    lifecycle_policy,
    motion_gate_for,
    node_identity,
    places_of,
    stamper_for,
)
from edge.pipeline import CameraPipeline, Detector
from edge.video.files import iter_file_frames

log = logging.getLogger(__name__)


class LineSink:
    """Writes each alert event as one JSON line, flushed, for pipes and tests."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.count = 0

    def deliver(self, topic: str, payload: bytes) -> None:
        self._out.write(payload.decode() + "\n")
        self._out.flush()
        self.count += 1


@dataclass(frozen=True, slots=True)
class ReplayResult:
    frames: int
    video_s: float
    wall_s: float
    events: int
    detections_run: int
    open_at_end: int

    @property
    def speed(self) -> float:
        """Video seconds per wall second."""
        return self.video_s / self.wall_s if self.wall_s > 0 else float("inf")


def replay(
    site: SiteConfig,
    camera_id: str,
    source: Path,
    out: TextIO,
    *,
    still_seconds: float = 5.0,
    snapshots_dir: Path | None = None,
    detector: Detector | None = None,
    epoch: float | None = None,
    release_each: bool = False,
) -> ReplayResult:
    settings = site.settings
    camera = settings.camera(camera_id)
    clock = VideoClock(epoch if epoch is not None else time.time())
    sink = LineSink(out)
    manager = AlertManager(
        node_identity(settings),
        places_of(settings),
        topics=Topics(settings.topic_prefix),
        clock=clock,
        sink=sink,
        snapshots=SnapshotStore(
            snapshots_dir or site.storage_dir / "replay-snapshots", stamper=stamper_for(site)
        ),
        new_id=UlidFactory(clock),
        # The live node's timings (escalation, how long a released place stays silent); the
        # camera's first frame is at video time 0.
        policy=lifecycle_policy(site, lambda _camera: 0.0),
    )
    # `models.threads` is sized for a live node whose capture threads need the other cores; a
    # replay has no capture threads (bench.replay_speed: 2 threads replay YOLOv8n 1.3x faster).
    threads = max(settings.models.threads, len(os.sched_getaffinity(0)))
    detection = (detector, None) if detector is not None else build_detection(site, threads=threads)
    pipeline = CameraPipeline(
        camera, detection[0], gate=motion_gate_for(camera), verifier=detection[1]
    )
    started = time.perf_counter()
    last_ts = 0.0
    for frame in iter_file_frames(
        source,
        camera.id,
        sample_fps=camera.detect_fps,
        still_seconds=still_seconds,
        epoch=clock.now(),
        decode=camera.decode,  # keyframes only or every frame, as the live node would
    ):
        clock.set(frame.ts)
        last_ts = frame.ts
        published = manager.handle(pipeline.process(frame), frame) + manager.tick()
        for event in published if release_each else ():
            if event["event"] == "raised":
                manager.command("release", str(event["id"]), Actor("replay", clock.now()))
    wall = time.perf_counter() - started
    stats = pipeline.stats
    result = ReplayResult(
        stats.frames, last_ts, wall, sink.count, stats.detections_run, manager.open_count
    )
    log.info(
        "replayed %s: %d frames, %.1f s of video in %.1f s (%.1fx), %d events, %d open at end",
        source,
        result.frames,
        result.video_s,
        result.wall_s,
        result.speed,
        result.events,
        result.open_at_end,
    )
    return result
