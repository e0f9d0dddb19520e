"""A real node under test: `edge.app.Node` with a real Mosquitto, fed from decoded footage.

Everything after the frame slot is the node as `edge run` builds it: the detection worker of
each lane, each camera's pipeline (motion gate, detector, tracker, rules), camera health, the
alert manager, the durable outbox, the publisher and the MQTT link. Only the capture threads
are replaced by one `Feeder` thread that puts each camera's next picture into its
`LatestFrameSlot` at the camera's frame rate, stamped with the capture time, exactly as
`CameraCapture` does, but without decoding (pictures are decoded once, up front). That keeps
the decoding cost of N real streams out of the detection figures; `bench.memory` runs real
capture threads.

Each `CameraPipeline.process` call is timed (a judgement), so the benchmarks see when every
frame was captured, when the worker started and finished judging it, whether the model ran,
and which alerts it raised.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.streams import Stream
from edge.app import Node
from edge.clock import Clock, SystemClock
from edge.config.loader import SiteConfig
from edge.messages import AlertEvent, Frame, Transition
from edge.pipeline import CameraPipeline, Detector
from edge.video.slot import LatestFrameSlot
from tests.integration.broker import MosquittoBroker, find_mosquitto


@dataclass(frozen=True, slots=True)
class Judgement:
    """One `CameraPipeline.process` call, on the monotonic clock."""

    camera: str
    frame_ts: float
    start: float
    end: float
    detected: bool
    raised: tuple[str, ...]  # zone ids of the alerts raised on this frame


@dataclass(frozen=True, slots=True)
class Feed:
    camera_id: str
    stream: Stream
    offset: float = 0.0  # stream time shown at the feeder's start


class Feeder:
    """One thread standing in for every camera's capture thread."""

    def __init__(
        self, slots: dict[str, LatestFrameSlot], feeds: Sequence[Feed], fps: float, clock: Clock
    ) -> None:
        self._slots = slots
        self._feeds = list(feeds)
        self._period = 1.0 / fps
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-feeder", daemon=True)
        self.started_at = 0.0
        self.frames = 0

    def start(self) -> None:
        self.started_at = self._clock.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def stream_time(self, feed: Feed, ts: float) -> float:
        return ts - self.started_at + feed.offset

    def _run(self) -> None:
        due = self.started_at
        seq = 0
        while not self._stop.is_set():
            now = self._clock.monotonic()
            wall = self._clock.now()
            for feed in self._feeds:
                image = feed.stream.image_at(now - self.started_at + feed.offset)
                self._slots[feed.camera_id].put(Frame(feed.camera_id, seq, now, wall, image))
            self.frames += len(self._feeds)
            seq += 1
            due += self._period
            due = max(due, self._clock.monotonic())  # re-anchor after a stall, like CameraCapture
            self._stop.wait(max(0.0, due - self._clock.monotonic()))


class NodeUnderTest:
    """A real `Node` whose capture threads are replaced by a `Feeder`."""

    def __init__(self, node: Node, clock: Clock) -> None:
        self.node = node
        self.clock = clock
        self.judgements: list[Judgement] = []
        self._lock = threading.Lock()
        # The feeder fills the slots; capture threads would open the configured sources.
        node.cameras.captures = []
        self.slots = {rt.camera_id: rt.slot for rt in node.cameras.runtimes}
        for rt in node.cameras.runtimes:
            self._instrument(rt.pipeline)

    def _instrument(self, pipeline: CameraPipeline) -> None:
        process = pipeline.process
        clock = self.clock
        camera_id = pipeline.camera.id

        def timed(frame: Frame) -> list[AlertEvent]:
            before = pipeline.stats.detections_run
            start = clock.monotonic()
            events = process(frame)
            end = clock.monotonic()
            raised = tuple(e.zone_id or "" for e in events if e.transition is Transition.RAISED)
            record = Judgement(
                camera_id, frame.ts, start, end, pipeline.stats.detections_run > before, raised
            )
            with self._lock:
                self.judgements.append(record)
            return events

        pipeline.process = timed  # type: ignore[method-assign]

    def start(self) -> None:
        self.node.start()

    def stop(self) -> None:
        self.node.stop(drain_timeout_s=1.0)

    def snapshot(self) -> list[Judgement]:
        with self._lock:
            return list(self.judgements)


def build_node(
    site: SiteConfig, detector: Detector | Sequence[Detector], clock: Clock | None = None
) -> NodeUnderTest:
    """`Node(site, clock, lanes=...)`, one lane per detector given, wrapped for feeding."""
    real_clock = clock or SystemClock()
    detectors = list(detector) if isinstance(detector, Sequence) else [detector]
    node = Node(site, real_clock, lanes=[(d, None) for d in detectors])
    return NodeUnderTest(node, real_clock)


@contextlib.contextmanager
def mosquitto(workdir: Path) -> Iterator[MosquittoBroker]:
    """A private Mosquitto on a free port (the test suite's helper), killed afterwards."""
    executable = find_mosquitto()
    if executable is None:
        raise RuntimeError("mosquitto not installed (apt-get install mosquitto)")
    broker = MosquittoBroker(executable, workdir / "broker")
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


@contextlib.contextmanager
def workspace(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)
