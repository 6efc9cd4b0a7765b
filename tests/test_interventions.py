"""Plasticity interventions (ReDo, resets, shrink-and-perturb, replay ratio) wired into the agents and the trainer."""

import csv

import pytest
import torch

from dormant.agents.drm import DrMAgent
from dormant.agents.drqv2 import DrQV2Agent
from dormant.config import AgentConfig, ConfigError
from dormant.plasticity import recycle_agent_, reset_agent_, shrink_perturb_agent_
from dormant.training.trainer import Trainer, load_trainer
from helpers import tiny_states
from test_training import rows


def pixel_agent(cls=DrQV2Agent) -> DrQV2Agent:
    torch.manual_seed(0)
    cfg = AgentConfig(hidden_dim=16, feature_dim=8, num_expl_steps=0)
    return cls((3, 20, 20), 2, cfg, pixels=True, device=torch.device("cpu"))


def pixel_batch(n=6):
    g = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (n, 3, 20, 20), generator=g, dtype=torch.uint8)
    return {
        "obs": frames,
        "next_obs": frames.clone(),
        "action": torch.rand(n, 2, generator=g) * 2 - 1,
        "reward": torch.rand(n, 1, generator=g),
        "discount": torch.full((n, 1), 0.99),
    }


def test_encoder_channels_are_traced_into_every_head_that_reads_them():
    agent = pixel_agent(DrMAgent)  # actor, critic and V all read the encoder's features
    batch = pixel_batch()
    for _ in range(2):
        agent.update(batch, step=0)  # Adam moments everywhere
    last_conv = agent.encoder.convnet[6]
    with torch.no_grad():  # plant a dead channel in the last conv: its ReLU output is 0 everywhere
        last_conv.weight[5] = 0.0
        last_conv.bias[5] = -1.0
    obs = batch["obs"].float()
    h = agent.encoder(obs)
    before = (agent.actor(h), *agent.critic(h, batch["action"]), agent.value(h))

    # τ = 0: only neurons that are exactly silent on this batch, so the function must not change.
    counts = recycle_agent_(agent, batch, ["encoder"], tau=0.0)

    assert counts["encoder.convnet.6"] >= 1  # the planted channel (and any naturally silent one)
    side = (20 - 3) // 2 + 1 - 6  # 3×3 maps: 9 columns per channel in each trunk
    owned = slice(5 * side * side, 6 * side * side)
    assert torch.equal(agent.critic_target.trunk[0].weight[:, owned], torch.zeros(8, side * side))
    for head in (agent.actor, agent.critic, agent.value):
        assert torch.equal(head.trunk[0].weight[:, owned], torch.zeros(8, side * side))
        state = agent._modules()[
            {agent.actor: "actor_opt", agent.critic: "critic_opt", agent.value: "value_opt"}[head]
        ].state[head.trunk[0].weight]
        assert torch.equal(state["exp_avg"][:, owned], torch.zeros(8, side * side))
    h = agent.encoder(obs)
    after = (agent.actor(h), *agent.critic(h, batch["action"]), agent.value(h))
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))  # function unchanged


def test_critic_recycling_is_mirrored_in_the_target():
    agent = pixel_agent()
    batch = pixel_batch()
    for _ in range(3):
        agent.update(batch, step=0)  # Adam moments everywhere
    with torch.no_grad():  # plant a dead hidden neuron in Q1
        agent.critic.q1[0].weight[3] = 0.0
        agent.critic.q1[0].bias[3] = -10.0
    # A target with the critic's dormant neurons (in training it lags by a moving average):
    # then mirroring must leave its function unchanged too.
    agent.critic_target.load_state_dict(agent.critic.state_dict())
    h = agent.probe_features(batch)
    target_before = agent.critic_target(h, batch["action"])
    counts = recycle_agent_(agent, batch, ["critic"], tau=0.0)
    assert counts["critic.q1.0"] >= 1
    q1, q1_target = agent.critic.q1, agent.critic_target.q1
    assert torch.equal(q1_target[0].weight[3], q1[0].weight[3])  # the re-drawn row, copied
    assert q1_target[0].bias[3] == 0
    # Outgoing column 3: zero, except in rows of the next layer that were themselves re-drawn,
    # and identical in the target.
    assert torch.equal(q1_target[2].weight[:, 3], q1[2].weight[:, 3])
    assert (q1[2].weight[:, 3] == 0).sum() >= 16 - counts["critic.q1.2"]
    assert all(torch.equal(a, b) for a, b in zip(target_before, agent.critic_target(h, batch["action"]), strict=True))


def test_reinitialise_heads_keeps_trunks_and_encoder_and_syncs_the_target():
    agent = pixel_agent()
    batch = pixel_batch()
    agent.update(batch, step=0)
    keep = {n: p.clone() for n, p in agent.encoder.named_parameters()}
    keep.update({f"trunk.{n}": p.clone() for n, p in agent.critic.trunk.named_parameters()})
    old_head = agent.critic.q1[0].weight.clone()
    reset = reset_agent_(agent, "heads")
    assert reset == ["actor.policy", "critic.q1", "critic.q2"]
    assert not torch.equal(agent.critic.q1[0].weight, old_head)
    assert all(torch.equal(p, keep[n]) for n, p in agent.encoder.named_parameters())
    assert all(torch.equal(p, keep[f"trunk.{n}"]) for n, p in agent.critic.trunk.named_parameters())
    for head in ("q1", "q2"):  # re-drawn heads are copied into the target; its lagging trunk is kept
        online, target = agent.critic.get_submodule(head), agent.critic_target.get_submodule(head)
        assert all(torch.equal(a, b) for a, b in zip(online.parameters(), target.parameters(), strict=True))
    assert not torch.equal(agent.critic_target.trunk[0].weight, agent.critic.trunk[0].weight)
    assert agent.critic.q1[0].weight not in agent.critic_opt.state  # re-drawn: its moments forgotten
    assert agent.critic.trunk[0].weight in agent.critic_opt.state  # kept: its moments kept
    assert reset_agent_(agent, "all") == ["actor", "critic", "encoder"]


def test_periodic_shrink_perturb_mixes_towards_a_fresh_draw():
    agent = pixel_agent()
    before = agent.encoder.convnet[0].weight.clone()
    shrink_perturb_agent_(agent, 1.0, scope="all")  # α = 1 keeps everything
    assert torch.equal(agent.encoder.convnet[0].weight, before)
    shrink_perturb_agent_(agent, 0.5, scope="all")
    assert not torch.equal(agent.encoder.convnet[0].weight, before)
    with torch.no_grad():
        agent.critic.trunk[1].weight.fill_(3.0)  # a trained LayerNorm gain
    shrink_perturb_agent_(agent, 0.0, scope="all")  # α = 0: a pure fresh draw, LayerNorm included
    assert torch.equal(agent.critic.trunk[1].weight, torch.ones(8))


def test_every_update_reports_the_critic_fau():
    agent = pixel_agent()
    values = agent.update(pixel_batch(), step=0)
    fau = values[agent.METRICS.index("critic_fau")].item()
    assert 0.0 < fau < 1.0


def test_plasticity_config_errors():
    with pytest.raises(ConfigError, match="replay ratio"):
        tiny_states(replay_ratio="fast")
    with pytest.raises(ConfigError, match="did you mean 'encoder'"):
        tiny_states(plasticity__redo=True, plasticity__redo_nets="critic,encodr")
    with pytest.raises(ConfigError, match="needs obs=pixels"):
        tiny_states(plasticity__redo=True, plasticity__redo_nets="encoder")
    with pytest.raises(ConfigError, match="needs agent=drm"):
        tiny_states(plasticity__redo=True, plasticity__redo_nets="value")
    with pytest.raises(ConfigError, match="did you mean 'heads'"):
        tiny_states(plasticity__reset_scope="head")
    assert tiny_states(replay_ratio="1/4").plasticity.replay_ratio == "1/4"


def read(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_drqv2_with_redo_resets_and_shrink_perturb_logs_its_events(tmp_path):
    cfg = tiny_states(
        frames=5000,
        plasticity__redo=True,
        plasticity__redo_every_updates=200,
        plasticity__redo_nets="critic,actor",
        plasticity__reset_every_frames=3000,
        plasticity__shrink_perturb_every_frames=4000,
        log__diagnostics_every_updates=250,
    )
    assert Trainer(cfg, tmp_path).train() == "finished"
    events = read(tmp_path / "events.csv")
    kinds = [e["event"] for e in events]
    # 750 updates (frames 2000–5000 are 1500 agent steps, one update per 2): ReDo at 200, 400, 600.
    assert kinds.count("redo") == 3 and kinds.count("reset_heads") == 1 and kinds.count("shrink_perturb") == 1
    redo = next(e for e in events if e["event"] == "redo")
    assert "critic.q1.0=" in redo["detail"] and "actor.policy.0=" in redo["detail"]
    diagnostics = read(tmp_path / "diagnostics.csv")
    assert len(diagnostics) == 3  # at 250, 500, 750 updates
    for key in (
        "actor_dormant_ratio",
        "critic_redo_dormant_ratio",
        "critic_fau",
        "actor_fau",
        "critic_redo_dormant/q1.1",
        "critic_fau/q2.3",
    ):
        assert 0.0 <= float(diagnostics[-1][key]) <= 1.0, key
    train = read(tmp_path / "train.csv")
    assert all(float(r["replay_ratio"]) == 0.5 for r in train)
    assert 0.0 < float(train[-1]["critic_fau"]) <= 1.0


def test_adaptive_replay_ratio_switches_and_runs_two_updates_per_step(tmp_path):
    # Episodes are 1000 frames; updates start at 2000. With a check after every episode and
    # a tolerance of 1, the first check with updates (frame 3000) records the FAU and the
    # second (frame 4000) switches.
    cfg = tiny_states(
        frames=6000, replay_ratio="adaptive", plasticity__rr_check_every_episodes=1, plasticity__rr_fau_tolerance=1.0
    )
    trainer = Trainer(cfg, tmp_path)
    trainer.train()
    assert trainer.replay_ratio.switch_frame == 4000
    # Agent steps 1000–1999 at 0.5 (500 updates), steps 2000–2999 at 2 (2000 updates).
    assert trainer.counters.updates == 2500
    train = read(tmp_path / "train.csv")  # each row: the ratio the episode ran with
    assert [float(r["replay_ratio"]) for r in train] == [0.5, 0.5, 0.5, 0.5, 2.0, 2.0]
    assert [int(r["rr_switch_frame"]) for r in train] == [-1, -1, -1, -1, 4000, 4000]
    switch = [e for e in read(tmp_path / "events.csv") if e["event"] == "replay_ratio"]
    assert len(switch) == 1 and int(switch[0]["frame"]) == 4000


@pytest.mark.slow
def test_resume_with_interventions_matches_an_uninterrupted_run(tmp_path):
    extra = {
        "replay_ratio": "adaptive",
        "plasticity__rr_check_every_episodes": 1,
        "plasticity__rr_fau_tolerance": 1.0,
        "plasticity__redo": True,
        "plasticity__redo_every_updates": 300,
        "plasticity__reset_every_frames": 5000,
    }
    Trainer(tiny_states(frames=6000, **extra), tmp_path / "full").train()
    part = tiny_states(frames=3100, **extra)  # mid-episode, before the switch (4000) and the reset (5000)
    Trainer(part, tmp_path / "part").train()
    part.frames = 6000
    load_trainer(tmp_path / "part", part).train()
    for name in ("train.csv", "events.csv"):
        assert rows(tmp_path / "part" / name) == rows(tmp_path / "full" / name), name


def _fake_run(path, seed, switch):
    path.mkdir(parents=True)
    (path / "eval.csv").write_text("frame,episode_reward\n0,10\n1000,20\n2000,30\n".replace(",2", f",{2 + seed}"))
    (path / "diagnostics.csv").write_text("frame,actor_dormant_ratio,critic_fau\n500,0.1,0.6\n1500,0.2,0.5\n")
    (path / "train.csv").write_text(f"frame,rr_switch_frame\n1000,-1\n2000,{switch}\n")


def test_compare_plot_renders_one_panel_per_diagnostic(tmp_path):
    from matplotlib import image

    from dormant.experiments.plot import plot_compare

    groups = {"plain": [], "adaptive RR": []}
    for seed in (1, 2):
        _fake_run(tmp_path / f"a{seed}", seed, -1)
        _fake_run(tmp_path / f"b{seed}", seed, 1500)
        groups["plain"].append(tmp_path / f"a{seed}")
        groups["adaptive RR"].append(tmp_path / f"b{seed}")
    one = plot_compare(groups, tmp_path / "one.png")
    two = plot_compare(groups, tmp_path / "two.png", panels=("actor_dormant_ratio", "critic_fau"))
    assert image.imread(two).shape[0] > image.imread(one).shape[0]  # taller: one more panel
    assert one.stat().st_size > 10_000


def test_drm_takes_redo_on_every_network_including_v():
    agent = pixel_agent(DrMAgent)
    batch = pixel_batch()
    agent.update(batch, step=0)
    counts = recycle_agent_(agent, batch, ["critic", "actor", "value", "encoder"], tau=0.1)
    assert {"critic.q1.0", "actor.policy.2", "value.v.0", "encoder.convnet.0"} <= set(counts)
    values = agent.update(batch, step=1)  # still trains
    assert torch.isfinite(values).all()
