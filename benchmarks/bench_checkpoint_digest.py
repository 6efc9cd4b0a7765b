"""What verifying a checkpoint costs: save and load with and without the content SHA-256.

``python benchmarks/bench_checkpoint_digest.py --gib 1 --out FILE``: a checkpoint shaped
like a pixel run's (a DrQ-v2-sized agent, ~1 MB of weights and optimiser state, and a
replay of ``--gib`` GiB of uint8 frames), saved and loaded ``--rounds`` times each way,
interleaved; the digest alone is timed too. The difference is the check's cost, reported
per GB. The save goes to ``--dir`` (default: a temporary folder; a page-cache-warm local
disk, so the figures are the CPU's, not the disk's).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from dormant.training import checkpoint as ckpt


def payload(gib: float) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(0)
    frames = torch.randint(
        0, 256, (int(gib * 2**30) // (9 * 84 * 84), 9, 84, 84), dtype=torch.uint8, generator=generator
    )
    agent = {f"layer{i}.weight": torch.randn(256, 256, generator=generator) for i in range(12)}
    return {
        "config": {"task": "dmc/walker_walk", "seed": 1},
        "agent": agent,
        "replay": {
            "frames": frames,
            "actions": torch.zeros(len(frames), 6),
            "rewards": torch.zeros(len(frames)),
            "rng": {"state": {"state": 2**100, "inc": 7}},
        },
        "counters": {"step": 500_000},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import argparse

    from machine import finish, machine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="replay size in GiB (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each (default 3)")
    parser.add_argument("--dir", type=Path, help="where to write the checkpoint (default: a temporary folder)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    data = payload(args.gib)
    size = sum(t.numel() * t.element_size() for t in _tensors(data))
    folder = Path(args.dir or tempfile.mkdtemp())
    path = folder / "checkpoint.pt"
    plain_save, checked_save, plain_load, checked_load, digest = [], [], [], [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        ckpt.atomic_write(path, lambda handle: torch.save({"format": ckpt.FORMAT, **data}, handle), binary=True)
        plain_save.append(time.perf_counter() - start)
        start = time.perf_counter()
        torch.load(path, map_location="cpu", weights_only=True)
        plain_load.append(time.perf_counter() - start)
        start = time.perf_counter()
        ckpt.save_checkpoint(path, data)
        checked_save.append(time.perf_counter() - start)
        start = time.perf_counter()
        ckpt.load_checkpoint(path)
        checked_load.append(time.perf_counter() - start)
        start = time.perf_counter()
        ckpt.content_digest(data)
        digest.append(time.perf_counter() - start)
    gb = size / 1e9
    med = statistics.median
    result = {
        "benchmark": "checkpoint content SHA-256: save and load with and without it",
        "machine": machine(torch.device("cpu")),
        "checkpoint_bytes": path.stat().st_size,
        "tensor_bytes": size,
        "rounds": args.rounds,
        "median_s": {
            "save_plain": round(med(plain_save), 3),
            "save_checked": round(med(checked_save), 3),
            "load_plain": round(med(plain_load), 3),
            "load_checked": round(med(checked_load), 3),
            "digest_alone": round(med(digest), 3),
        },
        "digest_s_per_GB": round(med(digest) / gb, 3),
        "save_extra_s_per_GB": round((med(checked_save) - med(plain_save)) / gb, 3),
        "load_extra_s_per_GB": round((med(checked_load) - med(plain_load)) / gb, 3),
    }
    path.unlink()
    return finish(result, t0, args.out)


def _tensors(value: Any):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


if __name__ == "__main__":
    main()
