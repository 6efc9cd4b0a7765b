"""Plasticity diagnostics and interventions for any PyTorch model.

- ``dormant_ratio(model, *inputs, tau=0.025, kind="drm"|"redo")`` → ``.ratio``, ``.per_layer``
- ``fau(model, *inputs)`` → ``.fraction``, ``.per_layer``
- ``shrink_perturb_(model, alpha, target="fresh"|"initial", scope="linear"|"all", optimizers=...)``
- DrM's schedules: ``awaken_stddev(β)``, ``exploit_lambda(β)``, ``perturb_factor(β)``; ``expectile_loss``
"""

from dormant.plasticity.interventions import fresh_copy, reset_optimizer_state_, shrink_perturb_
from dormant.plasticity.metrics import DormantResult, FauResult, dormant_ratio, dormant_tensors, fau
from dormant.plasticity.schedules import awaken_stddev, expectile_loss, exploit_lambda, perturb_factor

__all__ = [
    "DormantResult", "FauResult", "awaken_stddev", "dormant_ratio", "dormant_tensors", "expectile_loss",
    "exploit_lambda", "fau", "fresh_copy", "perturb_factor", "reset_optimizer_state_", "shrink_perturb_",
]
