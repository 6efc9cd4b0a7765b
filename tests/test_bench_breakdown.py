"""The time breakdown must time the real update: its phases, run one by one, leave the agent
exactly where ``agent.update`` does; and its table adds up."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_breakdown import STEP, breakdown_markdown, update_phases

from dormant.agents import AGENT_CLASSES
from dormant.config import AgentConfig, DrMConfig

OBS = (9, 84, 84)


def _agent(name: str):
    torch.manual_seed(0)
    extra = {"drm": DrMConfig()} if name == "drm" else {}
    return AGENT_CLASSES[name](
        OBS,
        1,
        AgentConfig(hidden_dim=32, feature_dim=8),
        pixels=True,
        device=torch.device("cpu"),
        action_repeat=2,
        **extra,
    )


@pytest.mark.parametrize("name", ["drqv2", "drm"])
def test_phases_one_by_one_are_the_update(name):
    rng = np.random.default_rng(0)
    batch = {
        "obs": rng.integers(0, 256, (4, *OBS), dtype=np.uint8),
        "next_obs": rng.integers(0, 256, (4, *OBS), dtype=np.uint8),
        "action": rng.uniform(-1, 1, (4, 1)).astype(np.float32),
        "reward": rng.random((4, 1)).astype(np.float32),
        "discount": np.full((4, 1), 0.99, np.float32),
    }
    whole, phased = _agent(name), _agent(name)
    torch.manual_seed(1)
    whole.update(whole.to_batch(batch), STEP)
    torch.manual_seed(1)
    times = update_phases(phased, batch, torch.device("cpu"))
    assert set(times) == {"transfer", "augment", "encode", "drm_extras", "critic", "actor", "target", "metrics_sync"}
    for (key, a), b in zip(whole.state_dict().items(), phased.state_dict().values(), strict=True):
        for (param, x), y in zip(a.items(), b.values(), strict=True):
            if isinstance(x, torch.Tensor):
                assert torch.equal(x, y), f"{key}.{param} differs"


def test_markdown_table_has_every_phase_and_the_total():
    result = {
        "setup": {
            "task": "dmc/x",
            "obs_shape": [9, 84, 84],
            "batch_size": 256,
            "render": "reference",
            "frames_per_update": 4,
            "unit": "ms per frame",
        },
        "drqv2": {
            "per_frame_ms": {"render": 3.0, "critic": 1.0},
            "share": {"render": 0.75, "critic": 0.25},
            "total_ms_per_frame": 4.0,
            "implied_fps": 250.0,
        },
    }
    text = breakdown_markdown(result, "Test CPU")
    assert "(Test CPU)" in text and "| render | 3.000 | 75.0 % |" in text and "**4.00**" in text
