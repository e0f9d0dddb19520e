"""Letterboxing a BGR frame into the NCHW float tensor an Ultralytics YOLO export expects.

This reproduces Ultralytics' own `LetterBox` (fit inside, keep aspect ratio, grey 114 padding
split evenly, larger half at the bottom/right) so a model sees what it was validated on.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from edge.messages import Image

PAD_VALUE = 114
"""Ultralytics pads with grey 114; other values shift the scores slightly near the borders."""

Tensor = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class LetterboxResult:
    """The model input plus the geometry needed to map boxes back to the source frame.

    The frame occupies `content_width` x `content_height` pixels of the input, starting at
    (`pad_left`, `pad_top`); everything else is padding.
    """

    tensor: Tensor
    scale: float
    pad_left: int
    pad_top: int
    content_width: int
    content_height: int
    source_width: int
    source_height: int


def letterbox(image: Image, size: tuple[int, int], out: Tensor | None = None) -> LetterboxResult:
    """Fit `image` (BGR, H x W x 3, uint8) into `size` (h, w) as a 1 x 3 x h x w RGB tensor in 0..1.

    Pass `out` (float32, 1 x 3 x h x w, C-contiguous) to reuse a buffer across frames; it is
    overwritten completely and returned as `tensor`.
    """
    dst_h, dst_w = size
    if dst_h <= 0 or dst_w <= 0:
        raise ValueError(f"letterbox size must be positive, got {size}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a BGR uint8 H x W x 3 image, got {image.dtype} {image.shape}")
    src_h, src_w = int(image.shape[0]), int(image.shape[1])
    if src_h == 0 or src_w == 0:
        raise ValueError(f"empty image {image.shape}")
    tensor = _output_buffer(out, dst_h, dst_w)

    scale = min(dst_h / src_h, dst_w / src_w)
    new_w = min(dst_w, max(1, round(src_w * scale)))
    new_h = min(dst_h, max(1, round(src_h * scale)))
    left = (dst_w - new_w) // 2
    top = (dst_h - new_h) // 2

    resized = image
    if (new_w, new_h) != (src_w, src_h):
        scaled = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        resized = np.asarray(scaled, dtype=np.uint8)

    _fill_padding(tensor, top, left, new_h, new_w)
    inv = np.float32(1.0 / 255.0)
    for channel in range(3):
        # Output channel 0 is R, which is BGR channel 2: the swap costs nothing done here.
        np.multiply(
            resized[:, :, 2 - channel],
            inv,
            out=tensor[0, channel, top : top + new_h, left : left + new_w],
            dtype=np.float32,
        )
    return LetterboxResult(
        tensor=tensor,
        scale=scale,
        pad_left=left,
        pad_top=top,
        content_width=new_w,
        content_height=new_h,
        source_width=src_w,
        source_height=src_h,
    )


def _output_buffer(out: Tensor | None, dst_h: int, dst_w: int) -> Tensor:
    shape = (1, 3, dst_h, dst_w)
    if out is None:
        return np.empty(shape, dtype=np.float32)
    if out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(
            f"output buffer must be C-contiguous float32 {shape}, got {out.dtype} {out.shape}"
        )
    return out


def _fill_padding(tensor: Tensor, top: int, left: int, new_h: int, new_w: int) -> None:
    # Only the borders: the content area is overwritten anyway, and a reused buffer may hold
    # a previous frame of another size, so every border must be refilled each time.
    value = np.float32(PAD_VALUE / 255.0)
    plane = tensor[0]
    plane[:, :top, :] = value
    plane[:, top + new_h :, :] = value
    plane[:, top : top + new_h, :left] = value
    plane[:, top : top + new_h, left + new_w :] = value
