"""Letterbox, decode, NMS and mapping back, against hand-built outputs with known answers."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.detect.postprocess import batched_nms, channels_first, decode, nms, to_normalised
from edge.detect.preprocess import PAD_VALUE, LetterboxResult, letterbox

NUM_CLASSES = 6
PERSON, BICYCLE, CAR, MOTORCYCLE, BUS, SUITCASE = range(NUM_CLASSES)

Anchor = tuple[float, float, float, float, dict[int, float]]


def raw_output(anchors: list[Anchor], num_classes: int = NUM_CLASSES) -> npt.NDArray[np.float32]:
    """A 1 x (4+C) x N output as an Ultralytics export lays it out."""
    out = np.zeros((1, 4 + num_classes, len(anchors)), dtype=np.float32)
    for n, (cx, cy, w, h, scores) in enumerate(anchors):
        out[0, :4, n] = (cx, cy, w, h)
        for cls, score in scores.items():
            out[0, 4 + cls, n] = score
    return out


def geometry(
    pad_lt: tuple[int, int], content_wh: tuple[int, int], source_wh: tuple[int, int]
) -> LetterboxResult:
    return LetterboxResult(
        tensor=np.zeros((1, 3, 1, 1), dtype=np.float32),
        scale=content_wh[0] / source_wh[0],
        pad_left=pad_lt[0],
        pad_top=pad_lt[1],
        content_width=content_wh[0],
        content_height=content_wh[1],
        source_width=source_wh[0],
        source_height=source_wh[1],
    )


# --- decode -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchors", "threshold", "keep", "expected"),
    [
        pytest.param(
            [(100, 50, 20, 10, {CAR: 0.9})],
            0.25,
            [CAR],
            [((90, 45, 110, 55), 0.9, CAR)],
            id="cxcywh-to-xyxy",
        ),
        pytest.param(
            [(10, 10, 4, 4, {CAR: 0.25}), (20, 20, 4, 4, {CAR: 0.2501})],
            0.25,
            [CAR],
            [((18, 18, 22, 22), 0.2501, CAR)],
            id="score-equal-to-threshold-dropped",
        ),
        pytest.param(
            [(10, 10, 4, 4, {PERSON: 0.1})],
            0.0,
            [PERSON],
            [((8, 8, 12, 12), 0.1, PERSON)],
            id="zero-threshold-keeps-any-positive",
        ),
        pytest.param(
            [(10, 10, 4, 4, {SUITCASE: 0.5, MOTORCYCLE: 0.3})],
            0.25,
            [MOTORCYCLE, BICYCLE],
            [],
            id="best-class-unwanted-drops-anchor",
        ),
        pytest.param(
            [(10, 10, 4, 4, {SUITCASE: 0.2, MOTORCYCLE: 0.3})],
            0.25,
            [MOTORCYCLE],
            [((8, 8, 12, 12), 0.3, MOTORCYCLE)],
            id="best-class-wanted-kept",
        ),
        pytest.param(
            [(10, 10, 4, 4, {BUS: 0.8}), (30, 30, 4, 4, {PERSON: 0.7})],
            0.25,
            [PERSON],
            [((28, 28, 32, 32), 0.7, PERSON)],
            id="class-filter",
        ),
        pytest.param(
            [(10, 10, 4, 4, {BUS: 0.8, CAR: 0.6})],
            0.25,
            [BUS, CAR],
            [((8, 8, 12, 12), 0.8, BUS)],
            id="one-class-per-anchor",
        ),
        pytest.param(
            [(10, 10, 4, 4, {CAR: 0.9})],
            0.25,
            [],
            [],
            id="nothing-wanted",
        ),
    ],
)
def test_decode(
    anchors: list[Anchor],
    threshold: float,
    keep: list[int],
    expected: list[tuple[tuple[float, ...], float, int]],
) -> None:
    boxes, scores, classes = decode(raw_output(anchors), threshold, keep)
    assert boxes.shape == (len(expected), 4)
    assert boxes.dtype == np.float32
    assert scores.dtype == np.float32
    for i, (box, score, cls) in enumerate(expected):
        np.testing.assert_allclose(boxes[i], box, atol=1e-4)
        assert scores[i] == pytest.approx(score, abs=1e-6)
        assert classes[i] == cls


def test_decode_accepts_transposed_layout_when_told_the_class_count() -> None:
    out = raw_output([(100, 50, 20, 10, {CAR: 0.9}), (5, 5, 2, 2, {BUS: 0.1})])
    transposed = np.ascontiguousarray(out.transpose(0, 2, 1))
    for layout in (out, transposed):
        boxes, _, classes = decode(layout, 0.25, [CAR, BUS], num_classes=NUM_CLASSES)
        np.testing.assert_allclose(boxes, [[90, 45, 110, 55]])
        assert classes.tolist() == [CAR]


@pytest.mark.parametrize(
    ("shape", "num_classes"),
    [((1, 84), None), ((1, 3, 10), None), ((1, 90, 8400), 80), ((2, 84, 10, 1), 80)],
)
def test_channels_first_rejects_unexpected_shapes(
    shape: tuple[int, ...], num_classes: int | None
) -> None:
    with pytest.raises(ValueError, match="output"):
        channels_first(np.zeros(shape, dtype=np.float32), num_classes)


def test_decode_rejects_class_ids_out_of_range() -> None:
    with pytest.raises(ValueError, match="out of range"):
        decode(raw_output([(1, 1, 1, 1, {CAR: 0.9})]), 0.25, [NUM_CLASSES])


def test_decode_with_no_anchors() -> None:
    boxes, scores, classes = decode(np.zeros((1, 4 + NUM_CLASSES, 0)), 0.25, [CAR])
    assert boxes.shape == (0, 4)
    assert scores.shape == classes.shape == (0,)


# --- NMS ----------------------------------------------------------------------------------------

A = (0.0, 0.0, 10.0, 10.0)
A_SHIFTED = (1.0, 0.0, 11.0, 10.0)  # IoU with A = 90 / 110 = 0.818
A_HALF = (0.0, 0.0, 10.0, 5.0)  # IoU with A = 0.5 exactly
FAR = (100.0, 100.0, 110.0, 110.0)
B_CHAIN = (6.0, 0.0, 16.0, 10.0)  # IoU with A = 0.25; with C_CHAIN = 0.43
C_CHAIN = (10.0, 0.0, 20.0, 10.0)  # IoU with A = 0


@pytest.mark.parametrize(
    ("boxes", "scores", "iou", "kept"),
    [
        pytest.param([A, A_SHIFTED], [0.9, 0.8], 0.45, [0], id="overlap-suppressed"),
        pytest.param([A, A_SHIFTED], [0.7, 0.8], 0.45, [1], id="better-score-wins"),
        pytest.param([A, FAR], [0.5, 0.9], 0.45, [1, 0], id="disjoint-kept-best-first"),
        pytest.param([A, A_HALF], [0.9, 0.8], 0.5, [0, 1], id="iou-equal-threshold-kept"),
        pytest.param([A, A_HALF], [0.9, 0.8], 0.49, [0], id="iou-above-threshold-suppressed"),
        pytest.param(
            [A, B_CHAIN, C_CHAIN], [0.9, 0.8, 0.7], 0.2, [0, 2], id="suppressed-box-suppresses-none"
        ),
        pytest.param([A, A, A], [0.5, 0.5, 0.5], 0.45, [0], id="ties-keep-first"),
        pytest.param([(5, 5, 5, 5), A], [0.9, 0.8], 0.45, [0, 1], id="zero-area-box"),
        pytest.param([], [], 0.45, [], id="empty"),
    ],
)
def test_nms(
    boxes: list[tuple[float, ...]], scores: list[float], iou: float, kept: list[int]
) -> None:
    assert nms(boxes, scores, iou).tolist() == kept


@pytest.mark.parametrize(
    ("classes", "kept"),
    [
        pytest.param([CAR, CAR, CAR], [0, 2], id="same-class-suppressed"),
        pytest.param([CAR, BUS, CAR], [0, 1, 2], id="different-classes-kept"),
        pytest.param([PERSON, CAR, BUS], [0, 1, 2], id="all-different"),
    ],
)
def test_batched_nms_is_class_wise(classes: list[int], kept: list[int]) -> None:
    boxes = [A, A_SHIFTED, FAR]
    scores = [0.9, 0.8, 0.7]
    assert sorted(batched_nms(boxes, scores, classes, 0.45).tolist()) == kept


def test_batched_nms_offsets_cover_negative_and_large_coordinates() -> None:
    boxes = [(-50.0, -50.0, 700.0, 700.0), (-40.0, -50.0, 700.0, 700.0), (0.0, 0.0, 640.0, 640.0)]
    kept = batched_nms(boxes, [0.9, 0.8, 0.7], [PERSON, CAR, PERSON], 0.45)
    assert kept.tolist() == [0, 1]


def _iou(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _reference_nms(
    boxes: npt.NDArray[np.float64], scores: npt.NDArray[np.float64], classes: list[int], thr: float
) -> set[int]:
    kept: list[int] = []
    for i in sorted(range(len(scores)), key=lambda k: (-scores[k], k)):
        if all(classes[j] != classes[i] or _iou(boxes[i], boxes[j]) <= thr for j in kept):
            kept.append(i)
    return set(kept)


_coord = st.integers(0, 60)
_box = st.tuples(_coord, _coord, st.integers(1, 30), st.integers(1, 30)).map(
    lambda t: (float(t[0]), float(t[1]), float(t[0] + t[2]), float(t[1] + t[3]))
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(_box, st.integers(1, 1000), st.integers(0, 2)), max_size=25),
    st.sampled_from([0.3, 0.45, 0.7]),
)
def test_batched_nms_matches_per_class_reference(
    items: list[tuple[tuple[float, float, float, float], int, int]], thr: float
) -> None:
    boxes = np.array([b for b, _, _ in items], dtype=np.float64).reshape(-1, 4)
    scores = np.array([s / 1000 for _, s, _ in items], dtype=np.float64)
    classes = [c for _, _, c in items]
    got = batched_nms(boxes, scores, classes, thr).tolist()
    assert set(got) == _reference_nms(boxes, scores, classes, thr)
    assert [scores[i] for i in got] == sorted((scores[i] for i in got), reverse=True)


# --- mapping back -------------------------------------------------------------------------------

# 1280x720 into 640: scale 0.5, content 640x360, 140 px bars top and bottom.
LANDSCAPE = geometry((0, 140), (640, 360), (1280, 720))
# 720x1280 into 640: content 360x640, 140 px bars left and right.
PORTRAIT = geometry((140, 0), (360, 640), (720, 1280))


@pytest.mark.parametrize(
    ("lb", "box", "expected"),
    [
        pytest.param(LANDSCAPE, (0, 140, 640, 500), (0, 0, 1, 1), id="landscape-whole"),
        pytest.param(LANDSCAPE, (160, 230, 320, 320), (0.25, 0.25, 0.5, 0.5), id="landscape"),
        pytest.param(PORTRAIT, (140, 0, 500, 640), (0, 0, 1, 1), id="portrait-whole"),
        pytest.param(PORTRAIT, (230, 160, 320, 320), (0.25, 0.25, 0.5, 0.5), id="portrait"),
        pytest.param(LANDSCAPE, (-20, 100, 100, 600), (0, 0, 0.15625, 1), id="clipped"),
        pytest.param(PORTRAIT, (0, 10, 100, 20), (0, 1 / 64, 0, 2 / 64), id="in-padding"),
    ],
)
def test_to_normalised(
    lb: LetterboxResult, box: tuple[float, ...], expected: tuple[float, ...]
) -> None:
    np.testing.assert_allclose(to_normalised([box], lb)[0], expected, atol=1e-6)


@pytest.mark.parametrize(
    ("src_hw", "size", "rect_xyxy"),
    [
        pytest.param((720, 1280), (640, 640), (320, 180, 960, 540), id="landscape-640"),
        pytest.param((1280, 720), (640, 640), (100, 700, 500, 1200), id="portrait-640"),
        pytest.param((1080, 810), (320, 320), (34, 230, 800, 766), id="bus-320"),
        pytest.param((333, 777), (320, 320), (10, 20, 400, 300), id="odd-sizes"),
        pytest.param((480, 640), (384, 640), (0, 0, 640, 240), id="non-square-input"),
    ],
)
def test_box_drawn_in_frame_maps_back_through_letterbox(
    src_hw: tuple[int, int], size: tuple[int, int], rect_xyxy: tuple[int, int, int, int]
) -> None:
    """Draw a white rectangle, letterbox, find it in the tensor, map it back."""
    h, w = src_hw
    x1, y1, x2, y2 = rect_xyxy
    image = np.zeros((h, w, 3), dtype=np.uint8)
    image[y1:y2, x1:x2] = 255
    lb = letterbox(image, size)
    ys, xs = np.nonzero(lb.tensor[0, 0] > 0.5)
    found = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    got = to_normalised([found], lb)[0]
    # One input pixel of slack for the resize's rounding at the edges.
    tol = max(1 / lb.content_width, 1 / lb.content_height) * 1.01
    np.testing.assert_allclose(got, (x1 / w, y1 / h, x2 / w, y2 / h), atol=tol)


# --- letterbox ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src_hw", "size", "content_wh", "pad_lt"),
    [
        ((720, 1280), (640, 640), (640, 360), (0, 140)),
        ((1280, 720), (640, 640), (360, 640), (140, 0)),
        ((1080, 810), (640, 640), (480, 640), (80, 0)),
        ((1080, 810), (320, 320), (240, 320), (40, 0)),
        ((641, 640), (640, 640), (639, 640), (0, 0)),
        ((100, 200), (640, 640), (640, 320), (0, 160)),
    ],
)
def test_letterbox_geometry(
    src_hw: tuple[int, int],
    size: tuple[int, int],
    content_wh: tuple[int, int],
    pad_lt: tuple[int, int],
) -> None:
    lb = letterbox(np.zeros((*src_hw, 3), dtype=np.uint8), size)
    assert lb.tensor.shape == (1, 3, *size)
    assert lb.tensor.dtype == np.float32
    assert (lb.content_width, lb.content_height) == content_wh
    assert (lb.pad_left, lb.pad_top) == pad_lt
    assert (lb.source_height, lb.source_width) == src_hw


def test_letterbox_pads_grey_swaps_to_rgb_and_scales_to_unit() -> None:
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    image[..., 0] = 255  # blue in BGR
    image[..., 2] = 51
    t = letterbox(image, (64, 64)).tensor[0]
    grey = PAD_VALUE / 255
    np.testing.assert_allclose(t[:, 0, 0], [grey] * 3, rtol=1e-6)  # top bar
    np.testing.assert_allclose(t[:, 63, 63], [grey] * 3, rtol=1e-6)  # bottom bar
    np.testing.assert_allclose(t[:, 32, 32], [0.2, 0.0, 1.0], rtol=1e-6)  # R, G, B


def test_letterbox_reuses_buffer_and_refills_padding() -> None:
    buf = np.full((1, 3, 64, 64), 7.0, dtype=np.float32)
    first = letterbox(np.full((32, 64, 3), 255, dtype=np.uint8), (64, 64), out=buf)
    assert first.tensor is buf
    second = letterbox(np.full((64, 32, 3), 255, dtype=np.uint8), (64, 64), out=buf)
    assert second.tensor is buf
    grey = np.float32(PAD_VALUE / 255)
    assert np.all(buf[0, :, :, :16] == grey)
    assert np.all(buf[0, :, :, 48:] == grey)
    assert np.all(buf[0, :, :, 16:48] == 1.0)


@pytest.mark.parametrize(
    "buf",
    [
        np.zeros((1, 3, 64, 32), dtype=np.float32),
        np.zeros((1, 3, 64, 64), dtype=np.float64),
        np.zeros((1, 64, 64, 3), dtype=np.float32).transpose(0, 3, 1, 2),
    ],
)
def test_letterbox_rejects_bad_buffers(buf: npt.NDArray[np.float32]) -> None:
    with pytest.raises(ValueError, match="buffer"):
        letterbox(np.zeros((10, 10, 3), dtype=np.uint8), (64, 64), out=buf)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((10, 10), dtype=np.uint8),
        np.zeros((10, 10, 4), dtype=np.uint8),
        np.zeros((10, 10, 3), dtype=np.float32),
        np.zeros((0, 10, 3), dtype=np.uint8),
    ],
)
def test_letterbox_rejects_bad_images(image: npt.NDArray[np.generic]) -> None:
    with pytest.raises(ValueError, match="image"):
        letterbox(image, (64, 64))  # type: ignore[arg-type]
