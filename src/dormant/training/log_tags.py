"""Names of logged values in TensorBoard and Weights & Biases, grouped by namespace.

The CSV columns keep their names (reports, plots and tests read them); only the
dashboards' tags are grouped:

- ``train/…``: training episodes and update metrics (``train/episode_reward``, ``train/critic_loss``);
- ``eval/…``: evaluations (``eval/episode_reward``, ``eval/success_rate``; a continual run's
  per-task returns ``eval/episode_reward@<task>`` and its ``eval/phase``);
- ``drm/…``: DrM's β (pooled and per actor layer), σ(β), λ, α(β), V, awakening and perturbations;
- ``plasticity/<network>/<quantity>[/<layer>]``: the diagnostics (``plasticity/critic/fau``,
  ``plasticity/critic/redo_dormant/q1.1``, ``plasticity/encoder/srank``); the replay ratio
  (``plasticity/replay/ratio``) and intervention counts (``plasticity/interventions/redo``).

Every value is logged against environment frames. Each tag is its own chart; the
``CUSTOM_LAYOUT`` multi-line charts put together only series of one unit (ratios with
ratios, norms with norms; counts never with rates).
"""

from __future__ import annotations

DRM_KEYS = {
    "dormant_ratio",
    "sigma_beta",
    "lambda",
    "alpha_beta",
    "v_loss",
    "v_value",
    "awaken_frame",
    "perturb_alpha",
    "perturb_count",
}
BOOKKEEPING = {"frame", "step"}  # the x axis and its agent-step twin: never a scalar of their own
DIAGNOSTIC_BOOKKEEPING = {"episode", "elapsed_s", "updates", "phase"}  # already in train/
# A diagnostics column's quantity → its tag name (ratios drop the suffix the CSV needs).
QUANTITIES = {"dormant_ratio": "dormant", "redo_dormant_ratio": "redo_dormant"}


def tag(kind: str, key: str) -> str | None:
    """The dashboard tag of column ``key`` of the ``kind`` log (train, eval, diagnostics,
    events), or None for columns that are not plotted."""
    if key in BOOKKEEPING:
        return None
    if kind == "train":
        if key in DRM_KEYS or key.startswith("dormant_ratio/"):
            return f"drm/{key}"
        if key in ("replay_ratio", "rr_switch_frame"):
            return "plasticity/replay/" + ("ratio" if key == "replay_ratio" else "switch_frame")
        return f"train/{key}"
    if kind == "diagnostics":
        if key in DIAGNOSTIC_BOOKKEEPING:
            return None
        net, _, rest = key.partition("_")
        quantity, _, layer = rest.partition("/")
        return "/".join(["plasticity", net, QUANTITIES.get(quantity, quantity), *([layer] if layer else [])])
    if kind == "eval":
        return f"eval/{key}"
    return None  # events: see ``event_tag``


def event_tag(event: str) -> str | None:
    """Events (interventions) are plotted by their ``count`` column under one tag each;
    a replay-ratio switch is already ``plasticity/replay/ratio``."""
    if event == "replay_ratio":
        return None
    if event == "drm_perturb":
        return "drm/perturbations"
    return f"plasticity/interventions/{event}"


def _per_layer(net: str, quantity: str, title: str) -> list:
    return [f"{net}: {title} per layer", ["Multiline", [rf"^plasticity/{net}/{quantity}/"]]]


NETWORKS = ("encoder", "actor", "critic", "value")
CUSTOM_LAYOUT: dict[str, dict[str, list]] = {
    "plasticity (per layer)": dict(
        _per_layer(net, quantity, title)
        for net in NETWORKS
        for quantity, title in (
            ("dormant", "dormant ratio (DrM kind)"),
            ("redo_dormant", "dormant ratio (ReDo kind)"),
            ("fau", "FAU"),
            ("srank", "srank"),
            ("feature_norm", "feature norm"),
        )
    ),
    "plasticity (per network)": {
        "dormant ratio (DrM kind)": ["Multiline", [r"^plasticity/\w+/dormant$"]],
        "dormant ratio (ReDo kind)": ["Multiline", [r"^plasticity/\w+/redo_dormant$"]],
        "FAU": ["Multiline", [r"^plasticity/\w+/fau$"]],
        "srank": ["Multiline", [r"^plasticity/\w+/srank$"]],
        "weight norm": ["Multiline", [r"^plasticity/\w+/weight_norm$"]],
        "gradient norm": ["Multiline", [r"^plasticity/\w+/grad_norm$"]],
    },
    "drm": {
        "β per actor layer": ["Multiline", [r"^drm/dormant_ratio"]],
        "σ(β), λ, α(β)": ["Multiline", [r"^drm/(sigma_beta|lambda|alpha_beta)$"]],
    },
}
