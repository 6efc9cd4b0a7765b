"""OpenCV's INTER_AREA in numpy (``envs/atari/resize.py``): hand-worked averages with fractional
coverage, OpenCV's rounding (ties to even, on its float32 weights), constants, shapes and refusals.
Equality with ``cv2.resize`` itself on Atari frames: tests/test_atari_envpool.py."""

from __future__ import annotations

import numpy as np
import pytest

from dormant.envs.atari.resize import area_resize, area_weights


def test_five_by_five_to_two_by_two_weighs_the_covered_fraction():
    # each output pixel covers 2.5×2.5 source pixels: rows/columns 0, 1 weigh 1/2.5 = 0.4 in the first
    # window, row/column 2 (half covered) 0.5/2.5 = 0.2, and 0.2, 0.4, 0.4 for 2, 3, 4 in the second.
    image = np.zeros((5, 5), np.uint8)
    image[:2, :2], image[2, :2], image[:2, 2], image[2, 2] = 10, 20, 20, 40
    # top-left: (4·10·0.16 + 2·20·0.08 + 2·20·0.08 + 40·0.04) = 6.4 + 3.2 + 3.2 + 1.6 = 14.4 → 14
    # (Pillow's box filter weighs rows/columns 0, 1, 2 by 1 each: 160 / 9 → 18);
    # top-right: column 2 by 0.2, rows 0, 1, 2 by 0.4, 0.4, 0.2: 0.2·(8 + 8 + 8) = 4.8 → 5, bottom-left alike;
    # bottom-right: only pixel (2, 2): 40·0.2·0.2 = 1.6 → 2
    np.testing.assert_array_equal(area_resize(image, 2), [[14, 5], [5, 2]])
    from PIL import Image  # the filter the ale-py path used before: whole pixels, 160 / 9 → 18

    assert np.asarray(Image.fromarray(image).resize((2, 2), Image.Resampling.BOX))[0, 0] == 18


def test_one_dimensional_non_integer_windows():
    # 5 → 2 along the columns (rows constant, so the row average changes nothing): windows [0, 2.5], [2.5, 5]
    image = np.tile(np.array([0, 10, 20, 30, 40], np.uint8), (5, 1))
    # (0 + 10 + 0.5·20) / 2.5 = 8 and (0.5·20 + 30 + 40) / 2.5 = 32
    np.testing.assert_array_equal(area_resize(image, 2), [[8, 32], [8, 32]])
    index, weight = area_weights(5, 2)
    np.testing.assert_array_equal(index, [[0, 2], [1, 3], [2, 4]])
    np.testing.assert_allclose(weight, [[0.4, 0.2], [0.4, 0.4], [0.2, 0.4]])


def test_ties_round_to_even_on_opencvs_float32_weights():
    # 8 → 3: windows of 8/3 pixels; column 2 is 2/3 inside the first window: weight (2/3)/(8/3) = 1/4
    # (0.25 exactly in float32; in float64 it is 0.2499…, which would round 1.5 down to 1).
    image = np.zeros((8, 8), np.uint8)
    for value, first in ((2, 0), (6, 2), (10, 2)):  # 0.5 → 0, 1.5 → 2, 2.5 → 2 (ties to even, as cvRound)
        image[:, 2] = value
        assert area_resize(image, 3)[0, 0] == first
    single = np.zeros((8, 8), np.uint8)
    single[0, 2] = 16  # 16 · 3/8 (row 0, whole) · 1/4 (column 2) = 1.5 → 2; cv2.resize gives 2 as well
    assert area_resize(single, 3)[0, 0] == 2


@pytest.mark.parametrize("value", [0, 1, 137, 254, 255])
def test_a_constant_image_stays_constant(value):
    image = np.full((210, 160), value, np.uint8)
    for size in (36, 84, 100, 160):
        assert (area_resize(image, size) == value).all()


def test_shape_dtype_and_refusals():
    frame = np.random.default_rng(0).integers(0, 256, (210, 160), dtype=np.uint8)
    out = area_resize(frame, 84)
    assert out.shape == (84, 84) and out.dtype == np.uint8
    assert out.min() >= frame.min() and out.max() <= frame.max()  # an average stays within the range
    assert area_weights(210, 84)[0].shape == (3, 84)  # a 2.5-row window touches at most 3 rows
    with pytest.raises(ValueError, match="shrinks only"):
        area_resize(frame, 161)
    with pytest.raises(ValueError, match="H×W uint8"):
        area_resize(frame.astype(np.float32), 84)
    with pytest.raises(ValueError, match="H×W uint8"):
        area_resize(np.stack([frame] * 3, -1), 84)
