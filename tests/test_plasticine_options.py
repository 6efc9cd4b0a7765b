"""The Plasticine methods as options of every agent: they build, compose, survive a
checkpoint, and are refused before any work where they cannot apply."""

from __future__ import annotations

import pytest
import torch

from dormant.agents import make_agent
from dormant.config.overrides import resolve
from dormant.config.schema import redo_nets
from dormant.errors import ConfigError
from dormant.plasticity.activations import CReLU, Fourier
from dormant.plasticity.agent_surgery import recycle_agent_
from dormant.plasticity.diagnostics import agent_diagnostics
from dormant.plasticity.injection import Injected, inject_agent_

SMALL = {"agent.hidden_dim": "32", "agent.feature_dim": "8"}
EVERYTHING = {
    "plasticity.crelu": "[critic]",
    "plasticity.fourier": "actor",
    "plasticity.nap": "critic",
    "plasticity.l2_init": "1e-3",
    "plasticity.parseval": "1e-3",
    "plasticity.optimizer": "trac",
}


def _batch(obs_dim: int, action_dim: int, discrete: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    action = (
        torch.randint(discrete, (8, 1), generator=g).float()
        if discrete
        else torch.rand(8, action_dim, generator=g) * 2 - 1
    )
    return {
        "obs": torch.randn(8, obs_dim, generator=g),
        "next_obs": torch.randn(8, obs_dim, generator=g),
        "action": action,
        "reward": torch.randn(8, 1, generator=g),
        "discount": torch.full((8, 1), 0.99),
    }


@pytest.mark.parametrize("agent", ["drqv2", "drm", "sac", "dqn"])
def test_every_method_composes_on_every_agent_and_survives_a_checkpoint(agent):
    discrete = agent == "dqn"
    overrides = {
        "task": "gym:CartPole-v1" if discrete else "dmc/cartpole_swingup",
        "obs": "states",
        "agent.name": agent,
        **SMALL,
        **EVERYTHING,
        "plasticity.redo": "true",
        "plasticity.redo_nets": "critic",
    }
    if discrete:
        overrides.update({"plasticity.fourier": "", "plasticity.nap": ""})  # one network: crelu on it
    else:
        overrides["plasticity.redo_nets"] = "actor" if agent == "drm" else "critic"
        if overrides["plasticity.redo_nets"] == "critic":
            overrides["plasticity.nap"] = ""  # ReDo cannot trace through NaP's LayerNorm
        else:
            overrides["plasticity.fourier"] = ""  # nor keep a Fourier actor's output
    cfg = resolve(overrides)
    build = (
        (lambda: make_agent(cfg, (4,), 0, device=torch.device("cpu"), num_actions=2))
        if discrete
        else (lambda: make_agent(cfg, (5,), 1, device=torch.device("cpu")))
    )
    a = build()
    assert any(isinstance(m, CReLU) for m in a.critic.modules())
    batch = _batch(4 if discrete else 5, 1, 2 if discrete else 0)
    for step in range(3):
        assert torch.isfinite(a.update(batch, 20_000 + step)).all()
    injected = inject_agent_(a, [net for net in a.networks() if net != "encoder"])
    assert injected and all(
        isinstance(a.networks()[n.split(".")[0]].get_submodule(n.split(".", 1)[1]), Injected) for n in injected
    )
    a.update(batch, 20_010)
    recycle_agent_(a, batch, redo_nets(cfg), tau=0.5)  # ReDo after injection: only trainable layers
    a.update(batch, 20_012)
    diag = agent_diagnostics(a, batch)
    assert "critic_weight_diff" in diag and "critic_erank" in diag
    b = build()
    b.load_state_dict(a.state_dict())
    torch.manual_seed(3)
    x = a.update(batch, 20_012)
    torch.manual_seed(3)
    y = b.update(batch, 20_012)
    assert torch.equal(x, y)


def test_architecture_options_build_the_named_networks():
    cfg = resolve(
        {
            "task": "dmc/cartpole_swingup",
            "agent.name": "drm",
            **SMALL,
            "plasticity.crelu": "encoder,value",
            "plasticity.fourier": "actor",
            "plasticity.layernorm": "critic",
            "plasticity.concat_width": "full",
        }
    )
    a = make_agent(cfg, (9, 84, 84), 1, device=torch.device("cpu"))
    assert isinstance(a.encoder.convnet[1], CReLU) and a.encoder.convnet[0].out_channels == 32
    assert a.encoder.repr_dim == 64 * 35 * 35  # full width: 32 units, 64 channels
    assert isinstance(a.actor.policy[1], Fourier) and isinstance(a.value.v[1], CReLU)
    assert isinstance(a.critic.q1[1], torch.nn.LayerNorm)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"plasticity.crelu": "critic", "plasticity.fourier": "critic"}, "one activation"),
        ({"plasticity.crelu": "value"}, "needs agent=drm"),
        ({"plasticity.crelu": "encoder", "obs": "states"}, "needs obs=pixels"),
        ({"plasticity.crelu": "policy"}, "unknown network"),
        ({"plasticity.fourier": "critic", "plasticity.redo": "true"}, "Fourier unit"),
        ({"plasticity.layernorm": "critic", "plasticity.redo": "true"}, "cannot trace"),
        ({"plasticity.nap": "critic", "plasticity.redo": "true"}, "cannot trace"),
        ({"plasticity.l2_init": "-1"}, "≥ 0"),
        ({"plasticity.parseval_s": "0"}, "> 0"),
        ({"plasticity.parseval": "1e-3", "plasticity.parseval_nets": "encoder"}, "no hidden Linear"),
        ({"plasticity.optimizer": "sgd"}, "plasticity.optimizer"),
        ({"plasticity.inject_at_frame": "100000", "plasticity.inject_nets": "encoder"}, "has none"),
        (
            {"plasticity.inject_at_frame": "100000", "agent.name": "drm", "drm.perturb_target": "initial"},
            "perturb_target",
        ),
        ({"plasticity.concat_width": "double"}, "concat_width"),
    ],
)
def test_impossible_combinations_are_refused_before_any_work(overrides, message):
    with pytest.raises(ConfigError, match=message):
        resolve({"task": "dmc/cartpole_swingup", **overrides})


def test_discrete_agents_name_their_one_network():
    with pytest.raises(ConfigError, match="one network"):
        resolve({"task": "gym:CartPole-v1", "obs": "states", "agent.name": "dqn", "plasticity.crelu": "actor"})


def test_defaults_change_nothing():
    """With every option off, make_agent builds the same modules and takes the same update as
    the plain agent (θ₀ is recorded, nothing else)."""
    cfg = resolve({"task": "dmc/cartpole_swingup", "obs": "states", **SMALL})
    torch.manual_seed(0)
    a = make_agent(cfg, (5,), 1, device=torch.device("cpu"))
    from dormant.agents import DrQV2Agent

    torch.manual_seed(0)
    b = DrQV2Agent((5,), 1, cfg.agent, pixels=False, device=torch.device("cpu"))
    batch = _batch(5, 1)
    torch.manual_seed(1)
    x = a.update(batch, 20_000)
    torch.manual_seed(1)
    y = b.update(batch, 20_000)
    assert torch.equal(x, y)
    assert all(torch.equal(p, q) for p, q in zip(a.critic.parameters(), b.critic.parameters(), strict=True))
