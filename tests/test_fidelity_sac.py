"""Golden values of ``agent=sac`` from its side-by-side run against TF-Agents' SacAgent as ReDo
ran it (scripts/fidelity/sac_tfagents.py; docs/fidelity.md, "SAC as ReDo ran it").

The script fed both agents the same weights, 200 batches and standard-normal draws, and recycled
dormant neurons once (after update 100, as ReDo's SAC recycler does: targets and bias moments
left alone); these are our agent's first three and last losses and
its parameter sums after the 200 updates from that run (TF-Agents' losses agreed to ≈ 1e-6
relative before the recycling).
Rebuilding our agent with the same seeds must give them again, so a change to SAC's update is
caught without TensorFlow or the reference code."""

import importlib.util
from pathlib import Path

import pytest

from helpers import GOLDEN_ABS, GOLDEN_REL

pytestmark = pytest.mark.usefixtures("one_thread")

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fidelity" / "sac_tfagents.py"

GOLDEN = {
    "first_losses": [
        {"critic": 13.06375503540039, "actor": -3.7410728931427, "alpha": -0.0},
        {"critic": 13.124078750610352, "actor": -4.076653957366943, "alpha": -0.0019834379199892282},
        {"critic": 11.964755058288574, "actor": -4.2650628089904785, "alpha": -0.004029529169201851},
    ],
    "last_losses": {"critic": 3.5636281967163086, "actor": -9.819798469543457, "alpha": -0.4222625195980072},
    "checksum": {"actor": 4077.0163731122593, "critic": 8008.57318233888, "critic_target": 7939.5534755373965},
    "log_alpha": -0.06034407392144203,
}


def _script():
    spec = importlib.util.spec_from_file_location("sac_tfagents", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sac_reproduces_its_tf_agents_side_by_side_run():
    got = _script().ours_run(200)
    for update, (ours, gold) in enumerate(zip(got["first_losses"], GOLDEN["first_losses"], strict=True)):
        for key in gold:
            assert ours[key] == pytest.approx(gold[key], rel=GOLDEN_REL, abs=GOLDEN_ABS), (update, key)
    for key, value in GOLDEN["last_losses"].items():
        assert got["last_losses"][key] == pytest.approx(value, rel=GOLDEN_REL, abs=GOLDEN_ABS), key
    for key, value in GOLDEN["checksum"].items():
        assert got["checksum"][key] == pytest.approx(value, rel=GOLDEN_REL), key
    assert got["log_alpha"] == pytest.approx(GOLDEN["log_alpha"], rel=GOLDEN_REL)
