"""Distracting video backgrounds behind DMC pixel observations (DMC-GB style).

The DMControl Generalization Benchmark (DMC-GB; Hansen & Wang, 2021) plays a video behind
the agent: it paints the sky (``video_easy``; sky and floor for ``video_hard``) green and
replaces the pixels whose hue falls in a green range by the video's frame. Here the same
pixels are found exactly instead, with MuJoCo's segmentation render of the same camera
(the sky is object −1; the floor is every geom whose material uses the ``grid`` texture,
which is what DMC-GB's ``video_hard`` paints green), so the scene is rendered as usual,
nothing is recoloured and no agent pixel can be keyed out by mistake. A segmentation
render is cheap (no anti-aliasing, no lighting): see docs/suites.md for the measured cost.

A background is a folder of clips: video files, single images (a still background) and
sub-folders of images (one clip each, frames in name order; the DAVIS layout). Every
clip is resized to the observation size once, when first used (least recently used
clips are dropped past a byte budget). Each episode draws its clip and its start frame
from the background's own seeded ``RandomState`` (not the task's, so the physics of an
episode is the same with and without a background); the video advances one frame per
agent step and loops. Its state is saved and restored with the environment's, so a
resumed run sees exactly the frames an uninterrupted one would.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from dormant.errors import ConfigError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
CACHE_BYTES = 256 * 2**20  # decoded, resized clips kept per environment


def scan(folder: str) -> list[Path]:
    """The clips in ``folder`` (sorted by name), or a ConfigError saying what is wrong.

    Checks names and readability only (no decoding), so that it is cheap enough for
    config checks; `Background` decodes each clip's first frame when it is built."""
    root = Path(folder).expanduser()
    if not root.exists():
        raise ConfigError(f"env.background={folder!r}: no such folder")
    if not root.is_dir():
        raise ConfigError(f"env.background={folder!r} is a file; give the folder that holds the videos or images")
    clips: list[Path] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            frames = _images_in(entry)
            if not frames:
                raise ConfigError(
                    f"env.background: sub-folder {entry} holds no images "
                    f"({', '.join(IMAGE_SUFFIXES)}); a sub-folder is one clip of image frames"
                )
            _check_readable(frames[0])
        elif entry.suffix.lower() in VIDEO_SUFFIXES + IMAGE_SUFFIXES:
            _check_readable(entry)
        else:
            raise ConfigError(
                f"env.background: {entry.name!r} is neither a video ({', '.join(VIDEO_SUFFIXES)}) nor "
                f"an image ({', '.join(IMAGE_SUFFIXES)}); remove it from {root}"
            )
        clips.append(entry)
    if not clips:
        raise ConfigError(f"env.background={folder!r}: the folder is empty; put videos or images in it")
    return clips


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _check_readable(path: Path) -> None:
    try:
        with open(path, "rb") as f:
            empty = not f.read(1)
    except OSError as err:
        raise ConfigError(f"env.background: cannot read {path}: {err.strerror}") from None
    if empty:
        raise ConfigError(f"env.background: {path} is an empty file")


def _resize(frame: np.ndarray, size: int) -> np.ndarray:
    """An H×W×3 uint8 frame stretched to size×size (bilinear, as DMC-GB resizes)."""
    from PIL import Image

    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=2)
    frame = frame[..., :3]  # drop an alpha channel
    if frame.shape[:2] == (size, size):
        return np.ascontiguousarray(frame, dtype=np.uint8)
    return np.asarray(Image.fromarray(frame.astype(np.uint8)).resize((size, size), Image.Resampling.BILINEAR))


def _frames_of(path: Path) -> Any:
    """The raw frames of one clip, lazily."""
    import imageio.v3 as iio

    if path.is_dir():
        return (iio.imread(p) for p in _images_in(path))
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return iter([iio.imread(path)])
    return iio.imiter(path)


def load_clip(path: Path, size: int, limit: int | None = None) -> np.ndarray:
    """A clip as an N×size×size×3 uint8 array (its first ``limit`` frames if given)."""
    frames = []
    try:
        for frame in _frames_of(path):
            frames.append(_resize(frame, size))
            if limit is not None and len(frames) >= limit:
                break
    except Exception as err:
        raise ConfigError(f"env.background: cannot decode {path}: {err}") from None
    if not frames:
        raise ConfigError(f"env.background: {path} has no frames")
    return np.stack(frames)


class Background:
    """The clips of one folder, the clip and frame of the current episode, and its RNG."""

    def __init__(self, folder: str, *, seed: int, size: int, cache_bytes: int = CACHE_BYTES):
        self.clips = scan(folder)
        for path in self.clips:  # fail now, not hours into a run
            load_clip(path, 8, limit=1)
        self.size = size
        self.rng = np.random.RandomState(seed)
        self._cache: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._frames: np.ndarray | None = None
        self.clip_index = -1
        self.start = 0
        self.t = 0

    @property
    def active(self) -> bool:
        """False until the first episode has drawn its clip."""
        return self._frames is not None

    def begin_episode(self, t: int = 0) -> None:
        """Draw this episode's clip and start frame from the RNG; ``t`` steps already taken."""
        self.clip_index = int(self.rng.randint(len(self.clips)))
        self._frames = self._clip(self.clips[self.clip_index])
        self.start = int(self.rng.randint(len(self._frames)))
        self.t = t

    def advance(self) -> None:
        """One agent step: the next frame of the clip (looping)."""
        self.t += 1

    def frame(self, size: int | None = None) -> np.ndarray:
        """The current background frame, H×W×3 uint8 (resized from the stored size if asked)."""
        assert self._frames is not None, "begin_episode() first"
        frame = self._frames[(self.start + self.t) % len(self._frames)]
        return frame if size in (None, self.size) else _resize(frame, int(size))

    def compose(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``image`` (H×W×3) with the pixels where ``mask`` is true taken from the current frame."""
        return np.where(mask[..., None], self.frame(image.shape[0]), image)

    def _clip(self, path: Path) -> np.ndarray:
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        clip = load_clip(path, self.size)
        self._cache[path] = clip
        while len(self._cache) > 1 and sum(c.nbytes for c in self._cache.values()) > self._cache_bytes:
            self._cache.popitem(last=False)
        return clip


def floor_geoms(model: Any) -> np.ndarray:
    """Ids of the geoms drawn with the ``grid`` texture (DMC's checkered floor), as DMC-GB's
    ``video_hard`` paints them."""
    grid = [i for i in range(model.ntex) if model.texture(i).name == "grid"]
    materials = [m for m in range(model.nmat) if np.isin(np.asarray(model.mat_texid[m]).reshape(-1), grid).any()]
    return np.flatnonzero(np.isin(model.geom_matid, materials)) if materials else np.zeros(0, int)


def background_mask(physics: Any, size: int, camera_id: int, floor: np.ndarray | None) -> np.ndarray:
    """size×size bool: the sky (and the ``floor`` geoms if given) as the camera sees them."""
    seg = physics.render(height=size, width=size, camera_id=camera_id, segmentation=True)
    ids, types = seg[..., 0], seg[..., 1]
    mask = ids == -1
    if floor is not None and len(floor):
        import mujoco

        mask |= (types == int(mujoco.mjtObj.mjOBJ_GEOM)) & np.isin(ids, floor)
    return mask
