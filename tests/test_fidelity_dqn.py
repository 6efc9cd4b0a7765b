"""Golden values from the side-by-side run against ReDo's Dopamine code
(``scripts/fidelity/dqn_dopamine.py``; docs/fidelity.md, "DQN and DrQ(ε)"): our agents, rebuilt
on the same seeds, batches and schedule (target copy every 5 updates for DQN, ReDo with
planted dormant neurons at update 10), must give the same losses and parameter checksum.
The reference code is not needed; the script's own side (``run_ours``) is what runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from helpers import GOLDEN_REL

pytest.importorskip("ale_py")  # the agents' presets resolve through the Atari suite

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fidelity" / "dqn_dopamine.py"

# recorded with: run_ours(agent, 12, redo_period=10, target_period=5) (the comparison with
# --updates 12 --redo-period 10 --target-period 5 --x64 agrees with Dopamine to ~1e-14 relative)
GOLDEN = {
    "dqn": {
        "losses": [0.22882382571697235, 0.27156662940979004, 0.27110230922698975],
        "last_loss": 0.32548603415489197,
        "checksum": 43732.46392685359,
        "redo": "critic.trunk.0=11 critic.trunk.2=17 critic.trunk.4=14 critic.head.0=215",
    },
    "drq_eps": {
        "losses": [0.23171032965183258, 0.2740393280982971, 0.25479787588119507],
        "last_loss": 0.3654091954231262,
        "checksum": 45494.78021727725,
        "redo": "critic.trunk.0=9 critic.trunk.2=17 critic.trunk.4=12 critic.head.0=228",
    },
}


def _script():
    spec = importlib.util.spec_from_file_location("dqn_dopamine", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("agent", ["dqn", "drq_eps"])
def test_golden_values(agent):
    torch.set_num_threads(1)
    result = _script().run_ours(agent, 12, redo_period=10, target_period=5)
    golden = GOLDEN[agent]
    assert result["losses"][:3] == pytest.approx(golden["losses"], rel=GOLDEN_REL)
    assert result["losses"][-1] == pytest.approx(golden["last_loss"], rel=GOLDEN_REL)
    assert result["checksum"] == pytest.approx(golden["checksum"], rel=GOLDEN_REL)
    assert [e["detail"] for e in result["events"]] == [golden["redo"]]
