"""ALIX (Cetin et al. 2022): the local-signal-mixing layer, the discontinuity score that
tunes its strength S, and the agent, against values worked out by hand."""

import math

import pytest
import torch

from dormant.agents.alix import ALIXAgent, ALIXEncoder, discontinuity_score, local_signal_mixing
from dormant.config import AgentConfig, ALIXConfig, ConfigError, resolve


def test_lix_with_zero_strength_is_the_identity():
    x = torch.randn(2, 4, 9, 9)
    assert torch.allclose(local_signal_mixing(x, 0.0), x, atol=1e-5)  # float rounding of the grid only


def test_lix_shifts_a_ramp_by_one_offset_within_the_range():
    """On a horizontal ramp (value = column), interior outputs are column + dx for one dx
    per batch, |dx| ≤ (max_shift + ½)·S; borders are replicate-padded, never zero."""
    torch.manual_seed(0)
    ramp = torch.arange(15.0).view(1, 1, 1, 15).expand(3, 2, 15, 15).contiguous()
    for s in (0.2, 1.0):
        out = local_signal_mixing(ramp, s, max_shift=2.0)
        dx = out[:, :, 5:10, 5:10] - ramp[:, :, 5:10, 5:10]
        assert torch.allclose(dx, dx.flatten()[0].expand_as(dx), atol=1e-5)  # one offset for the batch
        assert abs(dx.flatten()[0].item()) <= 2.5 * s + 1e-6
        assert out.min() >= 0.0 and out.max() <= 14.0  # convex mixing of replicate-padded values
    per_sample = local_signal_mixing(ramp, 1.0, fixed_batch=False)[:, 0, 7, 7] - 7.0
    assert len(set(round(v, 4) for v in per_sample.tolist())) == 3  # one offset per sample


def test_discontinuity_score_by_hand():
    flat = torch.ones(4, 2, 6, 6)  # a smooth gradient: no noise, ND = 0
    assert discontinuity_score(flat).item() == pytest.approx(0.0, abs=1e-7)
    # A checkerboard: at an interior position the 3×3 patch has the centre c, 4 opposite-sign
    # edge neighbours and 4 same-sign corners: signal = (9 − 1)/8 = 1, noise = 4·(2c)²/8 = 2,
    # ND = 2, log(1 + ND) = log 3. Replicate padding changes the border: compare on a map
    # whose border is cut away by checking the interior with a brute-force loop.
    board = (torch.arange(8).view(8, 1) + torch.arange(8).view(1, 8)) % 2 * 2.0 - 1.0
    grad = board.expand(3, 1, 8, 8)
    padded = torch.nn.functional.pad(grad.mean(0, keepdim=True), (1, 1, 1, 1), mode="replicate")[0, 0]
    scores = []
    for i in range(8):
        for j in range(8):
            patch, c = padded[i : i + 3, j : j + 3], padded[i + 1, j + 1]
            signal = (patch.pow(2).sum() - c**2) / 8
            noise = (patch - c).pow(2).sum() / 8
            scores.append(math.log1p(noise / (signal + 1e-20)))
            if 0 < i < 7 and 0 < j < 7:
                assert scores[-1] == pytest.approx(math.log(3.0))
    assert discontinuity_score(grad).item() == pytest.approx(sum(scores) / len(scores), rel=1e-6)


def test_s_moves_towards_the_target_discontinuity():
    """S's gradient is target − mean log(1 + ND): noisy feature gradients raise S (more
    smoothing), smooth ones lower it."""
    torch.manual_seed(0)
    encoder = ALIXEncoder((3, 32, 32), ALIXConfig())
    out = encoder(torch.randint(0, 255, (4, 3, 32, 32)).float())
    out.backward(torch.randn_like(out))  # white-noise gradients: ND ≈ 2, log 3 > 0.535
    assert encoder.s.grad.item() == pytest.approx(0.535 - encoder.nd.item())
    assert encoder.nd.item() > 0.535 and encoder.s.grad.item() < 0  # gradient descent raises S
    encoder.s.grad = None
    out = encoder(torch.randint(0, 255, (4, 3, 32, 32)).float())
    out.backward(torch.ones_like(out))  # perfectly smooth gradients: ND = 0
    assert encoder.s.grad.item() == pytest.approx(0.535)


def agent() -> ALIXAgent:
    torch.manual_seed(0)
    cfg = AgentConfig(hidden_dim=16, feature_dim=8, num_expl_steps=0, augment=False)
    return ALIXAgent((9, 32, 32), 2, cfg, pixels=True, device=torch.device("cpu"))


def batch(n=4):
    return {
        "obs": torch.randint(0, 255, (n, 9, 32, 32), dtype=torch.uint8),
        "next_obs": torch.randint(0, 255, (n, 9, 32, 32), dtype=torch.uint8),
        "action": torch.rand(n, 2) * 2 - 1,
        "reward": torch.rand(n, 1),
        "discount": torch.full((n, 1), 0.99),
    }


def test_the_agent_learns_s_with_its_own_optimiser_and_acts_without_mixing():
    a = agent()
    s_before = a.encoder.s.item()
    metrics = dict(zip(a.METRICS, a.update(batch(), step=10).tolist(), strict=True))
    assert metrics["alix_s"] == pytest.approx(s_before) and metrics["alix_nd"] > 0
    assert a.encoder.s.item() != s_before  # S took an Adam step (lr 2e-3): |Δ| ≈ 2e-3
    assert abs(a.encoder.s.item() - s_before) == pytest.approx(2e-3, rel=0.05)
    assert a.encoder_opt.param_groups[1]["lr"] == 2e-3 and a.encoder_opt.param_groups[1]["betas"] == (0.5, 0.999)
    assert not a.encoder.training  # acting, evaluation and probes see no LIX
    obs = batch(1)["obs"][0].numpy()
    assert (a.act(obs, 10, eval_mode=True) == a.act(obs, 10, eval_mode=True)).all()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"agent": "alix", "obs": "states"}, "needs obs=pixels"),
        ({"alix.s_init": "0.3"}, "alix.\\* options apply to agent=alix only"),
        ({"agent": "alix", "alix.nd_kernel": "4"}, "odd and ≥ 3"),
        ({"agent": "alix", "plasticity.redo": "true", "plasticity.redo_nets": "encoder"}, "ALIX's smoothing layers"),
    ],
)
def test_alix_configuration(overrides, message):
    with pytest.raises(ConfigError, match=message):
        resolve({"task": "dmc/cartpole_swingup", **overrides})


def test_alix_turns_random_shifts_off_unless_asked():
    assert resolve({"agent": "alix", "task": "dmc/cartpole_swingup"}).agent.augment is False
    assert resolve({"agent": "alix", "task": "dmc/cartpole_swingup", "agent.augment": "true"}).agent.augment is True


def _singular_values(layer: torch.nn.Linear) -> torch.Tensor:
    return torch.linalg.svdvals(layer.weight.detach().double())


def test_alix_q_heads_start_orthogonal_with_gain_sqrt2_like_the_authors_critic():
    """The authors' critic (a parallel twin-Q layer) draws all three Linears of each head
    orthogonally with the ReLU gain √2; the trunk keeps gain 1. A fresh draw (DrM's
    perturbation, ReDo) keeps the gain; DrQ-v2's heads keep gain 1."""
    from dormant.agents.drqv2 import DrQV2Agent
    from dormant.plasticity.surgery import fresh_copy

    a = agent()
    for critic in (a.critic, a.critic_target, fresh_copy(a.critic, a.init_fn)):
        heads = [m for head in (critic.q1, critic.q2) for m in head if isinstance(m, torch.nn.Linear)]
        assert len(heads) == 6
        for layer in heads:
            assert torch.allclose(_singular_values(layer), torch.full((), 2**0.5, dtype=torch.float64), atol=1e-5)
            assert (layer.bias == 0).all()
        assert torch.allclose(_singular_values(critic.trunk[0]), torch.ones((), dtype=torch.float64), atol=1e-5)
    torch.manual_seed(0)
    plain = DrQV2Agent(
        (9, 32, 32), 2, AgentConfig(hidden_dim=16, feature_dim=8), pixels=True, device=torch.device("cpu")
    )
    assert torch.allclose(_singular_values(plain.critic.q1[0]), torch.ones((), dtype=torch.float64), atol=1e-5)
    one = ALIXAgent(
        (9, 32, 32),
        2,
        AgentConfig(hidden_dim=16, feature_dim=8),
        pixels=True,
        device=torch.device("cpu"),
        alix=ALIXConfig(critic_head_gain=1.0),
    )
    assert torch.allclose(_singular_values(one.critic.q2[4]), torch.ones((), dtype=torch.float64), atol=1e-5)
    with pytest.raises(ConfigError, match="critic_head_gain"):
        resolve({"task": "dmc/cartpole_swingup", "agent": "alix", "alix.critic_head_gain": "0"})


def test_diagnostics_probe_the_alix_encoder_without_changing_its_output():
    """Diagnostics are on by default (every 1,000 updates): they used to stop every ALIX run
    there, the encoder's ReLUs being functional calls no probe could hook. Its ReLUs are now
    modules: the probes see four layers, and the forward pass is what it was."""
    from dormant.plasticity.diagnostics import agent_diagnostics

    a = agent()
    obs = batch()["obs"].float()
    expected = torch.relu(a.encoder.convs[0](obs / 255.0 - 0.5))
    for conv in a.encoder.convs[1:]:
        expected = torch.relu(conv(expected))
    assert torch.equal(a.encoder(obs), expected.flatten(1))  # eval mode: no LIX, the plain conv stack
    values = agent_diagnostics(a, batch(), redo_tau=0.1)
    layers = [k for k in values if k.startswith("encoder_redo_dormant/")]
    assert len(layers) == 4 and 0.0 <= values["encoder_redo_dormant_ratio"] <= 1.0
    assert 0.0 < values["encoder_fau"] <= 1.0
