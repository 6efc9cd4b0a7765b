"""Plasticity diagnostics and interventions for any PyTorch model.

- ``dormant_ratio(model, *inputs, tau=0.025, kind="drm"|"redo", scoring="post_activation"|"pre_activation")``
  → ``.ratio``, ``.per_layer``; ``linear_activations(model)`` shows what each Linear is scored on
- ``fau(model, *inputs)`` → ``.fraction``, ``.per_layer``; ``ActiveUnitCounter`` for FAU during training
- ``recycle_dormant_(model, optimizer, *inputs, tau=0.1)`` → recycled neurons per layer (ReDo)
- ``shrink_perturb_(model, alpha, target="fresh"|"initial", scope="linear"|"all", optimizers=...)``
- ``ReplayRatio`` (static, any rational ratio) and ``AdaptiveReplayRatio`` (FAU-driven, Ma et al.)
- DrM's schedules: ``awaken_stddev(β)``, ``exploit_lambda(β)``, ``perturb_factor(β)``; ``expectile_loss``
"""

from dormant.plasticity.interventions import fresh_copy, reinitialise_, reset_optimizer_state_, shrink_perturb_
from dormant.plasticity.metrics import (
    ActiveUnitCounter, DormantResult, FauResult, dormant_ratio, dormant_tensors, fau, fau_tensors, linear_activations,
)
from dormant.plasticity.redo import recycle_dormant_
from dormant.plasticity.replay_ratio import AdaptiveReplayRatio, ReplayRatio, parse_replay_ratio
from dormant.plasticity.schedules import awaken_stddev, expectile_loss, exploit_lambda, perturb_factor

__all__ = [
    "ActiveUnitCounter", "AdaptiveReplayRatio", "DormantResult", "FauResult", "ReplayRatio", "awaken_stddev",
    "dormant_ratio", "dormant_tensors", "expectile_loss", "exploit_lambda", "fau", "fau_tensors", "fresh_copy",
    "linear_activations",
    "parse_replay_ratio", "perturb_factor", "recycle_dormant_", "reinitialise_", "reset_optimizer_state_", "shrink_perturb_",
]
