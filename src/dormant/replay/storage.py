"""Where the replay's per-slot arrays live: host numpy arrays, or torch tensors on a device.

``ReplayBuffer`` decides *what* to read (slot indices drawn and computed on the host with
numpy, the n-step sums from host rewards and discounts); a ``SlotStorage`` holds the large
per-slot arrays (frames, actions, proprioception) and gathers them. One gather loop serves
both kinds (``take_rows``: numpy's fancy indexing or torch's ``index_select``), so the
other difference is how the host-side index and float arrays reach the storage's memory:
as they are (host), or packed into one int64 and one float32 buffer, each copied once
(pinned and asynchronous on CUDA), then split into views on the device. Sampling on a device
therefore never waits for it (no ``.item()``, no ``.cpu()``, no boolean masks).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

Array = np.ndarray | torch.Tensor
# A sample plan: batch key → (storage array name, int64 slot indices), or a host float32 array
# (already computed on the host, e.g. the n-step reward) that is only moved.
Plan = dict[str, tuple[str, np.ndarray] | np.ndarray]


def staged(array: Any, device: torch.device) -> torch.Tensor:
    """A host array as a CPU tensor ready to copy to ``device``: in pinned memory for CUDA, so the
    copy is asynchronous (torch's host allocator keeps the pinned block until the copy is done)."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor.pin_memory() if device.type == "cuda" else tensor


def to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A host array on ``device`` without waiting for the device (see ``staged``)."""
    return staged(array, device).to(device, non_blocking=device.type == "cuda")


def ring_slices(start: int, stop: int, num_slots: int) -> list[slice]:
    """Global slot indices [start, stop) as at most two contiguous slices of the ring."""
    if stop <= start:
        return []
    first, count = start % num_slots, stop - start
    if first + count <= num_slots:
        return [slice(first, first + count)]
    return [slice(first, num_slots), slice(0, first + count - num_slots)]


class SlotStorage:
    """Frames, actions and (optionally) proprioception, one row per slot, in host memory
    (``device`` None: numpy, the default) or as torch tensors on ``device``."""

    def __init__(
        self,
        num_slots: int,
        frame_shape: tuple[int, ...],
        frame_dtype: Any,
        action_dim: int,
        proprio_dim: int = 0,
        device: torch.device | None = None,
        zero_row: bool = False,
    ):
        self.num_slots = num_slots
        self.device = device
        # ``zero_row``: one more frame row, index ``num_slots``, kept at zero (a stack's padding).
        self.frames = self._empty((num_slots + int(zero_row), *frame_shape), np.dtype(frame_dtype))
        if zero_row:
            self.frames[num_slots] = 0
        self.actions = self._empty((num_slots, action_dim), np.dtype(np.float32))
        self.proprio = self._empty((num_slots, proprio_dim), np.dtype(np.float32)) if proprio_dim else None

    def _empty(self, shape: tuple[int, ...], dtype: np.dtype) -> Array:
        # Both map memory lazily on the host (pages cost RAM only once written); CUDA
        # allocates at once, which launch's memory check accounts for.
        if self.device is None:
            return np.empty(shape, dtype=dtype)
        return torch.empty(shape, dtype=torch.from_numpy(np.empty(0, dtype)).dtype, device=self.device)

    def _put(self, target: Array, value: np.ndarray, staging: bool = True) -> None:
        """``target[...] = value``; on a device through pinned memory (``staging``: one step's
        few kB) or a plain copy (a checkpoint's whole replay, too large to pin)."""
        if isinstance(target, np.ndarray):
            target[...] = value
        elif staging:
            target.copy_(staged(np.asarray(value), target.device), non_blocking=target.device.type == "cuda")
        else:
            target.copy_(torch.from_numpy(np.ascontiguousarray(value)))

    def write(self, slot: int, frame: np.ndarray, action: np.ndarray, proprio: np.ndarray | None) -> None:
        """Store one step in ``slot`` (on a device: small asynchronous host→device copies)."""
        self._put(self.frames[slot], frame)
        self._put(self.actions[slot], action)
        if self.proprio is not None and proprio is not None:  # the buffer checks both or neither
            self._put(self.proprio[slot], proprio)

    def read(self, name: str, start: int, stop: int) -> np.ndarray:
        """Host copy of one array's rows for global slots [start, stop) (checkpoints, resume)."""
        source = getattr(self, name)
        parts = [source[s] for s in ring_slices(start, stop, self.num_slots)]
        if self.device is not None:
            parts = [p.cpu().numpy() for p in parts]
        if not parts:
            return np.empty((0, *source.shape[1:]), dtype=parts_dtype(source))
        return np.concatenate(parts) if len(parts) > 1 else np.array(parts[0])

    def load(self, name: str, start: int, values: np.ndarray) -> None:
        """Write host ``values`` into one array's rows for global slots from ``start`` on."""
        done = 0
        for s in ring_slices(start, start + len(values), self.num_slots):
            count = s.stop - s.start
            self._put(getattr(self, name)[s], values[done : done + count], staging=False)
            done += count

    def gather(self, plan: Plan) -> dict[str, Array]:
        """The batch a plan describes, in its key order: numpy arrays on the host, tensors on the device."""
        moved = plan if self.device is None else self._move(plan, self.device)
        batch: dict[str, Array] = {}
        for key, entry in moved.items():
            if not isinstance(entry, tuple):
                batch[key] = entry
                continue
            name, index = entry
            rows = take_rows(getattr(self, name), index)
            if name == "frames" and index.ndim == 2:  # B × k frames → one stacked observation
                rows = rows.reshape(index.shape[0], -1, *rows.shape[3:])
            batch[key] = rows
        return batch

    def _move(self, plan: Plan, device: torch.device) -> dict[str, Any]:
        """The plan's index and float arrays on the device: one copy each, split into views."""
        indices = {k: v[1] for k, v in plan.items() if isinstance(v, tuple)}
        floats = {k: v for k, v in plan.items() if not isinstance(v, tuple)}
        views: dict[str, torch.Tensor] = {}
        for group, dtype in ((indices, np.int64), (floats, np.float32)):
            if not group:
                continue
            flat = to_device(np.concatenate([np.asarray(a, dtype).ravel() for a in group.values()]), device)
            for (key, array), piece in zip(
                group.items(), torch.split(flat, [a.size for a in group.values()]), strict=True
            ):
                views[key] = piece.view(array.shape)
        return {k: (v[0], views[k]) if isinstance(v, tuple) else views[k] for k, v in plan.items()}


def take_rows(source: Array, index: Array) -> Array:
    """Rows of ``source`` at ``index`` (any shape, rows stacked in its shape): numpy's fancy
    indexing, or torch's ``index_select`` (whole-row copies; torch's advanced indexing copies
    element by element, ≈ 8× slower for frames on the CPU)."""
    if isinstance(source, np.ndarray):
        return source[index]
    rows = index if isinstance(index, torch.Tensor) else torch.from_numpy(index)
    return source.index_select(0, rows.reshape(-1)).reshape(*index.shape, *source.shape[1:])


def parts_dtype(source: Array) -> np.dtype:
    """The numpy dtype of a storage array (numpy or torch)."""
    if isinstance(source, np.ndarray):
        return source.dtype
    return torch.empty(0, dtype=source.dtype).numpy().dtype
