"""Plasticity diagnostics and interventions for any PyTorch model.

- ``dormant_ratio(model, *inputs, tau=0.025, kind="drm"|"redo", scoring="post_activation"|"pre_activation")``
  → ``.ratio``, ``.per_layer``; ``linear_activations(model)`` shows what each Linear is scored on
- ``fau(model, *inputs)`` → ``.fraction``, ``.per_layer``; ``ActiveUnitCounter`` for FAU during training
- ``recycle_dormant_(model, optimizer, *inputs, tau=0.1)`` → recycled neurons per layer (ReDo)
- ``shrink_perturb_(model, alpha, target="fresh"|"initial", scope="linear"|"all", optimizers=...)``
- ``reinitialise_``, ``fresh_copy``, ``reset_optimizer_state_`` (resets)
- ``ReplayRatio`` (static, any rational ratio) and ``AdaptiveReplayRatio`` (FAU-driven, Ma et al. 2024)
- Plasticine's methods: ``CReLU``, ``Fourier`` (activations), ``inject_`` (plasticity injection),
  ``l2_init_penalty``, ``parseval_penalty`` (regularisers), ``weight_norms`` +
  ``project_weight_norms_`` (Normalize-and-Project), ``TRAC`` (optimiser wrapper);
  ``effective_rank``, ``weight_difference`` (metrics)
- on a whole agent (``dormant.interfaces.PlasticAgent``): ``agent_diagnostics``, ``recycle_agent_``,
  ``reset_agent_``, ``shrink_perturb_agent_``, ``inject_agent_``

DrM's own formulas of β (σ(β), λ(β), α(β)) and its expectile loss live with the DrM
agent, in ``dormant.agents.drm``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names → the submodule that defines them. Imported on first use (PEP 562), so that
# reading the configuration (which checks replay-ratio strings) does not import torch.
_WHERE = {
    "fresh_copy": "surgery",
    "reinitialise_": "surgery",
    "reset_optimizer_state_": "surgery",
    "shrink_perturb_": "surgery",
    "agent_diagnostics": "diagnostics",
    "perturbed_networks": "agent_surgery",
    "recycle_agent_": "agent_surgery",
    "reset_agent_": "agent_surgery",
    "shrink_perturb_agent_": "agent_surgery",
    "ActiveUnitCounter": "metrics",
    "DormantResult": "metrics",
    "FauResult": "metrics",
    "dormant_ratio": "metrics",
    "dormant_tensors": "metrics",
    "fau": "metrics",
    "fau_tensors": "metrics",
    "linear_activations": "metrics",
    "recycle_dormant_": "redo",
    "AdaptiveReplayRatio": "replay_ratio",
    "ReplayRatio": "replay_ratio",
    "parse_replay_ratio": "replay_ratio",
    "CReLU": "activations",
    "Fourier": "activations",
    "Injected": "injection",
    "inject_": "injection",
    "inject_agent_": "injection",
    "l2_init_penalty": "regularisers",
    "parseval_penalty": "regularisers",
    "weight_norms": "nap",
    "project_weight_norms_": "nap",
    "TRAC": "trac",
    "effective_rank": "rank",
    "weight_difference": "rank",
}
__all__ = sorted(_WHERE)

if TYPE_CHECKING:  # the names above, for type checkers (redundant aliases mark re-exports)
    from dormant.plasticity.activations import CReLU as CReLU
    from dormant.plasticity.activations import Fourier as Fourier
    from dormant.plasticity.agent_surgery import perturbed_networks as perturbed_networks
    from dormant.plasticity.agent_surgery import recycle_agent_ as recycle_agent_
    from dormant.plasticity.agent_surgery import reset_agent_ as reset_agent_
    from dormant.plasticity.agent_surgery import shrink_perturb_agent_ as shrink_perturb_agent_
    from dormant.plasticity.diagnostics import agent_diagnostics as agent_diagnostics
    from dormant.plasticity.injection import Injected as Injected
    from dormant.plasticity.injection import inject_ as inject_
    from dormant.plasticity.injection import inject_agent_ as inject_agent_
    from dormant.plasticity.metrics import ActiveUnitCounter as ActiveUnitCounter
    from dormant.plasticity.metrics import DormantResult as DormantResult
    from dormant.plasticity.metrics import FauResult as FauResult
    from dormant.plasticity.metrics import dormant_ratio as dormant_ratio
    from dormant.plasticity.metrics import dormant_tensors as dormant_tensors
    from dormant.plasticity.metrics import fau as fau
    from dormant.plasticity.metrics import fau_tensors as fau_tensors
    from dormant.plasticity.metrics import linear_activations as linear_activations
    from dormant.plasticity.nap import project_weight_norms_ as project_weight_norms_
    from dormant.plasticity.nap import weight_norms as weight_norms
    from dormant.plasticity.rank import effective_rank as effective_rank
    from dormant.plasticity.rank import weight_difference as weight_difference
    from dormant.plasticity.redo import recycle_dormant_ as recycle_dormant_
    from dormant.plasticity.regularisers import l2_init_penalty as l2_init_penalty
    from dormant.plasticity.regularisers import parseval_penalty as parseval_penalty
    from dormant.plasticity.replay_ratio import AdaptiveReplayRatio as AdaptiveReplayRatio
    from dormant.plasticity.replay_ratio import ReplayRatio as ReplayRatio
    from dormant.plasticity.replay_ratio import parse_replay_ratio as parse_replay_ratio
    from dormant.plasticity.surgery import fresh_copy as fresh_copy
    from dormant.plasticity.surgery import reinitialise_ as reinitialise_
    from dormant.plasticity.surgery import reset_optimizer_state_ as reset_optimizer_state_
    from dormant.plasticity.surgery import shrink_perturb_ as shrink_perturb_
    from dormant.plasticity.trac import TRAC as TRAC


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'dormant.plasticity' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"dormant.plasticity.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
