"""DrM agent: awakening, perturbation, the λ-target, config, and a learning run."""

import csv
import re

import pytest
import torch

from dormant.agents.drm import DrMAgent, awaken_stddev, exploit_lambda, perturb_factor
from dormant.config import AgentConfig, ConfigError, DrMConfig, resolve
from dormant.plasticity import agent_diagnostics, dormant_ratio
from dormant.training.trainer import Trainer


def tiny_agent(**drm) -> DrMAgent:
    torch.manual_seed(0)
    cfg = AgentConfig(hidden_dim=16, feature_dim=8, num_expl_steps=10, stddev_schedule="linear(1.0,0.1,100)")
    return DrMAgent((5,), 1, cfg, pixels=False, device=torch.device("cpu"), drm=DrMConfig(**drm))


def batch(n=8):
    return {
        "obs": torch.randn(n, 5),
        "next_obs": torch.randn(n, 5),
        "action": torch.rand(n, 1) * 2 - 1,
        "reward": torch.rand(n, 1),
        "discount": torch.full((n, 1), 0.99),
    }


def script_beta(monkeypatch, values):
    """Make the agent's dormant ratio follow ``values``, one per update."""
    it = iter(values)
    monkeypatch.setattr(
        DrMAgent,
        "actor_dormant",
        lambda self, h: (
            torch.tensor(next(it)),
            self.beta_layers,
            torch.zeros(len(self.beta_layers)),
            [1] * len(self.beta_layers),
        ),
    )


def test_awakening_happens_once_after_exploration_and_restarts_the_schedule(monkeypatch):
    agent = tiny_agent()
    script_beta(monkeypatch, [0.1, 0.5, 0.3, 0.15, 0.05, 0.4])
    assert agent.stddev(0).item() == pytest.approx(awaken_stddev(1.0))  # β = 1 before any update
    agent.update(batch(), step=4)  # β 0.1 but still in the random phase (step < 10): no awakening
    assert agent.awaken_step.item() < 0
    assert agent.stddev(4).item() == pytest.approx(awaken_stddev(0.1))
    agent.update(batch(), step=12)  # β 0.5
    agent.update(batch(), step=14)  # β 0.3
    assert agent.awaken_step.item() < 0
    agent.update(batch(), step=16)  # β 0.15 < 0.2: awake at step 16
    assert agent.awaken_step.item() == 16
    assert agent.stddev(16).item() == pytest.approx(1.0)  # linear schedule restarted: σ jumps back to 1
    assert agent.stddev(66).item() == pytest.approx(max(awaken_stddev(0.15), 0.55))  # 50 steps in: 0.55
    agent.update(batch(), step=18)  # β 0.05
    agent.update(batch(), step=20)  # β 0.4: awakening never resets
    assert agent.awaken_step.item() == 16
    assert agent.stddev(216).item() == pytest.approx(awaken_stddev(0.4))  # schedule at 0.1, σ(β) larger


def test_awakening_needs_a_step_strictly_after_the_random_phase_unless_metaworld_reference(monkeypatch):
    agent = tiny_agent()  # num_expl_steps = 10
    script_beta(monkeypatch, [0.1, 0.1])
    agent.update(batch(), step=10)  # β < β̂ at step == num_expl_steps: DrM's code waits (step > 10)
    assert agent.awaken_step.item() < 0
    agent.update(batch(), step=12)
    assert agent.awaken_step.item() == 12
    mw = tiny_agent(awaken_after_exploration=False)  # drm_mw.py: no step condition at all
    script_beta(monkeypatch, [0.1])
    mw.update(batch(), step=4)
    assert mw.awaken_step.item() == 4
    preset = resolve({"agent": "drm", "task": "metaworld/assembly", "preset": "drm-reference-metaworld"})
    assert preset.drm.awaken_after_exploration is False
    assert resolve({"agent": "drm", "task": "metaworld/assembly"}).drm.awaken_after_exploration is True


def test_one_beta_everywhere_agent_log_diagnostics_and_library():
    """The β an update logs, the agent's diagnostics and dormant_ratio(kind="drm") agree
    on the same actor and batch (states: no augmentation, so the features are equal)."""
    agent = tiny_agent(dormant_tau=0.1)
    b = batch(64)
    expected = dormant_ratio(agent.actor, agent.probe_features(b), tau=0.1, kind="drm")
    assert 0.0 < expected.ratio < 1.0
    diag = agent_diagnostics(agent, b)
    assert diag["actor_dormant_ratio"] == pytest.approx(expected.ratio)
    assert {k: diag[f"actor_dormant/{k}"] for k in expected.per_layer} == pytest.approx(expected.per_layer)
    logged = dict(zip(agent.METRICS, agent.update(b, step=12).tolist(), strict=True))
    assert logged["dormant_ratio"] == pytest.approx(expected.ratio)
    assert {k: logged[f"dormant_ratio/{k}"] for k in expected.per_layer} == pytest.approx(expected.per_layer)
    assert logged["sigma_beta"] == pytest.approx(awaken_stddev(expected.ratio))
    assert logged["lambda"] == pytest.approx(exploit_lambda(expected.ratio))
    assert logged["alpha_beta"] == pytest.approx(perturb_factor(expected.ratio))


def test_fresh_pixel_actor_has_a_clearly_non_zero_beta_and_sigma_lambda_follow():
    """Regression: scored pre-activation, a freshly initialised actor at the default widths
    looks fully alive (β ≈ 0, so DrM would awaken at once with λ = 0.6); scored as DrM's code
    does, its hidden ReLUs that are off for the whole batch count as dormant."""
    torch.manual_seed(0)
    agent = DrMAgent((9, 84, 84), 1, AgentConfig(), pixels=True, device=torch.device("cpu"), drm=DrMConfig())
    frames = torch.randint(0, 256, (128, 9, 84, 84), dtype=torch.uint8)
    b = {"obs": frames, "next_obs": frames, "action": torch.zeros(128, 1)}
    h, _ = agent.augment_and_encode(b)
    agent.update_value = lambda h, action: {"v_loss": torch.zeros(()), "v_value": torch.zeros(())}  # not under test
    step = agent.cfg.num_expl_steps  # the last step of the random phase: no awakening yet
    metrics = agent.before_learning(h, b, step=step)
    beta = metrics["dormant_ratio"].item()
    assert 0.03 < beta < 0.6, beta  # measured 0.07–0.14 on random frames, ≈ 0.43 on cartpole frames
    assert metrics["dormant_ratio/trunk.0"].item() == 0.0 and metrics["dormant_ratio/policy.0"].item() > 0.03
    assert dormant_ratio(agent.actor, h, scoring="pre_activation").ratio < 0.01
    assert agent.stddev(step).item() == pytest.approx(awaken_stddev(beta), abs=1e-6)
    assert agent.lam.item() == pytest.approx(exploit_lambda(beta), abs=1e-6)
    agent.before_learning(h, b, step=step + 2)  # β < β̂ after the random phase: awake, σ restarts at 1
    assert agent.awaken_step.item() == step + 2 and agent.stddev(step + 2).item() == pytest.approx(1.0)


def test_ablations_switch_the_mechanisms(monkeypatch):
    plain = tiny_agent(awaken=False)
    assert plain.stddev(60) == pytest.approx(0.46)  # linear(1.0,0.1,100) at 60
    maximal = tiny_agent(before_awaken="max")
    assert maximal.stddev(5).item() == 1.0
    fixed = tiny_agent(fixed_lambda=0.25)
    fixed.update(batch(), step=12)
    assert fixed.lam.item() == 0.25
    no_exploit = tiny_agent(exploit=False)
    v_before = [p.clone() for p in no_exploit.value.parameters()]
    no_exploit.update(batch(), step=12)
    assert no_exploit.lam.item() == 0.0
    assert all(torch.equal(a, b) for a, b in zip(v_before, no_exploit.value.parameters(), strict=True))


def test_lambda_target_mixes_v_and_min_q(monkeypatch):
    agent = tiny_agent()
    agent.lam = torch.tensor(0.25)
    monkeypatch.setattr(agent, "_target_fwd", lambda h, a: (torch.full((2, 1), 3.0), torch.full((2, 1), 5.0)))
    monkeypatch.setattr(agent, "value", lambda h: torch.full((2, 1), 7.0))
    target = agent.target_q(torch.zeros(2, 5), torch.ones(2, 1), torch.full((2, 1), 0.5), 0.2)
    assert torch.allclose(target, torch.full((2, 1), 1.0 + 0.5 * (0.25 * 7.0 + 0.75 * 3.0)))  # = 3.0


def test_perturbation_uses_beta_and_gives_the_target_its_own_draw():
    agent = tiny_agent(perturb_every_frames=20)  # every 10 agent steps
    agent.update(batch(), step=4)
    assert agent.perturbs_done == 0 and len(agent.critic_opt.state) > 0
    before = {k: v.clone() for k, v in agent.critic.state_dict().items()}
    agent.beta = torch.tensor(0.1)
    alpha = agent.perturb()
    assert alpha.item() == pytest.approx(0.8)  # clip(1 − 2·0.1, 0.2, 0.9)
    assert len(agent.critic_opt.state) == 0 and len(agent.value_opt.state) == 0
    after = agent.critic.state_dict()
    assert not torch.equal(after["q1.0.weight"], before["q1.0.weight"])
    assert torch.equal(after["trunk.1.weight"], before["trunk.1.weight"])  # LayerNorm untouched
    zero = tiny_agent(fixed_alpha=0.0)
    zero.critic_target.load_state_dict(zero.critic.state_dict())
    zero.perturb()
    assert not torch.equal(zero.critic.q1[0].weight, zero.critic_target.q1[0].weight)  # independent draws


def test_perturbation_schedule_in_updates():
    agent = tiny_agent(perturb_every_frames=20)
    for step in range(0, 40, 2):
        agent.update(batch(), step=step)
    assert agent.perturbs_done == 3  # at steps 10, 20, 30


def test_drm_config_presets_and_validation():
    assert resolve({"agent": "drm", "task": "dmc/dog_run"}).drm.alpha_max == 0.6
    assert resolve({"agent": "drm", "task": "dmc/humanoid_walk"}).drm.alpha_max == 0.9
    with pytest.raises(ConfigError, match="agent=drm only"):
        resolve({"drm.perturb": "false"})
    with pytest.raises(ConfigError, match="did you mean 'initial'"):
        resolve({"agent": "drm", "drm.perturb_target": "inital"})
    with pytest.raises(ConfigError, match=re.escape("drm.fixed_alpha")):
        resolve({"agent": "drm", "drm.fixed_alpha": "2"})


@pytest.mark.slow
def test_state_based_drm_learns_cartpole_balance(tmp_path):
    cfg = resolve(
        {
            "agent": "drm",
            "task": "dmc/cartpole_balance",
            "obs": "states",
            "frames": 40_000,
            "agent.hidden_dim": 256,
            "eval.every_frames": 10_000,
            "eval.episodes": 5,
            "log.progress": False,
            "log.tensorboard": False,
            "seed": 1,
        }
    )
    Trainer(cfg, tmp_path).train()
    with open(tmp_path / "train.csv", newline="") as handle:
        train = list(csv.DictReader(handle))
    ratios = [float(r["dormant_ratio"]) for r in train if r["dormant_ratio"]]
    assert ratios and all(0.0 <= r <= 1.0 for r in ratios)
    with open(tmp_path / "eval.csv", newline="") as handle:
        evals = {int(float(r["frame"])): float(r["episode_reward"]) for r in csv.DictReader(handle)}
    assert max(v for f, v in evals.items() if f >= 30_000) >= 900, evals


@pytest.mark.slow
def test_drm_resume_matches_an_uninterrupted_run(tmp_path):
    """β, awakening, λ and the perturbation counter survive a mid-episode checkpoint."""
    from dormant.training.trainer import load_trainer
    from helpers import tiny_states
    from test_training import rows

    extra = {"agent": "drm", "drm__perturb_every_frames": 4000}
    Trainer(tiny_states(frames=6000, **extra), tmp_path / "full").train()
    part = tiny_states(frames=3100, **extra)
    Trainer(part, tmp_path / "part").train()
    part.frames = 6000
    load_trainer(tmp_path / "part", part).train()
    full_rows = rows(tmp_path / "full" / "train.csv")
    assert rows(tmp_path / "part" / "train.csv") == full_rows
    assert float(full_rows[-1]["perturb_count"]) == 1.0  # the perturbation at 4000 frames is after the resume


def test_drm_run_logs_its_mechanisms_and_plots_them(tmp_path):
    """β, β per actor layer, σ, σ(β), λ, α(β) and the awakening reach train.csv and the plot."""
    from dormant.experiments.plot import _awakening_frame, _layer_series, plot_run, read_csv
    from helpers import tiny_states

    Trainer(tiny_states(frames=4000, agent="drm"), tmp_path).train()
    train = read_csv(tmp_path / "train.csv")
    learned = train["dormant_ratio"] == train["dormant_ratio"]  # rows with updates (others are blank)
    for key in (
        "dormant_ratio",
        "sigma_beta",
        "stddev",
        "lambda",
        "alpha_beta",
        "awaken_frame",
        "dormant_ratio/trunk.0",
        "dormant_ratio/policy.0",
        "dormant_ratio/policy.2",
        "dormant_ratio/policy.4",
    ):
        assert key in train and (train[key][learned] >= (-2 if key == "awaken_frame" else 0)).all(), key
    assert train["sigma_beta"][learned] == pytest.approx(
        [awaken_stddev(b) for b in train["dormant_ratio"][learned]], abs=0.05
    )  # means of σ(β) vs σ of mean β
    awake = _awakening_frame(train)
    assert awake is not None and awake == train["awaken_frame"][-1] and awake > 2 * 500  # after the random phase
    assert set(_layer_series(train)) == {"trunk.0", "policy.0", "policy.2", "policy.4"}
    assert plot_run(tmp_path).stat().st_size > 10_000
