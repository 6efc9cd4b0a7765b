"""What ``agent=dqn`` and ``agent=drq_eps`` bring (applied after the task's preset, before
named presets and the user's overrides): ReDo's discrete-control settings (Sokar et al.,
ICML 2023, App. A), which build on Dopamine's DQN and DrQ(ε) configurations.

- DQN: Dopamine's ``jax/agents/dqn/configs/dqn.gin`` (ReDo's ``dqn_dense.gin`` includes it):
  Adam (lr 6.25e-5, ε 1.5e-4), batch 32, 1-step targets, Huber loss, one update per 4
  agent steps (replay ratio 0.25), a hard target copy every 8,000 agent steps (= 2,000
  updates at that ratio; counted in updates, the period scales with the replay ratio as
  ReDo's App. A says it does), ε = 1 for the first 20,000 agent steps then linearly to
  0.01 over 250,000, ε_eval 0.001.
- DrQ(ε): Dopamine's ``labs/atari_100k/configs/DrQ_eps.gin`` (ReDo's ``DrQ_eps_dense.gin``
  includes it): Adam (lr 1e-4, ε 1.5e-4), batch 32, 10-step targets, double DQN, one
  update per agent step, the target is the online network (period 1), ε = 1 for the first
  1,600 agent steps then linearly to 0.01 over 5,000; random shifts (pad 4) and intensity
  noise on obs and next obs; the dueling head (``JaxFullRainbowAgent.dueling = True``: ReDo's
  ``network='nature'`` for DrQ(ε) is its ``FullRainbowNetwork``, which is dueling).
- ReDo (both, when ``plasticity.redo`` is on): scored on a fresh replay sample of 256
  raw frames, the kernels' Adam moments zeroed (not the biases'), the target left alone.

The fully connected width (512, the Nature CNN's) is ``agent.hidden_dim``. Frame counts
(budget, seed frames) depend on the suite's action repeat, so they are the Atari suite's
preset, not these.
"""

from __future__ import annotations

from typing import Any

_COMMON: dict[str, Any] = {
    "agent.batch_size": 32,
    "agent.discount": 0.99,
    "agent.hidden_dim": 512,
    "dqn.adam_eps": 1.5e-4,
    "dqn.epsilon_train": 0.01,
    "dqn.epsilon_eval": 0.001,
    # Dopamine's replay samples the game being played too (jax/replay_memory)
    "replay.sample_open_episode": True,
}
# How ReDo's Dopamine agents recycle (labs/redo: recycled_dqn_agents.py, weight_recyclers.py):
# neurons are scored on a fresh replay sample of 256 transitions (batch_size_statistics) of
# raw frames (preprocess_fn, never the augmenting train_preprocess_fn); only the kernels'
# Adam moments are zeroed (the bias masks are None); the target network is left alone.
_REDO_DOPAMINE: dict[str, Any] = {
    "plasticity.redo_batch_size": 256,
    "plasticity.redo_batch_augment": False,
    "plasticity.redo_reset_bias_moments": False,
    "plasticity.redo_mirror_target": False,
}
DQN_PRESETS: dict[str, dict[str, Any]] = {
    "dqn": {
        **_COMMON,
        "agent.lr": 6.25e-5,
        "agent.nstep": 1,
        "agent.update_every_steps": 4,
        "agent.num_expl_steps": 20_000,
        "agent.augment": False,
        "dqn.epsilon_decay_steps": 250_000,
        "dqn.target_update_updates": 2_000,
        "dqn.loss": "huber",
        "dqn.double": False,
        "dqn.dueling": False,
        **_REDO_DOPAMINE,
    },
    "drq_eps": {
        **_COMMON,
        "agent.lr": 1e-4,
        "agent.nstep": 10,
        "agent.update_every_steps": 1,
        "agent.num_expl_steps": 1_600,
        "agent.augment": True,
        "dqn.epsilon_decay_steps": 5_000,
        "dqn.target_update_updates": 1,
        "dqn.loss": "huber",
        "dqn.double": True,
        "dqn.dueling": True,
        **_REDO_DOPAMINE,
    },
}
