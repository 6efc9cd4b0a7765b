"""Continual scenarios: task sequences and permuted observations, switched every
``continual.switch_every_frames`` (envs/continual.py, training/continual.py, experiments/continual.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from dormant.config import ConfigError, resolve
from dormant.config.budget import VARIABLE
from dormant.envs.base import TimeStep
from dormant.envs.continual import (
    PHASE_STRIDE,
    SCENARIOS,
    TaskSequenceEnv,
    canonical_task,
    eval_phases,
    permutation,
    phase_of,
    switch_frames,
    task_sequence,
)
from dormant.experiments.continual import PHASE_HEADER, mark_switches, phase_rows, phases, write_continual_section
from dormant.training.callbacks import Callback
from dormant.training.checkpoint import load_checkpoint
from dormant.training.trainer import Trainer, load_trainer

BALANCE, SWINGUP = "dmc/cartpole_balance", "dmc/cartpole_swingup"
# Two cartpole tasks (balance → swingup), a phase each of 1200 frames (600 agent steps): cartpole
# episodes are 1000 frames, so each phase ends one natural episode and truncates the next after 200.
TINY = {
    "task": "continual/cartpole",
    "obs": "states",
    "switch_every_frames": 1200,
    "frames": 2400,
    "agent.hidden_dim": 32,
    "agent.feature_dim": 16,
    "agent.batch_size": 32,
    "num_seed_frames": 400,
    "agent.num_expl_steps": 100,
    "eval.every_frames": 600,
    "eval.episodes": 1,
    "log.diagnostics_every_updates": 100,
    "log.progress": False,
    "log.tensorboard": False,
    "threads": 1,
}
TIMING = {"fps", "elapsed_s"}


def tiny(**overrides):
    return resolve({**TINY, **{k.replace("__", "."): v for k, v in overrides.items()}})


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(handle)]


class Episodes(Callback):
    """(frame, the training env's task, episode length) of every finished training episode."""

    def __init__(self):
        self.seen = []

    def on_episode_end(self, trainer, row):  # workers: the trainer's phase (their envs are in their processes)
        task = getattr(trainer.env, "task", None) or trainer.switches.task(trainer.switches.phase)
        self.seen.append((row["frame"], task, row["episode_length"]))


class StopAt(Callback):
    def __init__(self, frame):
        self.every_frames = frame

    def on_frames(self, trainer):
        trainer.request_stop("test")


# --- names and arithmetic --------------------------------------------------------------------
def test_a_scenario_and_a_list_name_the_same_sequence():
    assert task_sequence("continual/walker") == ["dmc/walker_stand", "dmc/walker_walk", "dmc/walker_run"]
    assert canonical_task(" dmc/a , dmc/b ") == "dmc/a,dmc/b"
    assert task_sequence("dmc/walker_walk") == ["dmc/walker_walk"]


@pytest.mark.parametrize(
    "task, words",
    [
        ("continual/walkr", "did you mean 'continual/walker'"),
        ("dmc/walker_stand,,dmc/walker_walk", "an empty item"),
        ("dmc/walker_stand,", "an empty item"),
        ("dmc/walker_stand,dmc/walker_walk,dmc/walker_stand", "lists dmc/walker_stand twice"),
        ("dmc/walker_stand,continual/walker", "a named scenario stands alone"),
    ],
)
def test_bad_sequences_are_refused_by_name(task, words):
    with pytest.raises(ConfigError, match=words):
        task_sequence(task)


def test_an_evaluation_covers_the_current_phase_then_every_other_task_as_last_trained():
    assert eval_phases(0, 3) == [0]
    assert eval_phases(1, 3) == [1, 0]
    assert eval_phases(2, 3) == [2, 0, 1]
    assert eval_phases(4, 3) == [4, 3, 2]  # task 1 now; task 0 was last trained in phase 3, task 2 in phase 2
    assert eval_phases(3, 1) == [3]  # one task, permuted: only the current permutation


def test_switch_frames_and_phases():
    assert switch_frames(60_000, 20_000) == [20_000, 40_000]
    assert switch_frames(65_000, 20_000) == [20_000, 40_000, 60_000]
    assert [phase_of(f, 1200) for f in (0, 1199, 1200, 2399, 2400)] == [0, 0, 1, 1, 2]


def test_permutations_leave_phase_zero_alone_and_never_draw_the_identity():
    assert permutation(1, 0, 5) is None
    for phase in range(1, 20):  # two entries: the only permutation that is not the identity
        assert permutation(7, phase, 2).tolist() == [1, 0]
    first = permutation(3, 1, 24)
    assert sorted(first.tolist()) == list(range(24)) and (first != np.arange(24)).any()
    assert np.array_equal(first, permutation(3, 1, 24))  # drawn from (seed, phase) alone
    with pytest.raises(ConfigError, match="nothing to permute"):
        permutation(3, 1, 1)


# --- the env -------------------------------------------------------------------------------
class FakeEnv:
    """A task env: frames [1, 2, 3], stacks of two; records what the sequence env asks of it."""

    frame_shape, obs_shape, frame_dtype, action_dim, proprio_dim, has_success = (3,), (6,), np.float32, 1, 0, False

    def __init__(self, task, seed):
        self.task, self.seed, self.closed, self.restored, self.draws = task, seed, False, None, 0

    def _ts(self, first):
        return TimeStep(
            observation=np.arange(1.0, 7.0),
            frame=np.arange(1.0, 4.0),
            action=np.zeros(1),
            reward=0.0,
            discount=1.0,
            first=first,
            last=False,
        )

    def reset(self):
        self.draws += 1
        return self._ts(True)

    def step(self, action):
        return self._ts(False)

    def rng_state(self):
        return {"draws": self.draws}

    def set_rng_state(self, state):
        self.draws = state["draws"]

    def episode_start_state(self):
        return {"draws": self.draws - 1}

    def restore_episode(self, start, actions, frames):
        self.restored = [f.tolist() for f in frames]
        return self._ts(False)

    def close(self):
        self.closed = True


def test_sequence_env_permutes_each_stacked_frame_and_restores_through_the_inverse(monkeypatch):
    monkeypatch.setattr("dormant.envs.continual.permutation", lambda seed, phase, size: np.array([2, 0, 1]))
    env = TaskSequenceEnv(["a", "b"], FakeEnv, seed=5, permute=True)
    assert env.reset().frame.tolist() == [3.0, 1.0, 2.0]  # phase 0 as drawn here (the real draw gives None)
    env.set_phase(1)
    ts = env.step(np.zeros(1))
    assert ts.frame.tolist() == [3.0, 1.0, 2.0]
    assert ts.observation.tolist() == [3.0, 1.0, 2.0, 6.0, 4.0, 5.0]  # each of the two stacked frames
    env.restore_episode({"draws": 0}, np.zeros((1, 1)), [np.array([3.0, 1.0, 2.0])])
    assert env._env.restored == [[1.0, 2.0, 3.0]]  # the task env gets its own order back


def test_training_sequence_env_builds_each_phase_fresh_with_its_seed():
    built = []
    env = TaskSequenceEnv(["a", "b"], lambda task, seed: built.append(FakeEnv(task, seed)) or built[-1], seed=5)
    env.set_phase(1)
    env.set_phase(2)
    assert [(e.task, e.seed) for e in built] == [("a", 5), ("b", 5 + PHASE_STRIDE), ("a", 5 + 2 * PHASE_STRIDE)]
    assert [e.closed for e in built] == [True, True, False]
    assert env.reset().frame.tolist() == [1.0, 2.0, 3.0]  # not permuted unless asked


def test_evaluation_sequence_env_keeps_one_env_per_task_and_all_their_random_streams():
    built = []
    env = TaskSequenceEnv(
        ["a", "b"], lambda task, seed: built.append(FakeEnv(task, seed)) or built[-1], seed=5, keep=True
    )
    env.reset()
    before = env.rng_state()
    assert before == {"continual_tasks": {"a": {"draws": 1}}}
    env.set_phase(1)
    env.reset()
    env.set_phase(2)  # task a again: the same env, its stream where it was
    env.reset()
    assert [(e.task, e.seed, e.draws) for e in built] == [("a", 5, 2), ("b", 5, 1)]
    env.set_rng_state(before)  # b was built after the state was taken: dropped, to be rebuilt fresh
    assert built[0].draws == 1 and built[1].closed
    env.set_phase(3)
    assert env._env is built[2] and built[2].draws == 0


# --- configuration -------------------------------------------------------------------------
@pytest.mark.parametrize("task, tasks", [("continual/cartpole", 2), ("continual/walker", 3)])
@pytest.mark.parametrize("every", [1000, 2000, 20_000])
def test_the_budget_must_reach_every_task(task, tasks, every):
    base = {"task": task, "obs": "states", "switch_every_frames": every, "num_seed_frames": 400}
    with pytest.raises(ConfigError, match=f"too few for all {tasks} tasks .*smallest budget is frames={tasks * every}"):
        resolve({**base, "frames": tasks * every - 2})
    assert resolve({**base, "frames": tasks * every}).continual.switch_every_frames == every


@pytest.mark.parametrize(
    "overrides, words",
    [
        (
            {"task": "dmc/walker_stand,dmc/cheetah_run"},
            r"same observation and action spaces; dmc/walker_stand has obs_shape=\(24,\).*"
            r"dmc/cheetah_run has obs_shape=\(17,\)",
        ),
        (
            {"task": "dmc/walker_walk,dmc/hopper_hop"},
            r"dmc/walker_walk has .*action_dim=6.*dmc/hopper_hop has .*action_dim=4",
        ),
        ({"task": "dmc/cartpole_balance,dmc/cartpol_swingup"}, "did you mean 'dmc/cartpole_swingup'"),
        ({"task": "dmc/cartpole_balance,gym:CartPole-v1"}, "stays within one suite; it names dmc, gym"),
        ({"task": "continual/cartpole", "switch_every_frames": 0}, "a sequence of 2 tasks: give switch_every_frames"),
        (
            {"task": "dmc/cartpole_balance"},
            "one task and continual.permute_obs is off, so there is nothing to switch to",
        ),
        (
            {"task": "dmc/cartpole_balance", "switch_every_frames": 0, "continual.permute_obs": True},
            "permute_obs=true acts at task switches",
        ),
        (
            {"task": "dmc/cartpole_balance", "switch_every_frames": 0, "continual.replay": "reset"},
            "replay=reset acts at task switches",
        ),
        ({"continual.replay": "forget"}, "unknown continual.replay 'forget'"),
        ({"switch_every_frames": 1201}, r"multiple of env.action_repeat × env.workers = 2"),
        ({"switch_every_frames": 1202, "env.workers": 2}, r"multiple of env.action_repeat × env.workers = 4"),
        ({"switch_every_frames": -2}, "must be ≥ 0"),
    ],
)
def test_bad_continual_configurations_are_refused_before_any_work(overrides, words):
    base = {"task": "continual/cartpole", "obs": "states", "switch_every_frames": 2000, "frames": 8000}
    with pytest.raises(ConfigError, match=words):
        resolve({**base, **overrides})


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_named_scenario_has_tasks_of_one_shape(name):
    assert resolve({"task": name, "obs": "states", "switch_every_frames": 10_000, "frames": 40_000}).task == ",".join(
        task_sequence(name)
    )


def test_a_scenario_is_stored_as_its_task_list_and_names_its_run_directory():
    cfg = tiny()
    assert cfg.task == f"{BALANCE},{SWINGUP}"
    from dormant.config import default_out

    assert default_out(cfg) == "runs/dmc-cartpole_balance+dmc-cartpole_swingup-drqv2-s1"


def test_the_smoke_budget_keeps_every_task(monkeypatch):
    monkeypatch.setenv(VARIABLE, "2000")
    cfg = resolve({"task": "continual/walker", "obs": "states", "switch_every_frames": 20_000, "frames": 60_000})
    assert (cfg.frames, cfg.continual.switch_every_frames) == (2000, 666)  # 2000 // 3 tasks, on a 2-frame step


def test_a_sweep_takes_a_sequence_in_brackets_or_by_its_name(tmp_path):
    from dormant.experiments.sweep import parse_sweep

    runs, _, _ = parse_sweep(
        [
            "agent=drqv2",
            "task=continual/cartpole,[dmc/hopper_stand,dmc/hopper_hop]",
            "obs=states",
            "switch_every_frames=2000",
            "frames=4000",
            "num_seed_frames=400",
            f"out={tmp_path}",
        ]
    )
    assert [(r.run_id, r.task) for r in runs] == [
        ("continual_cartpole/drqv2/seed1", f"{BALANCE},{SWINGUP}"),
        ("dmc_hopper_stand+dmc_hopper_hop/drqv2/seed1", "dmc/hopper_stand,dmc/hopper_hop"),
    ]


# --- training --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def continual_run(tmp_path_factory):
    """One tiny continual run (≈ 5 s), shared by the tests that read it."""
    path = tmp_path_factory.mktemp("continual") / "run"
    episodes = Episodes()
    trainer = Trainer(tiny(), path, callbacks=[episodes])
    assert trainer.train() == "finished"
    trainer.close()
    return path, episodes.seen


def test_the_switch_ends_the_episode_at_its_frame_and_the_next_starts_on_the_next_task(continual_run):
    path, seen = continual_run
    assert seen == [(1000, BALANCE, 1000), (1200, BALANCE, 200), (2200, SWINGUP, 1000), (2400, SWINGUP, 200)]
    train = rows(path / "train.csv")
    assert [(r["frame"], r["phase"]) for r in train] == [("1000", "0"), ("1200", "0"), ("2200", "1"), ("2400", "1")]
    assert [r["buffer_transitions"] for r in train] == ["500", "600", "1100", "1200"]  # one replay, kept
    events = [(r["frame"], r["event"], r["count"], r["detail"]) for r in rows(path / "events.csv")]
    assert events == [
        ("1200", "task_switch", "1", f"phase 1: {SWINGUP}"),
        ("2400", "task_switch", "2", f"phase 2: {BALANCE}"),
    ]


def test_evaluations_cover_the_current_task_and_the_earlier_ones(continual_run):
    path, _ = continual_run
    evals = rows(path / "eval.csv")
    assert list(evals[0]) == [
        "frame",
        "step",
        "episode",
        "episode_reward",
        "episode_length",
        "episode_reward_std",
        "phase",
        f"episode_reward@{BALANCE}",
        f"episode_reward@{SWINGUP}",
    ]
    assert [(r["frame"], r["phase"]) for r in evals] == [
        ("0", "0"),
        ("600", "0"),
        ("1200", "0"),
        ("1800", "1"),
        ("2400", "1"),
    ]
    for r in evals:
        current = BALANCE if r["phase"] == "0" else SWINGUP
        assert r[f"episode_reward@{current}"] == r["episode_reward"]
        assert (r[f"episode_reward@{SWINGUP}"] == "") == (r["phase"] == "0")  # not trained yet: not evaluated
        assert r[f"episode_reward@{BALANCE}"] != ""


def test_phase_zero_is_the_plain_run_of_the_first_task(continual_run, tmp_path):
    path, _ = continual_run
    plain = resolve({**{k: v for k, v in TINY.items() if k != "switch_every_frames"}, "task": BALANCE})
    Trainer(plain, tmp_path).train()
    assert list(rows(tmp_path / "eval.csv")[0]) == [
        "frame",
        "step",
        "episode",
        "episode_reward",
        "episode_length",
        "episode_reward_std",
    ]  # single-task columns unchanged
    assert "phase" not in rows(tmp_path / "train.csv")[0]

    def before_switch(name, last):  # at the switch frame the continual run has also counted its truncated episode
        return [
            {k: v for k, v in r.items() if k != "phase" and "@" not in k and (k, r["frame"]) != ("episode", "1200")}
            for r in rows(name)
            if int(r["frame"]) <= last
        ]

    for log, last in (("train.csv", 1000), ("eval.csv", 1200), ("diagnostics.csv", 1200)):
        assert before_switch(path / log, last) == before_switch(tmp_path / log, last), log


def test_a_run_resumed_mid_sequence_continues_on_the_right_task(continual_run, tmp_path):
    path, seen = continual_run
    episodes = Episodes()
    part = Trainer(tiny(), tmp_path, callbacks=[StopAt(1800)])
    assert part.train() == "interrupted"
    part.close()
    assert load_checkpoint(tmp_path)["counters"]["step"] == 900  # phase 1, 300 steps into its first episode
    resumed = load_trainer(tmp_path, tiny())
    resumed.callbacks.append(episodes)
    assert resumed.env.task == SWINGUP
    assert resumed.train() == "finished"
    resumed.close()
    assert episodes.seen == seen[2:]
    for log in ("train.csv", "eval.csv", "diagnostics.csv"):
        assert rows(tmp_path / log) == rows(path / log), log
    a, b = load_checkpoint(tmp_path), load_checkpoint(path)
    for key, value in a["agent"]["critic"].items():
        assert np.array_equal(value.numpy(), b["agent"]["critic"][key].numpy()), key


def test_dormant_eval_evaluates_the_checkpoint_on_its_current_task(continual_run):
    from dormant.training.evaluation import evaluate_checkpoint

    result = evaluate_checkpoint(continual_run[0], episodes=1)
    assert (result["task"], result["frame"]) == (SWINGUP, 2400)


def test_an_emptied_replay_starts_again_at_each_switch(tmp_path):
    trainer = Trainer(tiny(continual__replay="reset", continual__permute_obs=True), tmp_path)
    assert trainer.train() == "finished"
    trainer.close()
    train = rows(tmp_path / "train.csv")
    assert [r["buffer_transitions"] for r in train] == ["500", "600", "500", "600"]
    assert rows(tmp_path / "events.csv")[0]["detail"] == f"phase 1: {SWINGUP} (replay emptied)"


class Poles(Callback):
    """cos of the pole's angle (a cartpole state's second entry) in every worker's open episode one step
    (4 frames) into phase 1: hanging, as swingup starts it (balance starts it upright)."""

    every_frames = 1204

    def __init__(self):
        self.cos = []

    def on_frames(self, trainer):
        self.cos.append([float(ts.observation[1]) for ts in trainer._time_steps])


@pytest.mark.slow
def test_two_workers_switch_together(tmp_path):
    seen, poles = Episodes(), Poles()
    trainer = Trainer(tiny(env__workers=2), tmp_path, callbacks=[seen, poles])
    assert trainer.train() == "finished"
    ending = [float(ts.observation[1]) for ts in trainer._time_steps]  # phase 2 (balance) has begun
    trainer.close()
    # 1200 frames are 600 agent steps of both workers together: each is truncated after 300 steps (600 frames).
    assert seen.seen == [(1200, BALANCE, 600), (1200, BALANCE, 600), (2400, SWINGUP, 600), (2400, SWINGUP, 600)]
    assert len(poles.cos) == 1 and all(c < -0.9 for c in poles.cos[0])  # both workers swing up in phase 1
    assert all(c > 0.9 for c in ending)


# --- plots and reports ---------------------------------------------------------------------
def test_phases_and_switch_marks_come_from_the_saved_configuration():
    config = {
        "task": f"{BALANCE},{SWINGUP}",
        "frames": 5000,
        "continual": {"switch_every_frames": 2000, "permute_obs": True},
    }
    assert phases(config) == [
        (0, 2000, "cartpole_balance"),
        (2000, 4000, "cartpole_swingup (permutation 1)"),
        (4000, 5000, "cartpole_balance (permutation 2)"),
    ]
    assert phases({"task": BALANCE, "frames": 5000}) == []  # a run from before continual runs
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    drawn = mark_switches(ax, config)
    lines = [a for a in drawn if hasattr(a, "get_xdata")]
    assert [list(line.get_xdata()) for line in lines] == [[2000, 2000], [4000, 4000]]
    assert [a.get_text().strip() for a in drawn if hasattr(a, "get_text")] == [p[2] for p in phases(config)]
    assert len(mark_switches(ax, config, labels=False)) == 2
    plt.close(fig)


def test_the_learning_curve_marks_the_switches_on_every_panel(continual_run, monkeypatch, tmp_path):
    from dormant.experiments import plot

    calls = []

    def record(ax, config, *, labels=True):
        calls.append((config["continual"]["switch_every_frames"], labels))
        return mark_switches(ax, config, labels=labels)

    monkeypatch.setattr(plot, "mark_switches", record)
    plot.plot_run(continual_run[0], tmp_path / "curve.png")
    assert calls == [(1200, True), (1200, False)]  # the return panel (labelled), the dormant-ratio panel


def test_the_report_tables_every_phase(continual_run):
    from dormant.experiments.collect import collect, group_runs

    class Doc:
        def __init__(self):
            self.blocks = []

        def heading(self, level, text):
            self.blocks.append(("h", text))

        def text(self, text):
            self.blocks.append(("p", text))

        def table(self, header, rows):
            self.blocks.append(("table", header, rows))

    path, _ = continual_run
    grouped = group_runs(collect([path]))
    doc = Doc()
    write_continual_section(doc, grouped)
    assert doc.blocks[0] == ("h", "Continual scenarios")
    _, header, table = doc.blocks[-1]
    assert header == PHASE_HEADER
    evals = rows(path / "eval.csv")
    end_of_phase = [float(evals[2]["episode_reward"]), float(evals[4]["episode_reward"])]  # frames 1200, 2400
    assert [r[1:4] for r in table] == [["0", "cartpole_balance", "0–1200"], ["1", "cartpole_swingup", "1200–2400"]]
    assert [r[5] for r in table] == [f"{v:.1f} (1)" for v in end_of_phase]
    assert table[0][-1] == f"{float(evals[4][f'episode_reward@{BALANCE}']):.1f} (1)"  # balance, at the end
    assert phase_rows("x", [r for runs in grouped[f"{BALANCE},{SWINGUP}"].values() for r in runs])[0][0] == "x"
    empty = Doc()
    write_continual_section(empty, {BALANCE: {}})
    assert empty.blocks == []


def test_dormant_tasks_lists_the_named_scenarios():
    from dormant.envs import task_listing

    assert ("continual/walker", "continual: dmc/walker_stand → dmc/walker_walk → dmc/walker_run") in task_listing()


def test_dashboards_get_each_tasks_return_and_the_phase_once():
    from dormant.training.logger import scalars

    row = {
        "frame": 1800,
        "step": 900,
        "episode_reward": 12.0,
        "phase": 1,
        f"episode_reward@{BALANCE}": 300.0,
        f"episode_reward@{SWINGUP}": 12.0,
    }
    assert scalars("eval", row) == {
        "eval/episode_reward": 12.0,
        "eval/phase": 1,
        f"eval/episode_reward@{BALANCE}": 300.0,
        f"eval/episode_reward@{SWINGUP}": 12.0,
    }
    assert scalars("train", {"frame": 1, "phase": 1}) == {"train/phase": 1}
    assert scalars("diagnostics", {"frame": 1, "phase": 1, "critic_fau": 0.5}) == {"plasticity/critic/fau": 0.5}
