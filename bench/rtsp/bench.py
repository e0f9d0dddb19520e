"""`RtspBench`: the loopback RTSP server (`bench/rtsp/server.py`) as a subprocess, and its faults.

    with RtspBench({"lot": encode(recipes()["lot-640x360-g50-512k"])}) as rtsp:
        url = rtsp.url("lot")            # rtsp://127.0.0.1:<free port>/lot
        rtsp.stall("lot"); rtsp.resume("lot"); rtsp.drop("lot")

The server runs under the system Python, which has GStreamer's `gi` bindings (the project's
virtualenv has not); it picks a free port itself and says which. Every command waits for the
server's answer, so a fault has happened when the call returns.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = ["SERVER", "SYSTEM_PYTHON", "Position", "RtspBench", "RtspBenchError", "unavailable"]

SERVER = Path(__file__).with_name("server.py")
SYSTEM_PYTHON = os.environ.get("GRID_RTSP_PYTHON", "/usr/bin/python3")
_PROBE = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
    "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
    "missing = [e for e in ('qtdemux', 'h264parse', 'rtph264pay', 'appsrc', 'appsink') "
    "if Gst.ElementFactory.find(e) is None]; print(' '.join(missing))"
)


class RtspBenchError(RuntimeError):
    """The RTSP server could not start, or refused or did not answer a command."""


@dataclass(frozen=True, slots=True)
class Position:
    seconds: float  # into the file
    loops: int  # completed
    sent: int  # frames pushed to clients


def unavailable() -> str | None:
    """Why the bench cannot run here (None when it can): for tests to skip with a reason."""
    if shutil.which("ffmpeg") is None:
        return "ffmpeg not installed (apt-get install ffmpeg)"
    try:
        proc = subprocess.run(
            [SYSTEM_PYTHON, "-c", _PROBE], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{SYSTEM_PYTHON} cannot run: {exc}"
    if proc.returncode != 0:
        return (
            f"{SYSTEM_PYTHON} has no GStreamer RTSP server bindings (apt-get install python3-gi "
            f"gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad): "
            f"{proc.stderr.strip().splitlines()[-1:]}"
        )
    if proc.stdout.strip():
        return f"GStreamer elements missing: {proc.stdout.strip()}"
    return None


class RtspBench:
    """The RTSP server subprocess; `start()` (or `with`) then `url(name)` and the faults."""

    def __init__(
        self, mounts: Mapping[str, Path], *, seed: int = 1, answer_timeout_s: float = 10.0
    ) -> None:
        if not mounts:
            raise ValueError("an RTSP bench needs at least one mount")
        for name, path in mounts.items():
            if not name.isidentifier():
                raise ValueError(f"mount name {name!r}: letters, digits and _ only")
            if not Path(path).is_file():
                raise FileNotFoundError(f"mount {name}: no file {path}")
        self.mounts = {k: Path(v) for k, v in mounts.items()}
        self._seed = seed
        self._timeout = answer_timeout_s
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self.port = 0
        self.log: list[str] = []

    def __enter__(self) -> RtspBench:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self._proc is not None:
            raise RtspBenchError("the RTSP bench is already running")
        cmd = [SYSTEM_PYTHON, str(SERVER), "--port", "0", "--seed", str(self._seed)]
        for name, path in self.mounts.items():
            cmd += ["--mount", f"{name}={path}"]
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._read, name="rtsp-bench-reader", daemon=True).start()
        first = self._answer(30.0)
        if not first.startswith("ready "):
            self.stop()
            raise RtspBenchError(f"RTSP server did not start: {first!r}; log: {self.log[-5:]}")
        self.port = int(first.split()[1])

    def _read(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        for line in proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _answer(self, timeout: float) -> str:
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise RtspBenchError(f"RTSP server silent for {timeout:g} s") from None
            if line is None:
                raise RtspBenchError(f"RTSP server exited; log: {self.log[-5:]}")
            if line.startswith(("ok", "error", "ready ")):
                return line
            self.log.append(line)  # GStreamer warnings and the server's own "log ..." lines

    def command(self, line: str) -> str:
        """Send one command; returns what followed `ok`, raises on `error`."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.stdin is None or proc.poll() is not None:
                raise RtspBenchError("the RTSP bench is not running")
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            answer = self._answer(self._timeout)
        if not answer.startswith("ok"):
            raise RtspBenchError(f"{line!r}: {answer}")
        return answer[2:].strip()

    @property
    def pid(self) -> int:
        """The server process (for its CPU time)."""
        if self._proc is None:
            raise RtspBenchError("the RTSP bench is not running")
        return self._proc.pid

    def url(self, name: str, *, host: str = "127.0.0.1") -> str:
        if name not in self.mounts:
            raise KeyError(f"no mount {name!r} (have {', '.join(self.mounts)})")
        return f"rtsp://{host}:{self.port}/{name}"

    def stall(self, name: str) -> None:
        self.command(f"stall {name}")

    def resume(self, name: str) -> None:
        self.command(f"resume {name}")

    def drop(self, name: str) -> int:
        """Close every client connection of `name`; returns how many there were."""
        return int(self.command(f"drop {name}"))

    def switch(self, name: str, path: Path) -> int:
        """Restart `name` with another file (another resolution); drops its clients."""
        if not Path(path).is_file():
            raise FileNotFoundError(path)
        return int(self.command(f"switch {name} {path}"))

    def corrupt(self, name: str, share: float) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share must be in [0, 1], got {share}")
        self.command(f"corrupt {name} {share}")

    def seek(self, name: str, seconds: float) -> None:
        self.command(f"seek {name} {seconds}")

    def position(self, name: str) -> Position:
        seconds, loops, sent = self.command(f"pos {name}").split()
        return Position(float(seconds), int(loops), int(sent))

    def clients(self, name: str) -> int:
        return int(self.command(f"clients {name}"))

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # the server quits at the end of its stdin
            proc.wait(5.0)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(5.0)
