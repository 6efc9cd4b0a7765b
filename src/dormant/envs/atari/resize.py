"""OpenCV's ``INTER_AREA`` downscale in numpy, bit for bit, for the Atari frames (no ``cv2`` dependency).

Why: Dopamine (ReDo's code) and EnvPool resize Atari's 210×160 frames to 84×84 with
``cv2.resize(..., interpolation=cv2.INTER_AREA)``; the ale-py path must see the same images.

What it computes: each output pixel is the area-weighted average of the source pixels its
window covers (a window is ``n_in / n_out`` source pixels wide: 2.5 rows and ≈ 1.905 columns
for Atari; a source pixel cut by the window's edge weighs the fraction covered), rounded to
the nearest integer, ties to even. To give OpenCV's bytes exactly, not only up to a rounding
tie, it repeats OpenCV's arithmetic (``computeResizeAreaTab`` and ``ResizeArea_Invoker`` in
``imgproc/resize.cpp``): the weights are float32 (covered fraction / window width, computed
in float64 then rounded), each source row is first summed along the columns in float32, term
by term left to right, and the rows are then summed the same way. A float64 matrix product
``R @ img @ C.T`` gives the same averages up to float rounding and, on real frames, differs
from OpenCV by 1 grey level on 0.0005–0.04 % of the pixels (those whose exact average is a
tie, x.5); this order of float32 operations gives 0 differing pixels (docs/suites.md).

Only downscaling (``size`` ≤ each side): OpenCV's ``INTER_AREA`` enlarges with another
(bilinear-like) rule, and shrinks by an exact integer factor along both axes with an integer
fast path; neither occurs for square Atari frames of 36–160 pixels (``size`` would have to
divide both 210 and 160, i.e. 10).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=16)
def area_weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """The source indices and float32 weights of each output pixel along one axis, as OpenCV
    lists them: two k × n_out arrays (k = the most source pixels a window touches), term ``t``
    of output ``j`` in column ``j``, row ``t``; unused terms weigh 0 (adding 0.0 changes no sum)."""
    if not 0 < n_out <= n_in:
        raise ValueError(f"area_resize shrinks only: {n_in} → {n_out} pixels")
    scale = 1.0 / (n_out / n_in)  # OpenCV's scale_x = 1 / inv_scale_x, in float64
    terms: list[list[tuple[int, np.float32]]] = []
    for j in range(n_out):
        lo = j * scale
        hi = lo + scale
        first, last = math.ceil(lo), min(math.floor(hi), n_in - 1)
        first = min(first, last)
        width = min(scale, n_in - lo)
        row = []
        if first - lo > 1e-3:  # the source pixel cut by the window's left edge
            row.append((first - 1, np.float32((first - lo) / width)))
        row += [(i, np.float32(1.0 / width)) for i in range(first, last)]
        if hi - last > 1e-3:  # the one cut by its right edge
            row.append((last, np.float32(min(hi - last, 1.0, width) / width)))
        terms.append(row)
    k = max(len(row) for row in terms)
    index, weight = np.zeros((k, n_out), np.intp), np.zeros((k, n_out), np.float32)
    for j, row in enumerate(terms):
        for t, (i, w) in enumerate(row):
            index[t, j], weight[t, j] = i, w
    index.flags.writeable = weight.flags.writeable = False  # shared by the cache
    return index, weight


def area_resize(image: np.ndarray, size: int) -> np.ndarray:
    """An H×W uint8 image shrunk to size×size as ``cv2.resize(image, (size, size),
    interpolation=cv2.INTER_AREA)`` does it (the same bytes)."""
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"area_resize takes an H×W uint8 image, got {image.dtype} {image.shape}")
    rows, row_w = area_weights(image.shape[0], size)
    cols, col_w = area_weights(image.shape[1], size)
    source = image.astype(np.float32)
    line = source[:, cols[0]] * col_w[0]  # each source row, summed along its columns (H × size)
    for t in range(1, len(cols)):
        line += source[:, cols[t]] * col_w[t]
    total = line[rows[0]] * row_w[0][:, None]  # then the rows (size × size)
    for t in range(1, len(rows)):
        total += line[rows[t]] * row_w[t][:, None]
    return np.rint(total, out=total).clip(0, 255).astype(np.uint8)
