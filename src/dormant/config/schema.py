"""The configuration schema: one typed dataclass per section, the named presets and the
limits that range checks use.

Field names carry their unit: ``frames`` are simulator steps, ``steps`` are agent
steps (one step = ``env.action_repeat`` frames), ``updates`` are gradient updates.
The comment after each field is its documentation: ``docs/configuration.md`` is
generated from it.

Length: the whole option tree, every field with its one-line documentation, is read (and
generated into docs/configuration.md) in one place.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import io
import textwrap
import tokenize
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml

from dormant.config.dqn_presets import DQN_PRESETS


@dataclass
class EnvConfig:
    obs: str = "pixels"  # "pixels" (84×84 renders) or "states" (proprioceptive vector)
    image_size: int = 84  # pixels per side
    frame_stack: int = 3  # frames concatenated along channels (states: 1)
    action_repeat: int = 2  # frames per agent step
    camera_id: int = 0  # DMC camera index
    camera: str = ""  # MetaWorld/Adroit camera name; empty: the suite's reference camera
    fast_render: bool = False  # no MSAA/shadows/reflections: for tests, NOT benchmark-faithful
    background: str = ""  # DMC pixels: a folder of videos/images played behind the agent, one clip per episode (DMC-GB video backgrounds); "": none
    background_floor: bool = False  # with env.background: replace the floor too (DMC-GB's video_hard); false: the sky only (video_easy)
    proprio: bool = False  # fuse the suite's proprioception into actor, critic and V (Adroit)
    reward_scale: float = 1.0  # MetaWorld/Adroit/gym: multiplies the suite's reward scale (Adroit's is already 1/20 … 1/100)
    reward_fix: bool = True  # Adroit: undo Gymnasium-Robotics 1.4.2's flipped hand-to-object term
    workers: int = 1  # training environments, each in its own process, stepped in parallel (1: one env in the training process); updates per transition are unchanged


@dataclass
class AgentConfig:
    name: str = "drqv2"  # `drqv2`, `drm`, `alix`, `taco` (pixels), `sac` (states) or `dqn`, `drq_eps` (discrete actions)
    lr: float = 1e-4  # Adam learning rate of every network
    weight_decay: float = 0.0  # L2 penalty in the Adam of every trained network (not RND's predictor, SAC's α, ALIX's S); ReDo's "WD" baseline: 1e-5
    feature_dim: int = 50  # width of the trunk's output (Linear → LayerNorm → Tanh)
    hidden_dim: int = 1024  # width of the hidden layers of actor, critic heads and V
    critic_target_tau: float = 0.01  # Polyak rate of the critic target, after every update
    update_every_steps: int = 2  # one update per this many agent steps
    num_expl_steps: int = 2000  # agent steps of uniform random actions
    stddev_schedule: str = "linear(1.0,0.1,500000)"  # durations in agent steps
    stddev_clip: float = 0.3  # clip of the exploration noise inside the updates
    batch_size: int = 256  # transitions per update (agent=taco brings 1024, the authors' DMC batch)
    nstep: int = 3  # n of the n-step return
    discount: float = 0.99  # γ
    critic_dropout: float = 0.0  # Dropout after each hidden Linear of Q1/Q2 (reference MetaWorld: 0.01)
    critic_layernorm: bool = False  # LayerNorm after each hidden Linear of Q1/Q2 (reference MetaWorld)
    intrinsic: str = "none"  # intrinsic reward added to the task's: none | rnd (random network distillation) | frame_diff (|first − last stacked frame|, standardised)
    intrinsic_weight: float = 1.0  # ρ in r = r_task + ρ·r_intrinsic (DrM's RND baseline: 1.0)
    augment: bool = True  # random shift of pixel observations (DrQ-v2's only augmentation); false: none
    augment_switch_frame: int = 0  # > 0: augmentation flips (on → off, or off → on) from this frame on; 0: never
    bf16: bool = False  # autocast the networks to bfloat16 (off until shown harmless)
    compile: bool = False  # torch.compile the networks (off until shown harmless)


@dataclass
class DrMConfig:
    """DrM (Xu et al., ICLR 2024); used only by ``agent=drm``. Switches give the paper's ablations."""

    dormant_tau: float = 0.025  # τ of DrM's dormant ratio β (actor, every nn.Linear)
    dormant_scoring: str = "post_activation"  # post_activation: a Linear feeding an activation is scored after it (DrM's code) | pre_activation: raw Linear outputs
    threshold: float = 0.2  # β̂
    perturb: bool = True  # dormant-ratio-guided shrink-and-perturb
    perturb_every_frames: int = 200_000  # period of DrM's perturbation
    perturb_rate: float = 2.0  # k in α = clip(1 − kβ, α_min, α_max)
    alpha_min: float = 0.2  # α_min in α = clip(1 − kβ, α_min, α_max)
    alpha_max: float = 0.9  # α_max in α = clip(1 − kβ, α_min, α_max) (0.6 on some tasks: see the task presets)
    fixed_alpha: float = -1.0  # ≥ 0: perturb with this α instead of α(β) (ablation)
    perturb_target: str = "fresh"  # fresh | initial (shrink towards initial parameters, App. J)
    perturb_scope: str = "linear"  # linear (reference: Linear layers only) | all (paper's text)
    awaken: bool = True  # awaken exploration; false: the plain agent.stddev_schedule
    awaken_after_exploration: bool = True  # awaken only at steps > agent.num_expl_steps (DMC/Adroit code; MetaWorld's has no such condition)
    awaken_temperature: float = 0.1  # T
    before_awaken: str = "dormant"  # dormant: σ(β) | max: σ = 1 until awake (App. H)
    exploit: bool = True  # dormant-ratio-guided exploitation (V net, λ-mixed target)
    lambda_max: float = 0.6  # λ̄
    exploit_temperature: float = 0.02  # T'
    fixed_lambda: float = -1.0  # ≥ 0: constant λ instead of λ(β) (ablation)
    expectile: float = 0.9  # expectile of V's regression towards min(Q1, Q2) (Adroit: 0.7)


@dataclass
class ALIXConfig:
    """ALIX (Cetin et al., ICML 2022); used only by ``agent=alix``. Defaults: the authors' DMC configuration."""

    max_shift: float = 2.0  # LIX resamples feature maps at a random offset within ±(max_shift + ½)·S pixels
    s_init: float = 0.5  # initial smoothing S, in [0, 1]
    nd_target: float = 0.535  # target of mean log(1 + ND), the last layer's gradient discontinuity
    nd_kernel: int = 3  # N: the N×N neighbourhood the discontinuity score compares (odd, ≥ 3)
    s_lr: float = 2e-3  # Adam learning rate of S
    s_beta1: float = 0.5  # Adam β1 of S (β2 = 0.999)
    fixed_batch: bool = True  # one random LIX offset per batch (the authors' setting); false: one per sample
    critic_head_gain: float = 2 ** 0.5  # orthogonal-init gain of the 3 Linears of each Q head (the authors' parallel critic: √2, the ReLU gain); 1: DrQ-v2's


@dataclass
class SACConfig:
    """SAC (Haarnoja et al. 2018, learned temperature); used only by ``agent=sac``. Defaults:
    TF-Agents' SacAgent as ReDo ran it (dopamine/labs/redo/tfagents); ``preset=sac-paper`` gives
    the SAC paper's (softlearning's) choices instead. The shared settings (lr, widths, τ, batch,
    exploration steps) come from ``agent.*`` and the sac preset."""

    reward_scale: float = 0.1  # r is multiplied by this in the critic's target only (logged rewards and returns stay the task's): ReDo's 0.1 (TF-Agents' reward_scale_factor); the SAC paper: 1
    target_entropy: str = "half"  # H̄ of the temperature loss: half (−|A|/2, TF-Agents' default, which ReDo ran), auto (−|A|, the SAC paper's) or a number
    init: str = "glorot_uniform"  # initialiser of every Linear (biases 0), also what ReDo and resets re-draw: glorot_uniform (Keras' default: TF-Agents, softlearning) | orthogonal (DrQ-v2's)
    clamp_log_std: bool = False  # clamp the actor's log σ to [log_std_min, log_std_max] before exp (softlearning); false: σ = exp(output), unclamped (TF-Agents' tanh-normal projection, ReDo)
    alpha_sample: str = "fresh"  # actions of the temperature loss: fresh (a new draw from the actor after its step: TF-Agents, ReDo) | actor (the actor loss's own draw: softlearning)
    init_temperature: float = 1.0  # α at the start (softlearning's and TF-Agents' initial log α = 0)
    learn_temperature: bool = True  # tune α towards the target entropy; false: α stays at init_temperature
    alpha_lr: float = 3e-4  # Adam learning rate of log α
    log_std_min: float = -20.0  # lower clamp of the policy's log σ, with clamp_log_std (softlearning's bounds)
    log_std_max: float = 2.0  # upper clamp of the policy's log σ, with clamp_log_std


@dataclass
class TACOConfig:
    """TACO (Zheng et al., NeurIPS 2023); used only by ``agent=taco``. Defaults: the authors' DMC configuration."""

    horizon: int = 3  # K: the contrastive loss pairs (z_t, a_t … a_{t+K−1}) with z_{t+K}
    latent_action_dim: int = 0  # width of one latent action; 0: the authors' ⌊1.25·action_dim⌋ + 1
    action_hidden_dim: int = 64  # hidden width of the action encoder (Linear → Tanh → Linear)
    taco_weight: float = 1.0  # weight of the temporal action-driven contrastive (InfoNCE) term
    curl_weight: float = 1.0  # weight of the CURL term (two shifts of the same frames); 0: off (the authors' curl=false)
    reward_weight: float = 1.0  # weight of the reward prediction term (it regresses the batch's n-step reward, as the authors' code does); 0: off (the authors' reward=false)


@dataclass
class DQNConfig:
    """DQN and DrQ(ε) (``agent=dqn``, ``agent=drq_eps``); each agent's preset sets ReDo's values (config/dqn_presets.py)."""

    epsilon_train: float = 0.01  # ε after its decay (ε-greedy acting while training)
    epsilon_eval: float = 0.001  # ε of the evaluation episodes
    epsilon_decay_steps: int = 250_000  # agent steps of the linear decay 1 → epsilon_train, after agent.num_expl_steps at ε = 1
    target_update_updates: int = 2_000  # the target network copies the online one every this many updates (1: no lag)
    loss: str = "huber"  # on the TD error: huber (δ = 1, Dopamine's) | mse
    double: bool = False  # double DQN: the online network picks the next action, the target network values it
    adam_eps: float = 1.5e-4  # Adam's ε
    reward_clip: float = 1.0  # each agent step's reward clipped to [−c, c] in the TD target (logged scores stay raw); 0: off
    dueling: bool = False  # dueling head: Q = V + A − mean A, both from the last hidden layer (Dopamine's DrQ(ε))
    intensity: float = 0.05  # drq_eps: intensity noise x·(1 + s·clip(N(0, 1), −2, 2)) after the random shift; 0: shift only


@dataclass
class AtariConfig:
    """The Atari suite (``task=atari/<Game>``); its preset sets each agent's protocol (envs/atari/ale.py)."""

    sticky_actions: float = 0.25  # probability the emulator repeats the previous action at each frame (Machado et al. 2018; Atari-100k: 0)
    noop_max: int = 0  # > 0: each episode starts with U{noop_min, …, noop_max} no-op frames (Dopamine's DQN runner: 0; the drq_eps preset: 29, its Atari-100k runner's U{0, …, 29})
    noop_min: int = 1  # fewest no-op frames at an episode's start when noop_max > 0 (the drq_eps preset: 0)
    terminal_on_life_loss: bool = False  # training: a lost life ends bootstrapping (discount 0) while the game goes on; evaluation never
    max_episode_frames: int = 108_000  # episode cap in frames, a time limit (discount 1); the dqn/drq_eps presets set Dopamine's ALE cap, 100,000
    zero_stack: bool = False  # frame stacks start from zero frames (not the first frame repeated) at an episode's start and, with terminal_on_life_loss, at a lost life, in the env and in replay (Dopamine's agent state; set by the dqn/drq_eps presets)
    dopamine_screens: bool = False  # a terminal (game over, or a lost life with terminal_on_life_loss) ends the action repeat at once and the frame is pooled from Dopamine's two screen buffers (its AtariPreprocessing; set by the dqn/drq_eps presets; ale backend only)
    full_action_space: bool = False  # all 18 joystick actions instead of the game's minimal set
    backend: str = "ale"  # ale: ale-py through Gymnasium (exact resume); envpool: EnvPool's C++ engine, same preprocessing and frames (docs/suites.md#atari-backends)


@dataclass
class PlasticityConfig:
    """Replay ratio (static, or adaptive as Ma et al. 2024) and the plasticity interventions, for any agent."""

    replay_ratio: str = "auto"  # updates per agent step: auto (1/agent.update_every_steps), 0.25, 1/4, 2 … or adaptive
    rr_low: float = 0.5  # adaptive: the ratio until the critic's FAU settles
    rr_high: float = 2.0  # adaptive: the ratio after the switch
    rr_check_every_episodes: int = 50  # adaptive: compare mean critic FAU this often
    rr_fau_tolerance: float = 0.001  # adaptive: switch once |ΔFAU| ≤ this
    redo: bool = False  # ReDo: recycle τ-dormant neurons periodically
    redo_every_updates: int = 1000  # ReDo's period
    redo_tau: float = 0.1  # ReDo's recycling threshold τ (score ÷ layer mean ≤ τ)
    redo_nets: str = "critic"  # comma-separated: critic, actor, encoder (pixels), value (drm), taco (taco's projection heads)
    redo_reset_step: bool = False  # also restart Adam's step count of the touched tensors
    redo_at_frames: str = ""  # one-shot ReDo at these frames (comma-separated, e.g. 100000,500000), whatever plasticity.redo says
    redo_batch_size: int = 0  # ReDo scores neurons on a fresh replay sample of this many transitions; 0: on the update's own batch
    redo_batch_augment: bool = False  # augment that sample as the update does (dqn, drq_eps only); false: raw frames, as ReDo's code
    redo_reset_bias_moments: bool = True  # also zero the Adam moments of recycled neurons' biases (ReDo's Dopamine code: no)
    redo_mirror_target: bool = True  # repeat each recycling in the target networks (ReDo's SAC code: yes; its Dopamine DQN: no)
    reset_every_frames: int = 0  # periodic re-initialisation (Nikishin et al. 2022); 0: off
    reset_at_frames: str = ""  # one-shot resets at these frames (comma-separated)
    reset_scope: str = "heads"  # heads: the MLPs after the trunks | all: every network, encoder included
    reset_nets: str = ""  # comma-separated networks resets touch (encoder, actor, critic, value, taco); empty: all
    shrink_perturb_every_frames: int = 0  # periodic θ ← αθ + (1−α)φ (Ash & Adams 2020); 0: off
    shrink_perturb_at_frames: str = ""  # one-shot shrink-and-perturb at these frames (comma-separated)
    shrink_perturb_nets: str = ""  # comma-separated networks shrink-and-perturb touches; empty: all (as the scope says)
    shrink_perturb_alpha: float = 0.8  # α in θ ← αθ + (1−α)φ
    shrink_perturb_scope: str = "all"  # all: every parameter, encoder included | linear: Linear layers
    layernorm: str = ""  # comma-separated networks (encoder, actor, critic, value) given a LayerNorm before each hidden activation (Lyle et al. 2024; conv maps: GroupNorm(1, C), over C, H, W); critic: as agent.critic_layernorm
    crelu: str = ""  # networks whose hidden activations are CReLU, [relu(x), relu(−x)] (Abbas et al. 2023): encoder, actor, critic, value
    fourier: str = ""  # networks whose hidden activations are deep Fourier features, [sin x, cos x] (Lewandowski et al. 2024): encoder, actor, critic, value
    concat_width: str = "half"  # crelu/fourier layers: half (width/2 units, width features: every layer's input keeps its size, ≈ the ReLU network's parameters) | full (width units, 2·width features: Plasticine's)
    nap: str = ""  # Normalize-and-Project (Lyle et al. 2024) on these networks: LayerNorm as `layernorm`, and every Linear/conv weight rescaled to its initial norm after each optimiser step
    l2_init: float = 0.0  # L2 Init, regenerative regularisation (Kumar et al. 2023): λ of λ‖θ − θ₀‖² in the loss of l2_init_nets (θ₀: the initial parameters); 0: off
    l2_init_nets: str = ""  # networks L2 Init regularises; empty: every trained network
    parseval: float = 0.0  # Parseval regularisation (Chung et al. 2024): λ of λ Σ‖WWᵀ − sI‖² over the hidden Linear layers of parseval_nets; 0: off
    parseval_s: float = 1.0  # s of ‖WWᵀ − sI‖² (1: the squared gain of DrQ-v2's orthogonal Linears, where the penalty starts at 0 for square or wide layers)
    parseval_nets: str = ""  # networks Parseval regularises; empty: every network with a hidden Linear
    optimizer: str = "adam"  # adam | trac (TRAC around every optimiser of the agent, Muppidi et al. 2024) | kron (PSGD Kron, the kron-torch package: pip install kron-torch)
    inject_at_frame: int = 0  # plasticity injection (Nikishin et al. 2023) at this frame: each head of inject_nets frozen, a fresh head added and its frozen copy subtracted; 0: never
    inject_nets: str = ""  # networks whose heads injection replaces (actor, critic, value, taco); empty: all of them the agent has


@dataclass
class ContinualConfig:
    """Continual scenarios (docs/plasticity.md#continual-scenarios): a task sequence (``task=suite/a,suite/b``
    or ``task=continual/<name>``) and/or permuted observations, a new phase every ``switch_every_frames``."""

    switch_every_frames: int = 0  # frames per phase: phase k trains on task k mod K (the list starts again when frames allow); a multiple of env.action_repeat × env.workers; 0: no switches (one task)
    replay: str = "keep"  # at a switch: keep (one replay across tasks) | reset (an empty replay for each phase)
    permute_obs: bool = False  # phases ≥ 1 see their observation through a fixed random permutation (state entries; colour channels of pixels), drawn from the seed and the phase


@dataclass
class ReplayConfig:
    capacity: int = 1_000_000  # transitions (FIFO, whole episodes evicted)
    sample_open_episode: bool = False  # also sample the episode being played: dqn/drq_eps as Dopamine's replay (its transitions whose n-step window is stored, less the newest), other agents as ALIX's buffer (uniform over transitions whose whole n-step window is stored); set by the dqn, drq_eps and alix presets
    device: str = "host"  # where stored steps live: host (numpy in RAM) | agent (torch tensors on the agent's device: frames gathered and stacked there, batches already on it; the same batches)


@dataclass
class EvalConfig:
    every_frames: int = 10_000  # period of the evaluation
    episodes: int = 10  # episodes per evaluation (0: none)
    video: bool = False  # write an mp4 of the first evaluation episode


@dataclass
class LogConfig:
    tensorboard: bool = True  # also write TensorBoard events (`tb/`)
    progress: bool = True  # progress bar with frames/s and ETA (a plain line when output is not a terminal)
    progress_every_s: float = 30.0  # seconds between plain progress lines (output not a terminal)
    diagnostics_every_updates: int = 1000  # per-layer dormant ratios, FAU, srank, weight/feature/gradient norms of every network; 0: off
    redo_tau: float = 0.025  # τ of the ReDo-kind dormant ratio in diagnostics (measuring, not recycling)
    redo_taus_extra: str = "0,0.1"  # more τ for the whole-network ReDo-kind ratio (`<net>_redo_dormant_ratio_tau<τ>`); 0: exactly dead neurons; empty: none
    wandb: bool = False  # also log to Weights & Biases (needs the `wandb` extra: pip install -e '.[wandb]')
    wandb_project: str = "dormant"  # W&B project the run is logged to
    wandb_mode: str = "offline"  # offline: files in the run directory (upload later with `wandb sync`) | online | disabled


@dataclass
class Config:
    task: str = "dmc/cartpole_swingup"  # `suite/task`, or `gym:` and a Gymnasium id; `dormant tasks` lists them; a continual sequence: `suite/a,suite/b` or `continual/<name>` (with continual.switch_every_frames)
    preset: str = ""  # a named bundle of overrides (see PRESETS), applied after the task's
    frames: int = 1_100_000  # training budget in simulator frames
    seed: int = 1  # seeds torch, the replay's sampling and both environments (train and eval, as DrQ-v2's code)
    out: str = ""  # run directory; empty → runs/<task>-<agent>-s<seed>
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # torch CPU threads of the run; 0: the default, 1 (measured fastest, or within 6 % of it, idle and beside other work: docs/benchmarks.md#threads-per-run)
    num_seed_frames: int = 4000  # frames before the first update
    checkpoint_every_frames: int = 100_000  # plus at the end, on Ctrl-C and on errors
    env: EnvConfig = field(default_factory=EnvConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    log: LogConfig = field(default_factory=LogConfig)
    drm: DrMConfig = field(default_factory=DrMConfig)
    alix: ALIXConfig = field(default_factory=ALIXConfig)
    sac: SACConfig = field(default_factory=SACConfig)
    taco: TACOConfig = field(default_factory=TACOConfig)
    dqn: DQNConfig = field(default_factory=DQNConfig)
    atari: AtariConfig = field(default_factory=AtariConfig)
    plasticity: PlasticityConfig = field(default_factory=PlasticityConfig)
    continual: ContinualConfig = field(default_factory=ContinualConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


AGENTS = ("drqv2", "drm", "alix", "taco", "sac", "dqn", "drq_eps")
# Agents with discrete actions (a Discrete action space: Atari, gym:CartPole-v1 …); the rest act in [−1, 1]^d.
DISCRETE_AGENTS = ("dqn", "drq_eps")
# Option sections that belong to one agent: refused for the others, applied only to that
# agent's runs in a mixed sweep.
AGENT_SECTIONS = {"drm": "drm", "alix": "alix", "taco": "taco", "sac": "sac", "dqn": "dqn"}
# Agents built on another's section, which take its options too (DrQ(ε) is DQN plus random shifts).
AGENT_FAMILY = {"drq_eps": "dqn"}
# Overrides an agent brings (after the task preset, before named presets and the user's).
AGENT_PRESETS: dict[str, dict[str, Any]] = {
    # ALIX replaces random shifts by its learned feature smoothing; its replay (np_replay_buffer.py)
    # draws uniformly over stored transitions, the running episode's included.
    "alix": {"agent.augment": False, "replay.sample_open_episode": True},
    "taco": {"agent.batch_size": 1024},  # the authors' DMC batch (cfgs/agent/taco.yaml); DrQ-v2's is 256
    # SAC v2 (Haarnoja et al. 2018, App. D) as ReDo's Table 4 and its train_eval (dopamine
    # labs/redo/tfagents/sac_train_eval.py) run it on MuJoCo: Adam 3e-4 for actor, critic and α,
    # batch 256, two hidden layers of 256, τ = 0.005 every update, γ = 0.99, one update per
    # environment step (no action repeat), one-step targets, 10,000 initial random steps before
    # the first update. The sac.* defaults are TF-Agents' (reward scale 0.1, H̄ = −|A|/2, …).
    "sac": {"agent.lr": 3e-4, "agent.hidden_dim": 256, "agent.batch_size": 256, "agent.critic_target_tau": 0.005,
            "agent.discount": 0.99, "agent.update_every_steps": 1, "agent.nstep": 1, "env.action_repeat": 1,
            "agent.num_expl_steps": 10_000, "num_seed_frames": 10_000,
            # ReDo's SAC recycler (labs/redo/tfagents) leaves the target critics alone and keeps the biases' Adam moments
            "plasticity.redo_mirror_target": False, "plasticity.redo_reset_bias_moments": False},
    **DQN_PRESETS,  # ReDo's Dopamine settings for dqn and drq_eps (config/dqn_presets.py)
}
MAX_SEED = 2**32 - 1
MIN_IMAGE_SIZE = 15  # the encoder's output side, (n − 3) // 2 + 1 − 6, must be ≥ 1
MAX_IMAGE_SIZE = 512
MAX_FRAME_STACK = 16
MAX_ACTION_REPEAT = 100
MAX_WORKERS = 256  # env.workers: processes, not threads; beyond the cores they only add memory
OBS_KINDS = ("pixels", "states")
# Short top-level spellings accepted on the command line.
SHORTHANDS = {"agent": "agent.name", "obs": "env.obs", "replay_ratio": "plasticity.replay_ratio",
              "switch_every_frames": "continual.switch_every_frames"}
REDO_NETS = ("critic", "actor", "encoder", "value", "taco")
# Networks whose layers the architecture options (plasticity.layernorm, crelu, fourier, nap) rebuild.
ARCH_NETS = ("encoder", "actor", "critic", "value")
# Networks only one agent has: naming them for another agent is refused.
NET_OWNERS = {"value": "drm", "taco": "taco"}
# Presets applied when observations are states (after the task's, before the user's).
STATE_PRESET: dict[str, Any] = {"env.frame_stack": 1}
# Named presets (`preset=NAME`), applied after the task preset and before the user's
# overrides. They reproduce code paths of the reference repositories that differ from
# the paper and from our defaults; each entry says why it is not the default.
PRESETS: dict[str, dict[str, Any]] = {
    # SAC as its paper (Haarnoja et al. 2018, arXiv 1812.05905, App. D) and its reference code
    # (softlearning) run it, where the default agent=sac is TF-Agents' SacAgent as ReDo ran it:
    # rewards unscaled, target entropy −|A|, log σ clamped to [−20, 2] before exp, and the
    # temperature's loss on the actor loss's own draw. Both initialise with Glorot-uniform
    # (Keras' default) and share the agent.* settings of the sac agent preset.
    "sac-paper": {
        "sac.reward_scale": 1.0, "sac.target_entropy": "auto", "sac.clamp_log_std": True,
        "sac.alpha_sample": "actor",
    },
    # The DrM reference's MetaWorld trainer (train_mw.py + agents/drm_mw.py): its
    # buffer is built with n-step ⌊3 + 7⌋ = 10 and γ = 0.997 − 0.02 − 0.007 = 0.97 (the
    # schedules that would change them are never called), λ is the constant 0.5, α_max
    # 0.95, Q1/Q2 have Dropout(0.01) + LayerNorm after each hidden Linear, and the agent
    # awakens the first time β < β̂ whatever the step. The paper
    # describes none of this, so it is a preset, not the MetaWorld default.
    "drm-reference-metaworld": {
        "agent.nstep": 10, "agent.discount": 0.97, "agent.critic_dropout": 0.01,
        "agent.critic_layernorm": True, "drm.fixed_lambda": 0.5, "drm.alpha_max": 0.95,
        "drm.awaken_after_exploration": False,  # drm_mw.py awakens on β alone, with no step condition
    },
}


def field_docs(cls: type) -> dict[str, str]:
    """Each field's trailing ``# comment`` in its dataclass's source, by field name: the
    option's documentation (``dormant train --help`` and docs/configuration.md show it)."""
    source = textwrap.dedent(inspect.getsource(cls))
    comments = {tok.start[0]: tok.string.lstrip("#").strip()
                for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.COMMENT}
    classdef = next(node for node in ast.parse(source).body if isinstance(node, ast.ClassDef))
    return {node.target.id: comments[node.end_lineno] for node in classdef.body
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.end_lineno in comments}


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """A dataclass's resolved annotations (resolving them is slow; set_field asks for every option)."""
    return typing.get_type_hints(cls)


def field_paths(node: Any = None, prefix: str = "") -> dict[str, type]:
    """Every settable dotted key and its type (a fresh dict; the layout is computed once per class)."""
    cls: type = Config if node is None else type(node)  # plain `type`: mypy takes a dataclass for unhashable
    return {f"{prefix}{key}": kind for key, kind in _paths_of(cls)}


@functools.cache
def _paths_of(cls: type) -> tuple[tuple[str, type], ...]:
    """The dotted keys of a dataclass, sections (fields whose type is a dataclass) opened.
    Cached: every ``set_field`` needs them, and a big sweep resolves thousands of configs."""
    hints = _type_hints(cls)
    paths: list[tuple[str, type]] = []
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            paths.extend((f"{f.name}.{key}", sub) for key, sub in _paths_of(kind))
        else:
            paths.append((f.name, kind))
    return tuple(paths)


def redo_nets(cfg: Config) -> list[str]:
    return net_list(cfg.plasticity.redo_nets)


def net_architectures(cfg: Config) -> dict[str, dict[str, Any]]:
    """Per network named by an architecture option: its ``nets.NetArch`` fields (activation,
    layernorm, concat_width); networks not named keep DrQ-v2's layers."""
    p = cfg.plasticity
    crelu, fourier = net_list(p.crelu), net_list(p.fourier)
    normed = set(net_list(p.layernorm)) | set(net_list(p.nap))
    return {net: {"activation": "crelu" if net in crelu else "fourier" if net in fourier else "relu",
                  "layernorm": net in normed, "concat_width": p.concat_width}
            for net in ARCH_NETS if net in set(crelu) | set(fourier) | normed}


def diagnostics_taus(cfg: Config) -> dict[str, Any]:
    """The τ keywords of ``agent_diagnostics``: ``log.redo_tau`` and the ``log.redo_taus_extra`` list."""
    return {"redo_tau": cfg.log.redo_tau,
            "extra_redo_taus": [float(t) for t in cfg.log.redo_taus_extra.split(",") if t.strip()]}


def net_list(text: str) -> list[str]:
    """``"critic, actor"`` or ``"[critic,actor]"`` → ``["critic", "actor"]`` (empty → [])."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return [name.strip() for name in text.split(",") if name.strip()]


def frame_list(text: str) -> list[int]:
    """``"100000,5e5"`` → ``[100000, 500000]`` (ValueError on anything else)."""
    frames = []
    for item in (part.strip() for part in text.split(",") if part.strip()):
        value = float(item.replace("_", ""))
        if not value.is_integer() or value <= 0:
            raise ValueError(f"{item!r} is not a positive whole number of frames")
        frames.append(int(value))
    return frames


# Options added after runs had been saved without them, whose default changed what such a
# run did: a saved config that lacks the key ran with this value, not today's default.
LEGACY_VALUES: dict[str, Any] = {
    # agent=sac before it followed TF-Agents as ReDo ran it (a resumed run keeps its behaviour;
    # its critic loss is now ½·Σ mean (Q − y)², which Adam's step hardly sees)
    "sac.reward_scale": 1.0, "sac.init": "orthogonal", "sac.clamp_log_std": True, "sac.alpha_sample": "actor",
    "drm.dormant_scoring": "pre_activation",  # β scored every Linear on its raw output before this option
    "log.redo_taus_extra": "",  # diagnostics.csv had no τ = 0 / 0.1 columns before: a resumed run keeps its columns
}

