"""A loopback RTSP server for tests and benchmarks: GStreamer's rtsp-server, run by the SYSTEM
Python (the Debian packages python3-gi, gir1.2-gst-rtsp-server-1.0); it imports nothing from
the project, because the project's virtualenv has no `gi`.

    /usr/bin/python3 bench/rtsp/server.py --port 0 --mount cam1=/path/a.mp4 [--mount ...]

Each mount serves one H.264 or H.265 MP4 as a live camera would: a producer pipeline plays the
file at real time and loops it for ever, whether anyone watches or not; a client joining gets the
stream from its next keyframe on, stamped with the server's clock. Many clients of one mount
share its stream (one producer, one RTP payloader), so N cameras on a few mounts cost the
server little, which matters when it runs beside the node it feeds on two cores.

Once listening it prints `ready <port>`. Faults are asked for on stdin, one command a line,
each answered by one line, `ok ...` or `error ...`:

    stall NAME          stop sending NAME (connections stay open, nothing arrives)
    resume NAME         send again, from the next keyframe
    drop NAME           close the connection of every client of NAME
    switch NAME FILE    drop NAME's clients and serve FILE (say another resolution) from now
    corrupt NAME P      garble a share P (0..1) of NAME's frames (random bytes after the headers)
    seek NAME SECONDS   continue NAME's loop from this position in its file
    pos NAME            `ok <seconds into the file> <loops completed> <frames sent>`
    clients NAME        `ok <clients playing NAME>`
    quit                stop (so does the end of stdin)
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

_LAUNCH = (
    "( appsrc name=src is-live=true format=time min-latency=0 "
    "! {codec}parse ! rtp{codec}pay name=pay0 pt=96 config-interval=-1 )"
)


def codec_of(path: str) -> str:
    """`h265` when the MP4's video sample entry is HEVC, else `h264`. The entry's type follows
    the first `stsd` box header (size, type, version and flags, entry count, entry size); the
    footage's `+faststart` puts `moov` before the coded frames, so that first `stsd` is the
    real one (looking for `hvcC` anywhere would also match coded bytes by chance)."""
    with open(path, "rb") as f:
        head = f.read(8 * 2**20)
    at = head.find(b"stsd")
    entry = head[at + 16 : at + 20] if at >= 0 else b""
    return "h265" if entry in (b"hev1", b"hvc1") else "h264"


def _running_time(element: object) -> int:
    clock = element.get_clock()  # type: ignore[attr-defined]
    if clock is None:
        return 0
    return max(0, clock.get_time() - element.get_base_time())  # type: ignore[attr-defined]


class Producer:
    """Plays one file at real time, in a loop, and hands each frame to the mount's appsrcs."""

    def __init__(self, name: str, path: str, rng: random.Random) -> None:
        self.name = name
        self.path = path
        self.rng = rng
        self.lock = threading.Lock()
        # id(appsrc) -> (appsrc, [started on a keyframe, first pts, last pts offset, start])
        self.sinks: dict[int, tuple[object, list[float]]] = {}
        self.stalled = False
        self.corrupt = 0.0
        self.caps: Gst.Caps | None = None
        self.position = 0.0
        self.loops = 0
        self.sent = 0
        self.pipeline: Gst.Pipeline | None = None
        self.start(path)

    def start(self, path: str) -> None:
        self.stop()
        self.path = path
        self.caps = None
        codec = codec_of(path)
        self.pipeline = Gst.parse_launch(
            f'filesrc location="{path}" ! qtdemux ! {codec}parse config-interval=-1 '
            f"! video/x-{codec},stream-format=byte-stream,alignment=au "
            "! appsink name=sink sync=true emit-signals=true max-buffers=4 drop=false"
        )
        sink = self.pipeline.get_by_name("sink")
        sink.connect("new-sample", self._on_sample)
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self._on_message)
        self.pipeline.set_state(Gst.State.PLAYING)

    def stop(self) -> None:
        if self.pipeline is not None:
            self.pipeline.get_bus().remove_signal_watch()
            self.pipeline.set_state(Gst.State.NULL)
            self.pipeline = None

    def seek(self, seconds: float) -> None:
        assert self.pipeline is not None
        self.pipeline.seek_simple(
            Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, int(seconds * Gst.SECOND)
        )

    def _on_message(self, _bus: Gst.Bus, message: Gst.Message) -> None:
        if message.type == Gst.MessageType.EOS:
            self.loops += 1
            self.seek(0.0)
        elif message.type == Gst.MessageType.ERROR:
            err, _debug = message.parse_error()
            print(f"log producer {self.name}: {err.message}", flush=True)

    def _on_sample(self, sink: object) -> Gst.FlowReturn:
        sample = sink.emit("pull-sample")  # type: ignore[attr-defined]
        if sample is None:
            return Gst.FlowReturn.OK
        buf = sample.get_buffer()
        if buf.pts != Gst.CLOCK_TIME_NONE:
            self.position = buf.pts / Gst.SECOND
        key = not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)
        with self.lock:
            self.caps = sample.get_caps()
            if self.stalled or not self.sinks:
                return Gst.FlowReturn.OK
            data = bytearray(buf.extract_dup(0, buf.get_size()))
            if self.corrupt > 0.0 and self.rng.random() < self.corrupt and len(data) > 64:
                for _ in range(max(4, len(data) // 100)):
                    data[self.rng.randrange(48, len(data))] = self.rng.randrange(256)
            sinks = list(self.sinks.values())
        duration = buf.duration if buf.duration != Gst.CLOCK_TIME_NONE else Gst.SECOND // 25
        for src, state in sinks:
            if not state[0]:
                if not key:
                    continue  # a client starts on a keyframe, as from a camera
                state[:] = [1.0, _running_time(src), -float(duration), time.monotonic()]
            out = Gst.Buffer.new_wrapped(bytes(data))
            # Capture times as a camera stamps them: evenly spaced while frames flow, and after
            # a pause (a loop's seek, a starved server) as late as the pause, never behind the
            # clock by more than a few frames; arrival times alone would jitter.
            since = (time.monotonic() - state[3]) * Gst.SECOND
            state[2] = max(state[2] + duration, since - 3 * duration)
            out.pts = int(state[1] + state[2])
            out.dts = out.pts
            out.duration = duration
            if not key:
                out.set_flags(Gst.BufferFlags.DELTA_UNIT)
            src.emit("push-buffer", out)  # type: ignore[attr-defined]
            self.sent += 1
        return Gst.FlowReturn.OK

    def attach(self, src: object) -> None:
        with self.lock:
            if self.caps is not None:
                src.set_property("caps", self.caps)  # type: ignore[attr-defined]
            self.sinks[id(src)] = (src, [0.0, 0.0, 0.0, 0.0])

    def detach(self, src: object) -> None:
        with self.lock:
            self.sinks.pop(id(src), None)

    def set_stalled(self, stalled: bool) -> None:
        with self.lock:
            self.stalled = stalled
            for _src, state in self.sinks.values():
                state[0] = 0.0  # resume on a keyframe


class Bench:
    def __init__(self, port: int, mounts: dict[str, str], seed: int) -> None:
        self.server = GstRtspServer.RTSPServer()
        self.server.set_address("127.0.0.1")
        self.server.set_service(str(port))
        self.producers: dict[str, Producer] = {}
        self.clients: dict[str, set[object]] = {}
        self.playing: dict[object, str] = {}
        mount_points = self.server.get_mount_points()
        for name, path in mounts.items():
            self.producers[name] = Producer(name, path, random.Random(f"{seed}/{name}"))
            self.clients[name] = set()
            factory = GstRtspServer.RTSPMediaFactory()
            factory.set_launch(_LAUNCH.format(codec=codec_of(path)))
            factory.set_shared(True)
            factory.connect("media-configure", self._on_media, name)
            mount_points.add_factory(f"/{name}", factory)
        # Each client on its own thread: preparing a live media waits for the next keyframe
        # (up to a GOP), and on the main loop that wait would queue every other connection.
        self.server.get_thread_pool().set_max_threads(256)
        self.server.connect("client-connected", self._on_client)
        self.server.attach(None)
        self.port = self.server.get_bound_port()

    def _on_media(self, _factory: object, media: object, name: str) -> None:
        producer = self.producers[name]
        src = media.get_element().get_by_name("src")  # type: ignore[attr-defined]
        producer.attach(src)
        media.connect("unprepared", lambda _m: producer.detach(src))  # type: ignore[attr-defined]

    def _on_client(self, _server: object, client: object) -> None:
        client.connect("play-request", self._on_play)  # type: ignore[attr-defined]
        client.connect("closed", self._on_closed)  # type: ignore[attr-defined]

    def _on_play(self, client: object, ctx: object) -> None:
        path = ctx.uri.abspath.strip("/")  # type: ignore[attr-defined]
        name = path.split("/")[0]
        if name in self.clients:
            self.clients[name].add(client)
            self.playing[client] = name

    def _on_closed(self, client: object) -> None:
        name = self.playing.pop(client, None)
        if name is not None:
            self.clients[name].discard(client)

    def drop(self, name: str) -> int:
        victims = set(self.clients[name])

        def keep_or_remove(_server: object, client: object) -> object:
            if client in victims:
                return GstRtspServer.RTSPFilterResult.REMOVE
            return GstRtspServer.RTSPFilterResult.KEEP

        self.server.client_filter(keep_or_remove)
        for client in victims:
            self._on_closed(client)
        return len(victims)

    def command(self, line: str) -> str:
        words = line.split()
        if not words:
            return "error empty command"
        verb, args = words[0], words[1:]
        if verb == "quit":
            return "ok bye"
        if not args or args[0] not in self.producers:
            return f"error {verb}: unknown mount {args[0] if args else ''!r}"
        name, producer = args[0], self.producers[args[0]]
        if verb == "stall":
            producer.set_stalled(True)
            return "ok"
        if verb == "resume":
            producer.set_stalled(False)
            return "ok"
        if verb == "drop":
            return f"ok {self.drop(name)}"
        if verb == "switch" and len(args) == 2:
            dropped = self.drop(name)
            producer.start(args[1])
            return f"ok {dropped}"
        if verb == "corrupt" and len(args) == 2:
            producer.corrupt = float(args[1])
            return "ok"
        if verb == "seek" and len(args) == 2:
            producer.seek(float(args[1]))
            return "ok"
        if verb == "pos":
            return f"ok {producer.position:.3f} {producer.loops} {producer.sent}"
        if verb == "clients":
            return f"ok {len(self.clients[name])}"
        return f"error unknown command {line!r}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--mount", action="append", default=[], help="NAME=FILE")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    Gst.init(None)
    mounts = dict(m.split("=", 1) for m in args.mount)
    loop = GLib.MainLoop()
    bench = Bench(args.port, mounts, args.seed)

    def run(line: str) -> bool:
        try:
            answer = bench.command(line)
        except Exception as exc:  # a bad command must not take the server down
            answer = f"error {type(exc).__name__}: {exc}"
        try:
            print(answer, flush=True)
        except OSError:
            loop.quit()  # whoever drove us is gone: nobody to serve
        if line.strip() == "quit":
            loop.quit()
        return False

    def read_stdin() -> None:
        for line in sys.stdin:
            GLib.idle_add(run, line.strip())
        GLib.idle_add(run, "quit")

    threading.Thread(target=read_stdin, daemon=True).start()
    print(f"ready {bench.port}", flush=True)
    loop.run()
    for producer in bench.producers.values():
        producer.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
