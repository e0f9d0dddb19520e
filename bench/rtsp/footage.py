"""Camera-like H.264 (and H.265) files made from the shared footage, encoded once and cached.

A real camera sends H.264 at a fixed frame rate with a fixed GOP (a keyframe every 1-4 s) and
a bitrate its settings cap, 2-4 Mbit/s for a 1080p main stream, a few hundred kbit/s for a
640x360 substream. Its picture is never perfectly still: sensor noise makes every frame carry
data, which is what makes decoding cost what it costs. The files here are made that way
(x264 `superfast`, main profile with CABAC like a camera's encoder, no B-frames, temporal
noise), so the decoder and the RTSP server see what they would see on site.

Encoding is the expensive part (1080p at about 30 frames per second of one core), so each
file is made once per recipe and kept in the cache directory (`GRID_RTSP_CACHE`, default
`~/.cache/grid-sentinel/rtsp`), named by a hash of its recipe; serving a cached file costs
next to nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2

from bench.common import FORECOURT, LOT_CLIP, ROAD_CLIP, data_dir, image_file
from bench.streams import lift_pictures

__all__ = ["MAIN", "SUB", "Recipe", "Shape", "cache_dir", "encode", "recipes"]

_VERSION = 1  # bump to re-encode every cached file after a change of the recipe code


@dataclass(frozen=True, slots=True)
class Shape:
    """How a camera encodes one stream."""

    width: int
    height: int
    fps: int = 25
    gop: int = 50  # frames between keyframes: 2 s at 25 fps, a common CCTV default
    kbps: int = 3000


MAIN = Shape(1920, 1080, kbps=3000)
SUB = Shape(640, 360, kbps=512)


@dataclass(frozen=True, slots=True)
class Recipe:
    """A picture source and the stream shape it is encoded to.

    `source` is one of: `lot` (the car-park time-lapse slowed `slow` times: a video frame
    lasts 2 s at 40x, cars stay 30-40 s), `road` (the road clip at its own speed), `forecourt`
    (the still with a van in the fire lane, for `still_s` seconds), `lift` (the lift car empty
    for 5 s, then with two e-bikes for 5 s).
    """

    source: str
    shape: Shape
    slow: float = 40.0
    still_s: float = 60.0
    noise: int = 6
    codec: str = "h264"
    """`h264`, or `h265`: many Chinese CCTV cameras send H.265 by default."""

    @property
    def name(self) -> str:
        s = self.shape
        suffix = "" if self.codec == "h264" else f"-{self.codec}"
        return f"{self.source}-{s.width}x{s.height}-g{s.gop}-{s.kbps}k{suffix}"

    def key(self) -> str:
        described = {"v": _VERSION, **asdict(self)}
        if self.codec == "h264":
            del described["codec"]  # the H.264 files cached before H.265 keep their names
        blob = json.dumps(described, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def recipes() -> dict[str, Recipe]:
    """The streams the tests and benchmarks use, by name."""
    out = [
        Recipe("lot", MAIN),
        Recipe("lot", SUB),
        Recipe("road", MAIN),
        Recipe("road", SUB),
        Recipe("forecourt", MAIN),
        Recipe("lift", SUB),
        Recipe("lift", MAIN),
        # H.265 at 720p, 20 s looped: cheap enough to encode for a test on a cold cache.
        Recipe("forecourt", Shape(1280, 720, kbps=2000), still_s=20.0, codec="h265"),
    ]
    return {r.name: r for r in out}


def cache_dir() -> Path:
    env = os.environ.get("GRID_RTSP_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "grid-sentinel" / "rtsp"


def encode(recipe: Recipe, cache: Path | None = None) -> Path:
    """The recipe's MP4, encoded now unless already cached; safe against a crash mid-way."""
    directory = cache or cache_dir()
    path = directory / f"{recipe.name}-{recipe.key()}.mp4"
    if path.is_file():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg not installed (apt-get install ffmpeg)")
    with tempfile.TemporaryDirectory(dir=directory, prefix=".enc-") as tmp:
        work = Path(tmp)
        inputs = _inputs(recipe, work)
        out = work / "out.mp4"
        s = recipe.shape
        # Pad to the stream's aspect ratio like a camera's fixed sensor frame would be; noise
        # last, so every frame differs as a real sensor's does.
        vf = (
            f"fps={s.fps},scale={s.width}:{s.height}:force_original_aspect_ratio=decrease,"
            f"pad={s.width}:{s.height}:(ow-iw)/2:(oh-ih)/2,setsar=1,"
            f"noise=alls={recipe.noise}:allf=t,format=yuv420p"
        )
        cmd = [
            ffmpeg, "-v", "error", "-y", *inputs, "-vf", vf, "-an", *_codec_args(recipe),
            "-b:v", f"{s.kbps}k", "-maxrate", f"{s.kbps}k", "-bufsize", f"{s.kbps}k",
            "-threads", "1", "-movflags", "+faststart", str(out),
        ]  # fmt: skip
        subprocess.run(cmd, check=True, timeout=3600)
        os.replace(out, path)
    return path


def _codec_args(recipe: Recipe) -> list[str]:
    """The encoder settings of a camera: fixed GOP, no B-frames."""
    gop = recipe.shape.gop
    if recipe.codec == "h265":
        params = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:log-level=error"
        return ["-c:v", "libx265", "-preset", "superfast", "-x265-params", params]
    if recipe.codec != "h264":
        raise ValueError(f"unknown codec {recipe.codec!r}: h264 or h265")
    return [
        "-c:v", "libx264", "-preset", "superfast", "-profile:v", "main", "-bf", "0",
        "-x264-params", f"keyint={gop}:min-keyint={gop}:scenecut=0",
    ]  # fmt: skip


def _inputs(recipe: Recipe, work: Path) -> list[str]:
    if recipe.source == "lot":
        # Input timestamps stretched: each time-lapse frame is held `slow` / 20 s.
        return ["-itsscale", f"{recipe.slow:g}", "-i", str(data_dir() / LOT_CLIP)]
    if recipe.source == "road":
        return ["-i", str(data_dir() / ROAD_CLIP)]
    if recipe.source == "forecourt":
        picture = work / "still.png"
        cv2.imwrite(str(picture), image_file(FORECOURT))
        return ["-loop", "1", "-t", f"{recipe.still_s:g}", "-i", str(picture)]
    if recipe.source == "lift":
        empty, bikes = lift_pictures()
        cv2.imwrite(str(work / "empty.png"), empty)
        cv2.imwrite(str(work / "bikes.png"), bikes)
        lines = [f"file '{work / n}'\nduration 5\n" for n in ("empty.png", "bikes.png")]
        # The concat demuxer ignores the last entry's duration unless the file is listed again.
        (work / "list.txt").write_text("".join(lines) + f"file '{work / 'bikes.png'}'\n")
        return ["-f", "concat", "-safe", "0", "-i", str(work / "list.txt")]
    raise ValueError(f"unknown footage source {recipe.source!r} (lot, road, forecourt, lift)")


def main() -> int:
    """`python -m bench.rtsp.footage`: encode every recipe now (a cold cache takes minutes)."""
    for name, recipe in recipes().items():
        print(name, encode(recipe), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
