"""TACO (Zheng et al. 2023): InfoNCE and the bilinear score worked out by hand, the K-step
replay sample on a hand-built buffer, the agent's update, checkpoints and plasticity
seams, its configuration and its place in a mixed sweep."""

import io
import math
import re

import numpy as np
import pytest
import torch

from dormant.agents.taco import Similarity, TACOAgent, info_nce, latent_action_dim
from dormant.config import AgentConfig, ConfigError, TACOConfig, resolve
from dormant.experiments.sweep import parse_sweep
from dormant.interfaces import PlasticAgent
from dormant.plasticity.agent_surgery import recycle_agent_, reset_agent_, shrink_perturb_agent_
from dormant.plasticity.diagnostics import agent_diagnostics
from dormant.replay import ReplayBuffer


# --- formulas ----------------------------------------------------------------------------
def test_info_nce_on_a_two_by_two_matrix_by_hand():
    # Row 0: −log(e²/(e² + e⁰)) = log(1 + e⁻²); row 1: −log(e¹/(e⁰ + e¹)) = log(1 + e⁻¹).
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    expected = (math.log1p(math.exp(-2)) + math.log1p(math.exp(-1))) / 2  # 0.220095
    assert info_nce(logits).item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.220095, abs=1e-6)
    # Three equal scores per row: chance, log 3.
    assert info_nce(torch.zeros(3, 3)).item() == pytest.approx(math.log(3.0))


def test_bilinear_scores_by_hand():
    """L_ij = a_i · W · b_j: with W = diag(1, 2), a = I, b = [[1, 1], [0, 1]]:
    row 0 = [1, 0], row 1 = [2, 2]; the row maximum is subtracted (softmax unchanged)."""
    sim = Similarity(2)
    with torch.no_grad():
        sim.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    logits = sim(torch.eye(2), torch.tensor([[1.0, 1.0], [0.0, 1.0]]))
    assert torch.allclose(logits, torch.tensor([[0.0, -1.0], [0.0, 0.0]]))
    # InfoNCE: row 0 log(1 + e⁻¹) = 0.313262, row 1 log 2 = 0.693147; mean 0.503204.
    assert info_nce(logits).item() == pytest.approx((math.log1p(math.exp(-1)) + math.log(2)) / 2, rel=1e-6)
    fresh = Similarity(50)  # the authors' torch.rand: uniform in [0, 1)
    assert fresh.weight.min() >= 0.0 and fresh.weight.max() < 1.0 and 0.4 < fresh.weight.mean() < 0.6


def test_latent_action_width_is_the_authors_heuristic():
    assert [latent_action_dim(a) for a in (1, 2, 6, 12)] == [2, 3, 8, 16]  # ⌊1.25·A⌋ + 1
    assert latent_action_dim(6, configured=5) == 5


# --- K-step replay ----------------------------------------------------------------------------
def buffer(horizon, nstep=1, discount=0.5, seed=0):
    return ReplayBuffer(
        (1,), np.float32, 1, capacity=100, frame_stack=1, nstep=nstep, discount=discount, seed=seed, horizon=horizon
    )


def episode(buf, first_frame, rewards, discounts=None):
    """Reset frame ``first_frame``, then transitions t = 1 … T: frame first_frame + t,
    action 10·first_frame + t, reward rewards[t − 1]."""
    for t in range(len(rewards) + 1):
        buf.add(
            np.array([first_frame + t], np.float32),
            np.array([10.0 * first_frame + t], np.float32),
            rewards[t - 1] if t else 0.0,
            (discounts[t - 1] if discounts else 1.0) if t else 1.0,
            first=t == 0,
            last=t == len(rewards),
        )


def test_k_step_sample_by_hand():
    """K = 3, n = 1, rewards 1, 2, 3, 4 (T = 4): idx ∈ {1, 2}; a second episode with
    T = 2 < K is never sampled. For idx = 1: actions 1, 2, 3, obs frame 0, obs K ahead frame 3;
    for idx = 2: actions 2, 3, 4, frames 1 and 4. The reward is the one-step r[idx] (the
    n-step reward, which TACO's reward head regresses as the authors' code does)."""
    buf = buffer(horizon=3)
    episode(buf, 0, [1.0, 2.0, 3.0, 4.0], discounts=[1.0, 1.0, 1.0, 0.0])
    episode(buf, 7, [5.0, 5.0])
    assert buf.can_sample()
    batch = buf.sample(400)
    assert batch["action_seq"].shape == (400, 3, 1) and batch["obs_k"].shape == (400, 1)
    idx = batch["obs"][:, 0].astype(int) + 1
    assert set(idx.tolist()) == {1, 2}  # both starts drawn, never the short episode
    assert "reward_k" not in batch
    expected = {1: ([1, 2, 3], 1.0, 3), 2: ([2, 3, 4], 2.0, 4)}
    for i, actions, reward, obs_k in zip(
        idx, batch["action_seq"][:, :, 0], batch["reward"][:, 0], batch["obs_k"][:, 0], strict=True
    ):
        assert actions.tolist() == expected[i][0] and reward == expected[i][1] and obs_k == expected[i][2]
    # the one-step fields are DrQ-v2's: action a_t, next obs one step ahead (n = 1)
    assert np.array_equal(batch["action"][:, 0], idx.astype(np.float32))
    assert np.array_equal(batch["next_obs"][:, 0], idx.astype(np.float32))


def test_a_short_buffer_cannot_sample_k_steps():
    buf = buffer(horizon=3)
    episode(buf, 0, [1.0, 2.0])
    assert not buf.can_sample()
    with pytest.raises(ValueError, match="horizon=3"):
        buf.sample(1)
    assert buffer(horizon=0).span == 1 and buffer(horizon=3, nstep=5).span == 5


def test_the_extras_leave_the_draws_unchanged():
    """With K ≤ n the eligible starts are the same, so a K-step buffer draws exactly what a
    plain one does; with K = n the observation K ahead is the n-step next observation."""
    plain, extra = buffer(horizon=0, nstep=3, seed=5), buffer(horizon=3, nstep=3, seed=5)
    for buf in (plain, extra):
        for ep in range(3):
            episode(buf, 10 * ep, [float(ep + t) for t in range(6 + ep)])
    for _ in range(3):
        a, b = plain.sample(32), extra.sample(32)
        assert set(a) == {"obs", "action", "reward", "discount", "next_obs"}
        for key in a:
            assert np.array_equal(a[key], b[key]), key
        assert np.array_equal(b["obs_k"], b["next_obs"])


# --- the agent -----------------------------------------------------------------------------------
def agent(**taco) -> TACOAgent:
    torch.manual_seed(0)
    cfg = AgentConfig(hidden_dim=64, feature_dim=50, num_expl_steps=0, lr=1e-3)
    return TACOAgent((9, 20, 20), 2, cfg, pixels=True, device=torch.device("cpu"), taco=TACOConfig(**taco))


def batch(n=8, k=3, seed=0):
    """Smooth random frames (4×4 noise, upsampled): a 4-pixel shift keeps each recognisable."""
    g = torch.Generator().manual_seed(seed)

    def frames() -> torch.Tensor:
        low = torch.rand(n, 9, 4, 4, generator=g) * 255
        return torch.nn.functional.interpolate(low, size=(20, 20), mode="bilinear").to(torch.uint8)

    return {
        "obs": frames(),
        "next_obs": frames(),
        "obs_k": frames(),
        "action": torch.rand(n, 2, generator=g) * 2 - 1,
        "action_seq": torch.rand(n, k, 2, generator=g) * 2 - 1,
        "reward": torch.rand(n, 1, generator=g),
        "reward_k": torch.rand(n, 1, generator=g) * 3 + 3,
        "discount": torch.full((n, 1), 0.99),
    }


def test_the_auxiliary_losses_fall_on_a_fixed_batch():
    a, b = agent(), batch()
    names = ("taco_loss", "taco_curl_loss", "taco_reward_loss")
    first = dict(zip(a.METRICS, a.update(b, step=10).tolist(), strict=True))
    history = [dict(zip(a.METRICS, a.update(b, step=10).tolist(), strict=True)) for _ in range(100)]
    last = {name: sum(h[name] for h in history[-10:]) / 10 for name in names}  # shifts make single values noisy
    for name in names:
        assert last[name] < 0.5 * first[name], (name, first[name], last[name])
    assert last["taco_loss"] < math.log(8) - 0.5  # below chance: it tells the 8 futures apart
    assert all(math.isfinite(v) for v in history[-1].values())


def test_the_reward_head_regresses_the_batch_n_step_reward():
    """The authors' reward term is mse(R([z, U]), reward) with the batch's n-step reward (the
    critic's), not a K-step sum: with R's output fixed at 0 the loss is mean(reward²). (A
    stray ``reward_k`` in the batch, as the replay used to add, is ignored.)"""
    a, b = agent(), batch()
    with torch.no_grad():
        a.taco.reward[-1].weight.zero_()
        a.taco.reward[-1].bias.zero_()
    loss = a.taco_losses(b, augment=False)["taco_reward_loss"]
    assert loss.item() == pytest.approx((b["reward"] ** 2).mean().item(), rel=1e-6)


def test_what_each_optimiser_moves():
    """TACO's Adam moves the encoder, the critic's action encoder and TACO's heads, not the
    critic's trunk or Q heads; the target critic reads actions through the online encoder."""
    a, b = agent(), batch()
    critic_trunk = [p.clone() for p in a.critic.trunk.parameters()]
    before = {n: p.clone() for n, p in [*a.encoder.named_parameters(), *a.critic.action_encoder.named_parameters()]}
    losses = a.taco_losses(b)
    a.taco_opt.zero_grad()
    sum(losses.values()).backward()
    assert all(p.grad is None for p in a.critic.trunk.parameters())
    assert all(p.grad is not None for p in a.critic.action_encoder.parameters())
    a.taco_opt.step()
    assert all(torch.equal(p, q) for p, q in zip(a.critic.trunk.parameters(), critic_trunk, strict=True))
    moved = {n: p for n, p in [*a.encoder.named_parameters(), *a.critic.action_encoder.named_parameters()]}
    assert all(not torch.equal(moved[n], before[n]) for n in before)
    with torch.no_grad():
        a.critic.action_encoder.fc1.weight.add_(1.0)
    a.tie_target_action_encoder()
    assert torch.equal(a.critic_target.action_encoder.fc1.weight, a.critic.action_encoder.fc1.weight)
    assert a.replay_horizon == 3 and a.latent_dim == 3


def test_switched_off_terms_are_zero_and_pixels_are_required():
    a = agent(curl_weight=0.0, reward_weight=0.0)
    metrics = dict(zip(a.METRICS, a.update(batch(), step=10).tolist(), strict=True))
    assert metrics["taco_curl_loss"] == 0.0 and metrics["taco_reward_loss"] == 0.0 and metrics["taco_loss"] > 0
    with pytest.raises(ValueError, match="pixel"):
        TACOAgent((5,), 1, AgentConfig(), pixels=False, device=torch.device("cpu"))


def test_checkpoint_round_trip():
    a = agent()
    a.update(batch(), step=10)
    blob = io.BytesIO()
    torch.save(a.state_dict(), blob)
    blob.seek(0)
    b = agent()
    b.load_state_dict(torch.load(blob, weights_only=True))
    assert {"taco", "taco_opt"} <= set(b.state_dict())
    for (name, p), q in zip(a.taco.named_parameters(), b.taco.parameters(), strict=True):
        assert torch.equal(p, q), name
    assert b.taco_opt.state_dict()["state"].keys() == a.taco_opt.state_dict()["state"].keys()
    torch.manual_seed(1)
    ma = a.update(batch(seed=1), step=12)
    torch.manual_seed(1)
    mb = b.update(batch(seed=1), step=12)
    assert torch.equal(ma, mb)  # same state, same draws: the same update


def test_plasticity_seams_see_tacos_networks():
    a, b = agent(), batch()
    a.update(b, step=10)
    assert isinstance(a, PlasticAgent)
    assert set(a.networks()) == {"encoder", "actor", "critic", "taco"} and a.taco_opt in a.optimizers()
    diag = agent_diagnostics(a, b)
    assert {"taco_dormant_ratio", "taco_fau", "taco_weight_norm", "critic_srank"} <= set(diag)
    assert "critic_srank/q1" in diag and not any("action_encoder" in k for k in diag if k.startswith("critic_srank"))
    counts = recycle_agent_(a, b, ["critic", "taco", "encoder"], tau=0.5)
    assert {"taco.project.0", "taco.reward.0", "critic.q1.0"} <= set(counts)
    assert sorted(reset_agent_(a, nets=["taco"])) == ["taco.project", "taco.reward", "taco.sequence", "taco.similarity"]
    assert "taco" in shrink_perturb_agent_(a, 0.8)
    assert all(math.isfinite(v) for v in a.update(b, step=12).tolist())


# --- configuration and sweeps ------------------------------------------------------------------
@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"agent": "taco", "obs": "states"}, "needs obs=pixels"),
        ({"taco.horizon": "1"}, "taco.\\* options apply to agent=taco only"),
        ({"agent": "taco", "taco.horizon": "0"}, "taco.horizon must be ≥ 1"),
        ({"agent": "taco", "taco.curl_weight": "-1"}, "taco.curl_weight must be ≥ 0"),
        ({"plasticity.redo": "true", "plasticity.redo_nets": "taco"}, "needs agent=taco"),
        ({"plasticity.reset_nets": "tacos"}, "did you mean 'taco'"),
    ],
)
def test_taco_configuration(overrides, message):
    with pytest.raises(ConfigError, match=message):
        resolve({"task": "dmc/cartpole_swingup", **overrides})


def test_taco_brings_the_authors_batch_of_1024():
    cfg = resolve({"agent": "taco", "task": "dmc/walker_walk"})
    assert cfg.agent.batch_size == 1024 and cfg.taco.horizon == 3 and cfg.agent.augment
    assert resolve({"agent": "taco", "agent.batch_size": "256"}).agent.batch_size == 256


# The effective settings of each of TACO's DMC task files (cfgs/task/*.yaml with
# cfgs/agent/taco.yaml composed after them, so its batch of 1024 wins over walker's 512):
# task → (tier, n-step, replay capacity). Every task: lr = encoder_lr = 1e-4 (one rate here),
# feature_dim 50, batch 1024. (reach_duplo, a dm_control manipulation task, is not a dormant task.)
TACO_TASK_FILES = {
    "acrobot_swingup": ("medium", 3, 1_000_000),
    "acrobot_swingup_sparse": ("medium", 3, 1_000_000),
    "cartpole_balance": ("easy", 3, 1_000_000),
    "cartpole_balance_sparse": ("easy", 3, 1_000_000),
    "cartpole_swingup": ("easy", 3, 1_000_000),
    "cartpole_swingup_sparse": ("medium", 3, 1_000_000),
    "cheetah_run": ("medium", 3, 1_000_000),
    "cup_catch": ("easy", 3, 1_000_000),
    "finger_spin": ("easy", 3, 1_000_000),
    "finger_turn_easy": ("medium", 3, 1_000_000),
    "finger_turn_hard": ("medium", 3, 1_000_000),
    "hopper_hop": ("medium", 3, 1_000_000),
    "hopper_stand": ("easy", 3, 1_000_000),
    "manipulator_bring_ball": ("hard", 3, 1_000_000),
    "pendulum_swingup": ("easy", 3, 1_000_000),
    "quadruped_run": ("medium", 3, 100_000),
    "quadruped_walk": ("medium", 3, 1_000_000),
    "reacher_easy": ("medium", 3, 1_000_000),
    "reacher_hard": ("medium", 3, 1_000_000),
    "walker_run": ("medium", 1, 1_000_000),
    "walker_stand": ("easy", 1, 1_000_000),
    "walker_walk": ("easy", 1, 1_000_000),
}
TIERS = {
    "easy": (1_100_000, "linear(1.0,0.1,100000)"),
    "medium": (3_100_000, "linear(1.0,0.1,500000)"),
    "hard": (30_100_000, "linear(1.0,0.1,2000000)"),
}


@pytest.mark.parametrize("task", sorted(TACO_TASK_FILES))
def test_taco_task_presets_are_the_authors_task_files(task):
    """Key by key against TACO's task files (acrobot_swingup_sparse and manipulator_bring_ball
    used to take DrM's: a 2M-step σ schedule over 6.1M frames, and lr 8e-5)."""
    tier, nstep, capacity = TACO_TASK_FILES[task]
    cfg = resolve({"agent": "taco", "task": f"dmc/{task}"})
    got = (
        cfg.frames,
        cfg.agent.stddev_schedule,
        cfg.agent.nstep,
        cfg.replay.capacity,
        cfg.agent.lr,
        cfg.agent.feature_dim,
        cfg.agent.batch_size,
        cfg.env.camera_id,
        cfg.env.action_repeat,
        cfg.env.frame_stack,
        cfg.agent.discount,
        cfg.num_seed_frames,
        cfg.agent.num_expl_steps,
        cfg.agent.update_every_steps,
        cfg.agent.critic_target_tau,
        cfg.agent.stddev_clip,
        cfg.agent.hidden_dim,
        cfg.taco.horizon,
        cfg.eval.every_frames,
        cfg.eval.episodes,
    )
    assert got == (
        *TIERS[tier],
        nstep,
        capacity,
        1e-4,
        50,
        1024,
        2 if task.startswith("quadruped") else 0,
        2,
        3,
        0.99,
        4000,
        2000,
        2,
        0.01,
        0.3,
        1024,
        3,
        10_000,
        10,
    )


def test_drms_comparison_is_one_sweep(tmp_path):
    """agent=drqv2,alix,taco,drm resolves: taco.* options reach the TACO runs only (an axis
    of them does not repeat the others), and each agent brings its own preset."""
    runs, options, _ = parse_sweep(
        [
            "agent=drqv2,alix,taco,drm",
            "task=dmc/cartpole_swingup",
            "seeds=2",
            f"out={tmp_path}",
            "frames=100000",
            "taco.horizon=1,3",
            "taco.reward_weight=0.5",
        ]
    )
    by_agent = {agent: [r for r in runs if r.agent == agent] for agent in ("drqv2", "alix", "taco", "drm")}
    assert {a: len(r) for a, r in by_agent.items()} == {"drqv2": 2, "alix": 2, "taco": 4, "drm": 2}
    assert not any(k.startswith("taco.") for a in ("drqv2", "alix", "drm") for r in by_agent[a] for k in r.overrides)
    assert by_agent["taco"][0].run_id == "dmc_cartpole_swingup/taco/taco.horizon=1/seed1"
    assert all(r.overrides["taco.reward_weight"] == "0.5" for r in by_agent["taco"])
    batches = {a: {resolve(r.overrides).agent.batch_size for r in rs} for a, rs in by_agent.items()}
    assert batches == {"drqv2": {256}, "alix": {256}, "taco": {1024}, "drm": {256}}
    assert any(note.startswith("taco.horizon, taco.reward_weight apply to agent=taco only") for note in options.notes)
    with pytest.raises(ConfigError, match=re.escape("taco.* options apply to agent=taco only")):
        parse_sweep(["agent=drqv2,alix", f"out={tmp_path / 'x'}", "taco.horizon=1"])  # no TACO run to take it


def test_the_comparison_report_draws_the_four_agents_together(tmp_path):
    """A report over finished drqv2/alix/taco/drm pixel runs (fixed numbers) puts the four
    methods in one table and names the settings their agents bring (batch, augmentation)."""
    import json

    from dormant.experiments.report import write_report

    sweep, runs = tmp_path / "sweep", {}
    for k, agent in enumerate(("drqv2", "alix", "taco", "drm")):
        for seed in (1, 2):
            run_id = f"dmc_cartpole_swingup/{agent}/seed{seed}"
            runs[run_id] = {"task": "dmc/cartpole_swingup", "agent": agent, "seed": seed, "frames": 20000}
            path = sweep / run_id
            path.mkdir(parents=True)
            cfg = resolve({"agent": agent, "task": "dmc/cartpole_swingup", "seed": str(seed), "frames": "20000"})
            (path / "config.yaml").write_text(cfg.to_yaml())
            final = 200 + 100 * k + seed
            (path / "eval.csv").write_text(
                "frame,step,episode,episode_reward,episode_length,fps,elapsed_s,"
                f"episode_reward_std\n0,0,0,0,1000,1,1,0\n20000,10000,0,{final},1000,1,1,0\n"
            )
            (path / "train.csv").write_text(f"frame,step,episode,episode_reward\n20000,10000,1,{final}\n")
            (path / "status.json").write_text(json.dumps({"status": "finished", "frame": 20000}))
    (sweep / "sweep.json").write_text(json.dumps({"version": 1, "shared": {}, "runs": runs}))
    md, _ = write_report([sweep], tmp_path / "report", reps=100)
    text = md.read_text()
    assert "| agent.batch_size | 256 | 256 | 256 | 1024 |" in text  # groups in name order: alix, drm, drqv2, taco
    assert "| agent.augment | False | True | True | True |" in text
    assert all(f"| {agent} |" in text for agent in ("drqv2", "alix", "taco", "drm"))


@pytest.mark.slow
def test_tiny_pixel_run_with_interventions(tmp_path):
    """A short pixel run (32² fast renders, action repeat 8): the replay serves K-step
    batches, TACO's losses are logged, and ReDo on every network (the encoder's channels
    traced into TACO's projection too), a reset of TACO's heads and the diagnostics run
    through configuration."""
    from dormant.experiments.plot import read_csv
    from dormant.training.trainer import Trainer

    cfg = resolve(
        {
            "agent": "taco",
            "task": "dmc/cartpole_swingup",
            "frames": 4000,
            "num_seed_frames": 1000,
            "agent.num_expl_steps": 125,
            "agent.batch_size": 16,
            "agent.hidden_dim": 32,
            "env.image_size": 32,
            "env.action_repeat": 8,
            "env.fast_render": True,
            "eval.every_frames": 4000,
            "eval.episodes": 1,
            "log.progress": False,
            "log.tensorboard": False,
            "threads": 1,
            "log.diagnostics_every_updates": 50,
            "plasticity.redo": True,
            "plasticity.redo_every_updates": 50,
            "plasticity.redo_nets": "critic,actor,encoder,taco",
            "plasticity.reset_at_frames": "3200",
            "plasticity.reset_nets": "taco",
        }
    )
    trainer = Trainer(cfg, tmp_path)
    assert trainer.replay.horizon == 3
    assert trainer.train() == "finished"
    train = read_csv(tmp_path / "train.csv")
    losses = train["taco_loss"][~np.isnan(train["taco_loss"])]
    assert len(losses) and np.all(np.isfinite(losses)) and np.all(losses > 0)
    events = read_csv(tmp_path / "events.csv", text=True)
    kinds = list(events["event"])
    assert kinds.count("redo") == 3 and kinds.count("reset_heads") == 1  # 187 updates: ReDo at 50, 100, 150
    assert "taco.project.0=" in events["detail"][0] and "encoder.convnet.0=" in events["detail"][0]
    assert events["detail"][kinds.index("reset_heads")] == "taco.project taco.reward taco.sequence taco.similarity"
    assert "taco_fau" in read_csv(tmp_path / "diagnostics.csv")
