"""ReDo's comparisons as options of every agent: weight decay (L2 in Adam) and the ReDo-kind
dormant ratio at τ = 0 (exactly dead neurons) and 0.1 logged beside τ = 0.025."""

import re

import pytest
import torch

from dormant.agents import ALIXAgent, DrMAgent, DrQV2Agent, SACAgent
from dormant.config import AgentConfig, ConfigError, diagnostics_taus, resolve
from dormant.plasticity.diagnostics import agent_diagnostics
from dormant.plasticity.metrics import dormant_tensors

CPU = torch.device("cpu")
pytestmark = pytest.mark.usefixtures("one_thread")


def test_weight_decay_reaches_every_trained_network_and_nothing_else():
    cfg = AgentConfig(hidden_dim=8, feature_dim=4, weight_decay=1e-5)
    agents = [
        DrQV2Agent((5,), 2, cfg, pixels=False, device=CPU),
        DrMAgent((5,), 2, cfg, pixels=False, device=CPU),
        SACAgent((5,), 2, cfg, pixels=False, device=CPU),
        ALIXAgent((3, 32, 32), 2, cfg, pixels=True, device=CPU),
    ]
    for agent in agents:
        for optimizer in agent.optimizers():
            for group in optimizer.param_groups:
                is_s = isinstance(agent, ALIXAgent) and any(p is agent.encoder.s for p in group["params"])
                assert group["weight_decay"] == (0.0 if is_s else 1e-5), (type(agent).__name__, group["lr"])
    assert agents[2].alpha_opt.param_groups[0]["weight_decay"] == 0.0  # SAC's temperature is not decayed
    with pytest.raises(ConfigError, match=re.escape("agent.weight_decay")):
        resolve({"agent.weight_decay": -1e-5})


def test_l2_in_adam_pulls_weights_to_zero_without_a_loss_gradient():
    """Adam's weight_decay adds λθ to the gradient: with no loss gradient every weight moves
    towards 0 (by lr, Adam's first step being sign-like)."""
    layer = torch.nn.Linear(3, 2)
    before = layer.weight.detach().clone()
    opt = torch.optim.Adam(layer.parameters(), lr=1e-3, weight_decay=1e-5)
    (0.0 * layer.weight.sum() + 0.0 * layer.bias.sum()).backward()
    opt.step()
    assert torch.all(layer.weight.abs() < before.abs())


def test_redo_ratio_at_tau_zero_counts_exactly_dead_neurons():
    """Four hidden ReLU units: one dead (always 0), one barely alive (score 1% of the mean), two
    active. τ = 0 counts the dead one only; τ = 0.025 and 0.1 count the barely alive one too."""
    net = torch.nn.Sequential(torch.nn.Linear(1, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[0.0], [0.0], [0.0], [0.0]]))
        net[0].bias.copy_(torch.tensor([-1.0, 0.0266, 1.3, 1.3]))  # scores 0, 0.0266, 1.3, 1.3: mean 0.6567
    x = torch.ones(8, 1)
    counts = {tau: dormant_tensors(net, x, tau=tau, kind="redo")[0].item() * 4 for tau in (0.0, 0.025, 0.1)}
    assert counts == {0.0: pytest.approx(1.0), 0.025: pytest.approx(1.0), 0.1: pytest.approx(2.0)}
    # 0.0266 / 0.6567 = 0.0405: above 0.025, below 0.1.
    with pytest.raises(ValueError, match=r"\(0, 1\] for kind='drm'"):
        dormant_tensors(net, x, tau=0.0, kind="drm")


def test_diagnostics_log_the_extra_taus_beside_the_main_one():
    cfg = resolve({"task": "dmc/cartpole_balance", "obs": "states"})
    assert diagnostics_taus(cfg) == {"redo_tau": 0.025, "extra_redo_taus": [0.0, 0.1]}
    agent = DrQV2Agent((5,), 1, AgentConfig(hidden_dim=16, feature_dim=4), pixels=False, device=CPU)
    batch = {"obs": torch.randn(32, 5), "action": torch.rand(32, 1)}
    out = agent_diagnostics(agent, batch, **diagnostics_taus(cfg))
    for net in ("actor", "critic"):
        dead, mid, high = (
            out[f"{net}_redo_dormant_ratio_tau0"],
            out[f"{net}_redo_dormant_ratio"],
            out[f"{net}_redo_dormant_ratio_tau0.1"],
        )
        assert 0.0 <= dead <= mid <= high <= 1.0
    with pytest.raises(ConfigError, match=re.escape("log.redo_taus_extra")):
        resolve({"log.redo_taus_extra": "0,abc"})
    with pytest.raises(ConfigError, match=re.escape("log.redo_taus_extra")):
        resolve({"log.redo_taus_extra": "1.5"})
    assert diagnostics_taus(resolve({"log.redo_taus_extra": ""}))["extra_redo_taus"] == []
