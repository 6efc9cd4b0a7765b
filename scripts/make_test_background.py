"""Write the small test video that `env.background` tests (and a first try) use.

    python scripts/make_test_background.py [out.mp4]

32 frames of 64×64: three coloured discs moving over a slowly drifting noise texture,
drawn from a fixed seed, so the frames are the same on every run (the H.264 encoding
is lossy; tests compare with the decoded frames). Default output:
src/dormant/data/backgrounds/shapes.mp4 (shipped with the package).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

FRAMES, SIZE, FPS = 32, 64, 15
DEFAULT = Path(__file__).resolve().parents[1] / "src/dormant/data/backgrounds/shapes.mp4"


def frames(n: int = FRAMES, size: int = SIZE) -> np.ndarray:
    """n×size×size×3 uint8: the video's frames before encoding."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8)
    noise = np.kron(noise, np.ones((4, 4, 1), np.uint8))  # 4×4 blocks survive the codec better
    yy, xx = np.mgrid[0:size, 0:size]
    colours = np.array([[255, 40, 40], [40, 255, 255], [255, 255, 40]], np.uint8)
    centres = rng.uniform(8, size - 8, (3, 2))
    velocity = rng.uniform(-3, 3, (3, 2))
    out = np.empty((n, size, size, 3), np.uint8)
    for t in range(n):
        img = np.roll(noise, shift=t, axis=1) // 2  # darker texture, drifting one pixel per frame
        for colour, (cy, cx), (vy, vx) in zip(colours, centres, velocity, strict=True):
            y = (cy + vy * t) % size
            x = (cx + vx * t) % size
            img[(yy - y) ** 2 + (xx - x) ** 2 <= 8**2] = colour
        out[t] = img
    return out


def main(path: Path = DEFAULT) -> None:
    import imageio.v3 as iio

    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(
        path,
        frames(),
        plugin="FFMPEG",
        fps=FPS,
        codec="libx264",
        quality=8,
        macro_block_size=16,
        output_params=["-threads", "1", "-an"],
    )
    print(f"wrote {path} ({path.stat().st_size / 1024:.1f} KiB, {FRAMES} frames of {SIZE}×{SIZE})")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
