"""DQN (Mnih et al. 2015) as ReDo runs it (Dopamine's JAX DQN), and DrQ(ε) (Kostrikov et al.
2021; Agarwal et al. 2021): DQN with random shifts and intensity noise on both observations.

- Acting: ε-greedy. ε = 1 for the first ``agent.num_expl_steps`` agent steps, then linear
  to ``dqn.epsilon_train`` over ``dqn.epsilon_decay_steps`` (Dopamine's
  ``linearly_decaying_epsilon``); evaluation uses ``dqn.epsilon_eval``. An action is one
  float holding the index (what the trainer, the env and replay pass around).
- Learning: ``y = r_n + γ_n · Q̄(s', a*)`` from replay's n-step sums (``γ_n`` is 0 past a
  terminal), ``a* = argmax Q̄(s')`` (``dqn.double``: ``argmax Q(s')``), Huber (δ = 1) or
  squared error on ``Q(s, a) − y``, averaged over the batch; Adam with ``dqn.adam_eps``.
  The target ``Q̄`` is a copy of the online network taken every ``dqn.target_update_updates``
  updates (1: the online network itself).
- The network (``critic``, so that every plasticity tool addresses it unchanged): pixels,
  the Nature CNN (32 8×8/4, 64 4×4/2, 64 3×3/1 with flax's ``SAME`` padding as Dopamine's,
  so 84×84 flattens to 11·11·64 = 7,744, then ``agent.hidden_dim`` = 512 units) on frames
  scaled to [0, 1]; states, an MLP with two hidden layers of ``agent.hidden_dim``.
  ``dqn.dueling``: value and advantage streams on the last hidden layer (DrQ(ε)'s).
  Its convolutions are the child ``trunk`` (what resets with ``reset_scope=heads`` keep),
  the fully connected part ``head``. Xavier-uniform weights and zero biases, as Dopamine's
  JAX networks. ReDo recycles every hidden layer, convolutions included, as in ReDo.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dormant.agents.module_agent import ModuleAgent
from dormant.nets import PLAIN, NetArch, conv_block, random_shift
from dormant.plasticity.activations import hidden_units, make_activation
from dormant.plasticity.metrics import ActiveUnitCounter

SHIFT_PAD = 4  # DrQ(ε)'s replicate padding before the random crop


def xavier_init(module: nn.Module) -> None:
    """Dopamine's initialiser for its JAX DQN networks: Xavier-uniform weights, zero biases."""
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Flax's (XLA's) ``SAME`` padding along one axis: the output has ``ceil(size / stride)``
    positions and the padding, when odd, puts its extra pixel after the input (bottom/right)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with flax's default ``SAME`` padding (asymmetric where the total is odd,
    which ``nn.Conv2d(padding='same')`` cannot do with a stride). The padding is applied
    inside ``forward``, so the module still reads the ReLU's output (ReDo's tracing)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        return super().forward(F.pad(x, (left, right, top, bottom)))


class QNetwork(nn.Module):
    """Q-values of every action: Nature CNN + MLP for pixels, an MLP for states.

    ``dueling``: the last hidden layer feeds two output layers, ``advantage`` (|A|) and
    ``value`` (1), and ``Q = V + A − mean_a A`` (Dopamine's ``FullRainbowNetwork`` with
    ``dueling=True`` and one atom, the network of ReDo's DrQ(ε)).
    """

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        num_actions: int,
        hidden_dim: int,
        *,
        pixels: bool,
        dueling: bool = False,
        arch: NetArch = PLAIN,
    ):
        super().__init__()
        self.pixels = pixels
        self.dueling = dueling
        if pixels:
            layers, channels = [], obs_shape[0]
            for width, kernel, stride in ((32, 8, 4), (64, 4, 2), (64, 3, 1)):
                block, channels = conv_block(channels, width, kernel, stride, arch, conv=SameConv2d, inplace=False)
                layers.extend(block)
            self.trunk: nn.Module = nn.Sequential(*layers, nn.Flatten())
            with torch.no_grad():
                width = self.trunk(torch.zeros(1, *obs_shape)).shape[1]
            fan_ins = [width]
        else:
            self.trunk = nn.Flatten()
            fan_ins = [int(np.prod(obs_shape)), 0]
        units, features = hidden_units(arch.activation, hidden_dim, arch.concat_width)
        hidden: list[nn.Module] = []
        for fan_in in fan_ins:  # 0: the previous hidden layer's features
            hidden.append(nn.Linear(fan_in or features, units))
            if arch.layernorm:
                hidden.append(nn.LayerNorm(units))
            hidden.append(make_activation(arch.activation, inplace=False))
        if dueling:
            self.head = nn.Sequential(*hidden)
            self.advantage = nn.Sequential(nn.Linear(features, num_actions))
            self.value = nn.Sequential(nn.Linear(features, 1))
        else:
            self.head = nn.Sequential(*hidden, nn.Linear(features, num_actions))
        self.apply(xavier_init)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.float()
        if self.pixels:
            x = x / 255.0
        x = self.head(self.trunk(x))
        if not self.dueling:
            return x
        advantage = self.advantage(x)
        return self.value(x) + (advantage - advantage.mean(dim=1, keepdim=True))


def epsilon_at(step: int, *, warmup: int, decay: int, final: float) -> float:
    """Dopamine's linearly decaying ε: 1 until ``warmup``, then linear to ``final`` over ``decay`` steps."""
    left = decay + warmup - step
    return final + float(np.clip((1.0 - final) * left / decay, 0.0, 1.0 - final))


def td_errors_loss(q: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean Huber (δ = 1) or squared TD error."""
    if kind == "huber":
        return F.huber_loss(q, target, delta=1.0)
    return F.mse_loss(q, target)


def intensity_noise(x: torch.Tensor, scale: float) -> torch.Tensor:
    """DrQ(ε)'s intensity augmentation (Dopamine's, after Schwarzer et al. 2021): one factor
    ``1 + scale · clip(N(0, 1), −2, 2)`` per image."""
    noise = torch.randn(x.shape[0], *([1] * (x.dim() - 1)), device=x.device).clamp_(-2.0, 2.0)
    return x * (1.0 + scale * noise)


class DQNAgent(ModuleAgent):
    METRICS = ("critic_loss", "critic_q", "critic_target_q", "batch_reward", "epsilon", "critic_fau")
    METRICS_LAST: frozenset[str] = frozenset({"epsilon"})
    dormant_tau: float = 0.025  # τ of the DrM-kind dormant ratio the diagnostics report
    dormant_scoring: str = "post_activation"
    init_fn = staticmethod(xavier_init)
    proprio_dim = 0
    replay_horizon = 0  # no K-step extras from the replay (TACO's)
    augments = False  # DrQ(ε): random shift (+ intensity) of obs and next obs in every update

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        num_actions: int,
        cfg: Any,
        dqn: Any,
        *,
        pixels: bool,
        device: torch.device,
        arch: dict[str, NetArch] | None = None,
    ):
        if num_actions < 1:
            raise ValueError("DQN needs a Discrete action space (num_actions ≥ 1)")
        self.cfg, self.dqn = cfg, dqn
        self.device = device
        self.pixels = pixels
        self.num_actions = num_actions
        self.critic = QNetwork(
            obs_shape,
            num_actions,
            cfg.hidden_dim,
            pixels=pixels,
            dueling=dqn.dueling,
            arch=(arch or {}).get("critic", PLAIN),
        ).to(device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr, eps=dqn.adam_eps)
        self.encoder = nn.Identity()  # the convolutions are the critic's trunk (see the module docstring)
        self.updates = 0  # gradient updates so far (the target copy's clock)
        # Evaluation's ε draws come from their own generator, so evaluating never shifts the
        # training run's random stream (the trainer's RNG, checkpointed with the run).
        self._eval_rng = torch.Generator().manual_seed(int(torch.randint(2**31 - 1, ()).item()))
        self._units = ActiveUnitCounter(self.critic)

    # --- acting ----------------------------------------------------------
    def epsilon(self, step: int) -> float:
        return epsilon_at(
            step, warmup=self.cfg.num_expl_steps, decay=self.dqn.epsilon_decay_steps, final=self.dqn.epsilon_train
        )

    @torch.no_grad()
    def act(self, obs: np.ndarray, step: int, eval_mode: bool, proprio: np.ndarray | None = None) -> np.ndarray:
        epsilon = self.dqn.epsilon_eval if eval_mode else self.epsilon(step)
        rng = self._eval_rng if eval_mode else None
        if epsilon > 0 and torch.rand((), generator=rng).item() < epsilon:
            return np.array([torch.randint(self.num_actions, (), generator=rng).item()], np.float32)
        q = self.critic(torch.as_tensor(obs, device=self.device).unsqueeze(0))
        return np.array([q.argmax(dim=1).item()], np.float32)

    # --- learning --------------------------------------------------------
    def augment(self, obs: torch.Tensor) -> torch.Tensor:
        """DrQ(ε)'s augmentation of a batch of frames: a random shift (replicate-pad 4, per
        image, offsets 0 … 7 as Dopamine's crop) then intensity noise; the identity for DQN
        and for states."""
        if not (self.augments and self.cfg.augment and self.pixels):
            return obs
        # Dopamine's crop draws each offset from randint(0, 2·pad): 0 … 7 for pad 4, so the
        # image moves by −4 … +3 pixels (DrQ-v2's draws 0 … 8).
        shifted = random_shift(obs, SHIFT_PAD, torch.randint(0, 2 * SHIFT_PAD, (obs.shape[0], 2), device=obs.device))
        return intensity_noise(shifted.float(), self.dqn.intensity) if self.dqn.intensity else shifted

    @torch.no_grad()
    def td_target(self, batch: dict[str, torch.Tensor], next_obs: torch.Tensor) -> torch.Tensor:
        """``r_n + γ_n · Q̄(s', a*)`` with ``a*`` from Q̄ (or from Q for double DQN)."""
        target_net = self.critic if self.dqn.target_update_updates == 1 else self.critic_target
        next_q = target_net(next_obs)
        chooser = self.critic(next_obs) if self.dqn.double and target_net is not self.critic else next_q
        best = chooser.argmax(dim=1, keepdim=True)
        return batch["reward"] + batch["discount"] * next_q.gather(1, best)

    def td_loss(self, batch: dict[str, torch.Tensor], augment: bool = False) -> torch.Tensor:
        """The TD loss on a batch (diagnostics use it un-augmented, for the gradient norm)."""
        obs, next_obs = (
            (self.augment(batch["obs"]), self.augment(batch["next_obs"]))
            if augment
            else (batch["obs"], batch["next_obs"])
        )
        target = self.td_target(batch, next_obs)  # first, so a probe sees the obs pass last
        q = self.critic(obs).gather(1, batch["action"].long())
        return td_errors_loss(q, target, self.dqn.loss)

    def update(self, batch: dict[str, torch.Tensor], step: int) -> torch.Tensor:
        """One gradient update; returns the ``METRICS`` as one device vector.

        The target copy due after every ``dqn.target_update_updates``-th update is taken at the
        start of the next update, so that what runs between two updates (ReDo) reaches the
        copy, as in Dopamine, whose agent syncs after the update and the recycling."""
        period = self.dqn.target_update_updates
        if period > 1 and self.updates and self.updates % period == 0:
            self.sync_target()
        obs, next_obs = self.augment(batch["obs"]), self.augment(batch["next_obs"])
        target = self.td_target(batch, next_obs)
        with self._units:
            q_all = self.critic(obs)
        q = q_all.gather(1, batch["action"].long())
        loss = td_errors_loss(q, target, self.dqn.loss)
        self.critic_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.critic_opt.step()
        self.updates += 1
        values = [
            loss.detach(),
            q.detach().mean(),
            target.mean(),
            batch["reward"].mean(),
            torch.full((), self.epsilon(step), device=self.device),
            self._units.fraction(),
        ]
        return torch.stack([v.float().reshape(()) for v in values])

    @torch.no_grad()
    def sync_target(self) -> None:
        torch._foreach_copy_(list(self.critic_target.parameters()), list(self.critic.parameters()))

    # --- what the plasticity tools need -----------------------------------
    def probe_features(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The network's input: the un-augmented frames (or states) as floats."""
        return batch["obs"].float()

    def probe_inputs(self, h: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, tuple]:
        return {"critic": (h,)}

    def actor_dormant(self, h: torch.Tensor) -> tuple[torch.Tensor, list[str], torch.Tensor, list[int]]:
        raise NotImplementedError("a value-based agent has no actor (and no β)")

    def networks(self) -> dict[str, nn.Module]:
        return {"critic": self.critic}

    def target_networks(self) -> dict[str, nn.Module]:
        """The target follows the critic between copies: ReDo's recycling is mirrored into it,
        so a recycled neuron's zeroed outgoing weights are zero in the target too."""
        return {"critic": self.critic_target}

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.critic_opt]

    # --- checkpoints -----------------------------------------------------
    def _modules(self) -> dict[str, Any]:
        return {"critic": self.critic, "critic_target": self.critic_target, "critic_opt": self.critic_opt}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "updates": torch.tensor(self.updates), "eval_rng": self._eval_rng.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "updates" not in state:
            raise ValueError("agent checkpoint lacks ['updates']")
        super().load_state_dict(state)
        self.updates = int(state["updates"])
        if "eval_rng" in state:
            self._eval_rng.set_state(state["eval_rng"])


class DrQEpsAgent(DQNAgent):
    """DrQ(ε): DQN whose updates see randomly shifted (and intensity-scaled) obs and next obs."""

    augments = True
