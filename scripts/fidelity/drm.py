"""DrM side by side: dormant's ``agent=drm`` against the authors' DMC ``DrMAgent``.

Reference: github.com/XuGW-Kevin/DrM at 317116a09897782d3fb9c72ab0599d5d2cd713bf
(``agents/drm.py``, ``utils.py``; ``agents/drm_mw.py``, ``train_mw.py`` and ``cfgs/`` for the
MetaWorld comparison). Clone it and pass its path::

    git clone https://github.com/XuGW-Kevin/DrM /tmp/drm
    git -C /tmp/drm checkout 317116a09897782d3fb9c72ab0599d5d2cd713bf
    python scripts/fidelity/drm.py --reference /tmp/drm

(The checkout needs only the top-level Python files, ``agents/`` and ``cfgs/``; its bundled
``metaworld/`` and ``rrl-dependencies/`` copies are not used.) Imported at run time from that
path: ``utils``, ``agents.drm`` and ``agents.drm_mw``. Stubbed only if they do not import
here: ``omegaconf`` (imported by nothing the agents call; listed for safety) and ``hydra``.

What it does: builds both agents (84×84, 3 stacked RGB frames, batch ``--batch``, hidden
``--hidden-dim``, DrM's DMC defaults otherwise), copies our weights into theirs with an
explicit name map checked to cover every parameter and buffer once, then runs
``--updates`` consecutive updates on identical batches. The window is placed so that it
holds DrM's events: a perturbation every ``--perturb-every`` agent steps (the first at the
first update, with β = 1 from before any update, as in the reference), the awakening (the
random phase ends ``--awaken-after`` updates into the window, and β < β̂ then), the V
network's expectile update and the λ-mixed critic target (every update), and a short σ
schedule so that σ = max(σ(β), schedule) takes both branches.

Random draws line up as follows. Each update starts from the same seed on both sides,
so the shifts of obs and next_obs and the policy noise of the critic and actor updates
are drawn alike. A perturbation draws a fresh copy of each perturbed network; the
reference also draws one for the encoder (and then leaves the encoder unchanged), which
ours skips, so the two streams would part there: the script seeds the generator with
the same per-network value just before each network's fresh draw, on both sides, and
with the same value after the last one. The generator state after each update is
compared. Compared per update: every logged loss and statistic; β, σ(β), the σ used,
λ, α(β) and the awakening step; at a perturbation the α used; every gradient just
before each optimiser step (V, critic, encoder, actor); every parameter after the
update (critic target included). ``--dtype float64`` runs both in float64.

Then the MetaWorld trainer (``agents/drm_mw.py`` + ``train_mw.py``, run by the authors as
``train_mw.py task=<name> agent=drm_mw``): its effective configuration (Hydra's
composition of ``cfgs/config.yaml``, the task file and ``cfgs/agent/drm_mw.yaml``, redone
here with PyYAML, plus the two values that ``train_mw.py`` computes in code) is compared
key by key with ``dormant config agent=drm task=metaworld/<name>
preset=drm-reference-metaworld``, and its critic's layer sequence with ours.

``--time N`` times one update of each, interleaved, and writes ``--json``.
Exit status 1 when a quantity exceeds its tolerance or a configuration key differs.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

import dormant.plasticity.surgery as surgery
from dormant.agents.drm import DrMAgent
from dormant.config import AgentConfig, DrMConfig

REFERENCE = "github.com/XuGW-Kevin/DrM"
COMMIT = "317116a09897782d3fb9c72ab0599d5d2cd713bf"
OBS_SHAPE = (9, 84, 84)
ACTION_REPEAT = 2
# Largest relative difference allowed per quantity (first matching prefix), and over how many
# updates from the start of the window it is judged (None: all). float32 is judged on its
# first update only: from there, rounding (ours: exact crop and float32 σ, λ, α; theirs: a
# bilinear shift and Python doubles) is amplified by Adam's near-sign-sized steps and by
# β's thresholds until the two runs part like any chaotic system; float64 shows it is
# rounding by staying at ~1e-12 over the whole window (docs/fidelity.md#drm).
TOLERANCES = {
    "float32": ({"loss/": 1e-5, "grad/": 1e-4, "param/": 1e-2, "drm/": 1e-6, "rng_state": 0.0}, 1e-5, 1),
    # float64 over the whole window: rounding amplified by the same factor as in float32
    # stays below ~1e-8; a behaviour difference is ≥ 1e-4 at the first update.
    "float64": ({"rng_state": 0.0}, 1e-6, None),
}
METRIC_NAMES = {
    "critic_loss": "critic_loss",
    "critic_q1": "critic_q1",
    "critic_q2": "critic_q2",
    "critic_target_q": "critic_target_q",
    "batch_reward": "batch_reward",
    "actor_loss": "actor_loss",
    "actor_logprob": "actor_logprob",
    "actor_ent": "actor_ent",
    "v_loss": "predictor_loss",
    "dormant_ratio": "actor_dormant_ratio",
}
NETS = {
    "encoder": "encoder",
    "actor": "actor",
    "critic": "critic",
    "critic_target": "critic_target",
    "value": "value_predictor",
}


def their_name(name: str) -> str:
    """Our tensor name → the reference's: critic heads ``q1/q2`` → ``Q1/Q2``, ``value.v`` →
    ``value_predictor.V``, ``value.trunk`` → ``value_predictor.trunk``."""
    net, _, rest = name.partition(".")
    head, _, tail = rest.partition(".")
    if net in ("critic", "critic_target") and head in ("q1", "q2"):
        rest = f"{head.upper()}.{tail}"
    if net == "value" and head == "v":
        rest = f"V.{tail}"
    return f"{NETS[net]}.{rest}"


def agent_tensors(agent, ours: bool) -> dict[str, torch.Tensor]:
    return {
        f"{net if ours else theirs}.{name}": t
        for net, theirs in NETS.items()
        for name, t in common.tensors(getattr(agent, net if ours else theirs)).items()
    }


def build(ref, args, *, hidden_dim: int):
    cfg = AgentConfig(
        lr=1e-4,
        feature_dim=args.feature_dim,
        hidden_dim=hidden_dim,
        critic_target_tau=0.01,
        num_expl_steps=args.start_step + 2 * args.awaken_after - 1,
        update_every_steps=2,
        stddev_schedule=args.schedule,
        stddev_clip=0.3,
    )
    drm = DrMConfig(perturb_every_frames=args.perturb_every * ACTION_REPEAT)  # DrM's DMC defaults otherwise
    torch.manual_seed(args.seed)
    ours = DrMAgent(
        OBS_SHAPE, args.action_dim, cfg, pixels=True, device=torch.device("cpu"), action_repeat=ACTION_REPEAT, drm=drm
    )
    torch.manual_seed(args.seed + 1)
    theirs = ref.DrMAgent(
        obs_shape=OBS_SHAPE,
        action_shape=(args.action_dim,),
        device="cpu",
        lr=cfg.lr,
        feature_dim=cfg.feature_dim,
        hidden_dim=hidden_dim,
        critic_target_tau=cfg.critic_target_tau,
        dormant_threshold=drm.dormant_tau,
        target_dormant_ratio=drm.threshold,
        dormant_temp=1 / drm.awaken_temperature,
        target_lambda=drm.lambda_max,
        lambda_temp=1 / drm.exploit_temperature,
        dormant_perturb_interval=args.perturb_every,
        min_perturb_factor=drm.alpha_min,
        max_perturb_factor=drm.alpha_max,
        perturb_rate=drm.perturb_rate,
        num_expl_steps=cfg.num_expl_steps,
        stddev_type="awake",
        stddev_schedule=cfg.stddev_schedule,
        stddev_clip=cfg.stddev_clip,
        expectile=drm.expectile,
        use_tb=True,
    )
    ours_t, theirs_t = agent_tensors(ours, True), agent_tensors(theirs, False)
    mapping = common.check_name_map(ours_t, theirs_t, their_name)
    common.copy_state(ours_t, theirs_t, mapping)
    return ours, theirs, mapping


ORIGINALS: dict = {}


class AlignedPerturbation:
    """Seeds the generator before each network's fresh draw in a perturbation, the same
    value for the same network on both sides, and after the last network (V); records
    the α each side used."""

    def __init__(self, ref_utils, ours, theirs):
        self.seed = 0
        self.alphas = {"ours": [], "theirs": []}
        self.names = {
            id(ours.actor): "actor",
            id(ours.critic): "critic",
            id(ours.critic_target): "critic_target",
            id(ours.value): "value",
            id(ours.encoder): "encoder",
            id(theirs.actor): "actor",
            id(theirs.critic): "critic",
            id(theirs.critic_target): "critic_target",
            id(theirs.value_predictor): "value",
            id(theirs.encoder): "encoder",
        }
        order = ["actor", "critic", "critic_target", "encoder", "value"]
        self.offset = {name: k + 1 for k, name in enumerate(order)}
        import dormant.plasticity.agent_surgery as agent_surgery

        # The unpatched functions, kept across windows (float32, then float64).
        originals = ORIGINALS.setdefault("ours", (surgery.fresh_copy, agent_surgery.shrink_perturb_))
        original_fresh, original_shrink = originals
        original_perturb = ORIGINALS.setdefault("theirs", ref_utils.perturb)

        def fresh_copy(model, init_fn=None):
            torch.manual_seed(self.seed + self.offset[self.names[id(model)]])
            copy = original_fresh(model, init_fn)
            if self.names[id(model)] == "value":
                torch.manual_seed(self.seed + 99)
            return copy

        def shrink_perturb_(model, alpha, **kwargs):
            self.alphas["ours"].append(float(alpha))
            return original_shrink(model, alpha, **kwargs)

        def perturb(net, optimizer, factor):
            name = self.names[id(net)]
            torch.manual_seed(self.seed + self.offset[name])
            out = original_perturb(net, optimizer, factor)
            if name != "encoder":  # ours mixes no encoder parameter (scope linear): its draw is unused
                self.alphas["theirs"].append(float(factor))
            if name == "value":
                torch.manual_seed(self.seed + 99)
            return out

        surgery.fresh_copy = fresh_copy
        agent_surgery.shrink_perturb_ = shrink_perturb_
        ref_utils.perturb = perturb


def drm_state_ours(agent, step: int, metrics: dict) -> dict[str, float]:
    return {
        "beta": metrics["dormant_ratio"],
        "sigma_beta": metrics["sigma_beta"],
        "sigma_used": metrics["stddev"],
        "lambda": metrics["lambda"],
        "alpha_beta": metrics["alpha_beta"],
        "awaken_step": float(agent.awaken_step),
        "sigma_act": float(agent.stddev(step)),
    }


def drm_state_theirs(agent, step: int) -> dict[str, float]:
    return {
        "beta": agent.dormant_ratio,
        "sigma_beta": agent.dormant_stddev,
        "sigma_used": agent.stddev(step),
        "lambda": agent.lambda_,
        "alpha_beta": agent.perturb_factor(step),
        "awaken_step": -1.0 if agent.awaken_step is None else float(agent.awaken_step),
        "sigma_act": agent.stddev(step),
    }


def run_window(ref, args) -> tuple[common.Report, dict]:
    ours, theirs, mapping = build(ref["agents.drm"], args, hidden_dim=args.hidden_dim)
    aligned = AlignedPerturbation(ref["utils"], ours, theirs)
    ours_t, theirs_t = agent_tensors(ours, True), agent_tensors(theirs, False)
    opts = lambda a, v: {"value": v, "critic": a.critic_opt, "encoder": a.encoder_opt, "actor": a.actor_opt}  # noqa: E731
    tap_ours = common.GradTap(opts(ours, ours.value_opt), common.param_names(ours_t))
    tap_theirs = common.GradTap(opts(theirs, theirs.predictor_opt), common.param_names(theirs_t))
    report = common.Report()
    rng = np.random.default_rng(args.seed)
    events = {"perturb_updates": [], "perturb_alpha": [], "awaken_update": None, "beta": [], "sigma": [], "lambda": []}
    for u in range(args.updates):
        step = args.start_step + 2 * u
        batch = common.pixel_batch(rng, args.batch, args.action_dim)
        seed = args.seed * 100_003 + u
        aligned.seed = seed * 1000
        n_ours, n_theirs = len(aligned.alphas["ours"]), len(aligned.alphas["theirs"])
        torch.manual_seed(seed)
        m_ours = dict(zip(ours.METRICS, ours.update(common.batch_for_ours(batch), step).tolist(), strict=True))
        rng_ours = torch.get_rng_state()
        torch.manual_seed(seed)
        m_theirs = theirs.update(iter([common.batch_for_theirs(batch)]), step)
        rng_theirs = torch.get_rng_state()
        report.compare("rng_state", u, float(not torch.equal(rng_ours, rng_theirs)), 0.0)
        for name, theirs_name in METRIC_NAMES.items():
            report.compare(f"loss/{name}", u, m_ours[name], m_theirs[theirs_name])
        s_ours, s_theirs = drm_state_ours(ours, step, m_ours), drm_state_theirs(theirs, step)
        for key in s_ours:
            report.compare(f"drm/{key}", u, s_ours[key], s_theirs[key])
        new_ours, new_theirs = aligned.alphas["ours"][n_ours:], aligned.alphas["theirs"][n_theirs:]
        if new_ours or new_theirs:
            if len(new_ours) != len(new_theirs):
                raise SystemExit(f"update {u}: ours perturbed {len(new_ours)} networks, theirs {len(new_theirs)}")
            report.compare("drm/perturb_alpha", u, torch.tensor(new_ours), torch.tensor(new_theirs))
            events["perturb_updates"].append(u)
            events["perturb_alpha"].append(new_theirs[0])
        if events["awaken_update"] is None and theirs.awaken_step is not None:
            events["awaken_update"] = u
        events["beta"].append(s_theirs["beta"])
        events["sigma"].append(s_theirs["sigma_used"])
        events["lambda"].append(s_theirs["lambda"])
        common.compare_steps(report, u, tap_ours.take(), tap_theirs.take(), mapping)
        for net, their_net in NETS.items():
            report.compare(
                f"param/{net}",
                u,
                {mapping[n]: t for n, t in ours_t.items() if n.startswith(net + ".")},
                {n: t for n, t in theirs_t.items() if n.startswith(their_net + ".")},
            )
        if u < 3:
            print(
                f"update {u}: critic_loss ours {m_ours['critic_loss']:.9g} theirs {m_theirs['critic_loss']:.9g}; "
                f"v_loss ours {m_ours['v_loss']:.9g} theirs {m_theirs['predictor_loss']:.9g}; "
                f"β {s_ours['beta']:.6f} / {s_theirs['beta']:.6f}"
            )
    checksum = sum(t.double().sum().item() for n, t in ours_t.items() if not n.startswith("critic_target"))
    print(
        f"events: perturbations at updates {events['perturb_updates']} with α {events['perturb_alpha']}; "
        f"awakening at update {events['awaken_update']}; β in [{min(events['beta']):.4f}, {max(events['beta']):.4f}], "
        f"σ in [{min(events['sigma']):.4f}, {max(events['sigma']):.4f}], "
        f"λ in [{min(events['lambda']):.4f}, {max(events['lambda']):.4f}]"
    )
    print(
        f"our parameter checksum after {args.updates} updates (sum of encoder, actor, critic, value): {checksum:.10g}"
    )
    if not events["perturb_updates"] or events["awaken_update"] is None:
        print("WARNING: the window lacks a perturbation or the awakening")
    return report, events


# --- the MetaWorld trainer's configuration ---------------------------------------------------------
def _merge(into: dict, new: dict) -> dict:
    """Hydra/OmegaConf merge: nested dicts merge, a later value wins, ``???`` never overrides."""
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif value != "???" or key not in into:
            into[key] = value
    return into


def _load_group(cfgs: Path, group: str, name: str) -> dict:
    """A config-group file with its own ``defaults`` list (``- other`` / ``- _self_``) applied."""
    import yaml

    data = yaml.safe_load((cfgs / group / f"{name}.yaml").read_text()) or {}
    out: dict = {}
    for entry in data.pop("defaults", ["_self_"]):
        _merge(out, data if entry == "_self_" else _load_group(cfgs, group, entry))
    return out


def _resolve(node, root):
    """``${a.b}`` interpolations resolved; ``1e-4`` read as a number, as OmegaConf reads it
    (PyYAML's YAML 1.1 leaves an exponent without a dot as a string)."""
    if isinstance(node, dict):
        return {k: _resolve(v, root) for k, v in node.items()}
    if isinstance(node, str) and node.startswith("${") and node.endswith("}"):
        value = root
        for part in node[2:-1].split("."):
            value = value[part]
        return _resolve(value, root)
    if isinstance(node, str):
        try:
            return float(node)
        except ValueError:
            return node
    return node


def reference_metaworld_config(path: Path, task: str) -> dict:
    """The effective configuration of ``train_mw.py task=<task> agent=drm_mw``.

    ``cfgs/config.yaml``'s defaults list is ``_self_``, then the task file (package
    ``_global_``), then the agent file (package ``_global_``): later entries win, and a
    ``???`` in a later file never replaces a value. ``train_mw.py`` then builds its replay with
    n-step ``floor(nstep + nstep_alpha)`` and discount ``discount − discount_alpha − discount_beta``
    (its ``update_buffer``, which would anneal them, is never called), so those are the
    effective values.
    """
    import yaml

    cfgs = path / "cfgs"
    top = yaml.safe_load((cfgs / "config.yaml").read_text())
    defaults = top.pop("defaults")
    top.pop("hydra", None)
    cfg: dict = {}
    for entry in defaults:
        if entry == "_self_":
            _merge(cfg, top)
        elif isinstance(entry, dict) and "task@_global_" in entry:
            _merge(cfg, _load_group(cfgs, "task", task))
        elif isinstance(entry, dict) and "agent@_global_" in entry:
            _merge(cfg, _load_group(cfgs, "agent", "drm_mw"))
    cfg = _resolve(cfg, cfg)
    trainer = (path / "train_mw.py").read_text()
    calls = trainer.count("update_buffer(") - trainer.count("def update_buffer(")
    needed = ("nstep", "nstep_alpha", "discount", "discount_alpha", "discount_beta")
    cfg["missing_for_train_mw"] = [key for key in needed if key not in cfg]
    if calls == 0 and not cfg["missing_for_train_mw"]:
        cfg["effective_nstep"] = math.floor(cfg["nstep"] + cfg["nstep_alpha"])
        cfg["effective_discount"] = cfg["discount"] - cfg["discount_alpha"] - cfg["discount_beta"]
    return cfg


def compare_metaworld(path: Path, ref_mw, tasks: list[str]) -> list[str]:
    """Key-by-key: the reference MetaWorld trainer's effective values against dormant's
    ``agent=drm task=metaworld/<task> preset=drm-reference-metaworld``. Returns mismatches."""
    from dormant.config import resolve

    problems = []
    print("\nMetaWorld trainer (train_mw.py agent=drm_mw) against preset=drm-reference-metaworld")
    print(f"{'task':<14} {'reference key':<32} {'reference':>24} {'dormant key':<30} {'dormant':>24}")
    for task in tasks:
        theirs = reference_metaworld_config(path, task)
        if theirs["missing_for_train_mw"]:
            # e.g. soccer.yaml inherits the DMC tier file medium.yaml, not metaworld.yaml
            print(
                f"{task:<14} reference task file lacks {theirs['missing_for_train_mw']}: train_mw.py cannot "
                "start with it (it reads them at construction); not compared"
            )
            continue
        a = theirs["agent"]
        ours = resolve({"agent": "drm", "task": f"metaworld/{task}", "preset": "drm-reference-metaworld"})
        d, ag = ours.drm, ours.agent
        rows = [  # (their key, their value, our key, our value in their units)
            ("lr", theirs["lr"], "agent.lr", ag.lr),
            ("feature_dim", theirs["feature_dim"], "agent.feature_dim", ag.feature_dim),
            ("agent.hidden_dim", a["hidden_dim"], "agent.hidden_dim", ag.hidden_dim),
            ("agent.critic_target_tau", a["critic_target_tau"], "agent.critic_target_tau", ag.critic_target_tau),
            ("agent.num_expl_steps", a["num_expl_steps"], "agent.num_expl_steps", ag.num_expl_steps),
            ("agent.stddev_schedule", a["stddev_schedule"], "agent.stddev_schedule", ag.stddev_schedule),
            ("agent.stddev_clip", a["stddev_clip"], "agent.stddev_clip", ag.stddev_clip),
            (
                "agent.stddev_type",
                a["stddev_type"],
                "drm.awaken/before_awaken",
                "awake" if d.awaken and d.before_awaken == "dormant" else f"{d.awaken}/{d.before_awaken}",
            ),
            ("agent.dormant_threshold", a["dormant_threshold"], "drm.dormant_tau", d.dormant_tau),
            ("agent.target_dormant_ratio", a["target_dormant_ratio"], "drm.threshold", d.threshold),
            ("agent.dormant_temp", a["dormant_temp"], "1 / drm.awaken_temperature", 1 / d.awaken_temperature),
            ("agent.target_lambda (constant λ)", a["target_lambda"], "drm.fixed_lambda", d.fixed_lambda),
            (
                "agent.dormant_perturb_interval",
                a["dormant_perturb_interval"],
                "drm.perturb_every_frames / repeat",
                d.perturb_every_frames // ours.env.action_repeat,
            ),
            ("agent.min_perturb_factor", a["min_perturb_factor"], "drm.alpha_min", d.alpha_min),
            ("agent.max_perturb_factor", a["max_perturb_factor"], "drm.alpha_max", d.alpha_max),
            ("agent.perturb_rate", a["perturb_rate"], "drm.perturb_rate", d.perturb_rate),
            ("agent.expectile", a["expectile"], "drm.expectile", d.expectile),
            (
                "awaken: step > num_expl_steps",
                "no" if "step > self.num_expl_steps" not in Path(ref_mw.__file__).read_text() else "yes",
                "drm.awaken_after_exploration",
                "yes" if d.awaken_after_exploration else "no",
            ),
            ("frame_stack", theirs["frame_stack"], "env.frame_stack", ours.env.frame_stack),
            ("action_repeat", theirs["action_repeat"], "env.action_repeat", ours.env.action_repeat),
            ("nstep (effective)", theirs["effective_nstep"], "agent.nstep", ag.nstep),
            ("discount (effective)", theirs["effective_discount"], "agent.discount", ag.discount),
            ("batch_size", theirs["batch_size"], "agent.batch_size", ag.batch_size),
            ("update_every_steps", theirs["update_every_steps"], "agent.update_every_steps", ag.update_every_steps),
            ("num_seed_frames", theirs["num_seed_frames"], "num_seed_frames", ours.num_seed_frames),
            ("num_train_frames", theirs["num_train_frames"], "frames", ours.frames),
            ("replay_buffer_size", theirs["replay_buffer_size"], "replay.capacity", ours.replay.capacity),
            ("eval_every_frames", theirs["eval_every_frames"], "eval.every_frames", ours.eval.every_frames),
            ("num_eval_episodes", theirs["num_eval_episodes"], "eval.episodes", ours.eval.episodes),
        ]
        for their_key, their_value, our_key, our_value in rows:
            same = (
                math.isclose(their_value, our_value, rel_tol=1e-9)
                if isinstance(their_value, (int, float)) and isinstance(our_value, (int, float))
                else str(their_value).replace(" ", "") == str(our_value).replace(" ", "")
            )
            mark = "" if same else "   ≠"
            print(f"{task:<14} {their_key:<32} {their_value!s:>24} {our_key:<30} {our_value!s:>24}{mark}")
            if not same:
                problems.append(f"{task}: {their_key} = {their_value} vs {our_key} = {our_value}")
        problems += compare_mw_critic(ref_mw, ag)
    return problems


def compare_mw_critic(ref_mw, ag) -> list[str]:
    """The MetaWorld critic's layer sequence (types, widths, dropout p) against ours with the preset's flags."""
    from dormant.nets import Critic

    theirs = ref_mw.Critic(64, (4,), 8, 16)
    ours = Critic(64, 4, 8, 16, dropout=ag.critic_dropout, layernorm=ag.critic_layernorm)

    def layers(seq):
        return [
            (
                type(m).__name__,
                getattr(m, "p", None),
                tuple(getattr(m, "normalized_shape", ())),
                getattr(m, "out_features", None),
            )
            for m in seq
        ]

    problems = []
    for ours_head, theirs_head in ((ours.q1, theirs.Q1), (ours.q2, theirs.Q2)):
        if layers(ours_head) != layers(theirs_head):
            problems.append(f"MetaWorld critic head: ours {layers(ours_head)} vs theirs {layers(theirs_head)}")
    print(
        f"MetaWorld critic head layers: {'equal' if not problems else 'DIFFERENT'} "
        f"({' → '.join(name for name, *_ in layers(theirs.Q1))})"
    )
    return problems


def time_updates(ref, args) -> dict:
    args_t = argparse.Namespace(**{**vars(args), "batch": args.time_batch})
    ours, theirs, _ = build(ref["agents.drm"], args_t, hidden_dim=args.time_hidden_dim)
    batch = common.pixel_batch(np.random.default_rng(args.seed), args.time_batch, args.action_dim)
    step = args.start_step + 1  # odd: no perturbation due on either side (period in even steps)

    def run_ours():
        torch.manual_seed(0)
        ours.update(common.batch_for_ours(batch), step)

    def run_theirs():
        torch.manual_seed(0)
        theirs.update(iter([common.batch_for_theirs(batch)]), step)

    timing = common.time_interleaved({"ours": run_ours, "theirs": run_theirs}, rounds=args.time)
    ratio = timing["ours"]["median_s"] / timing["theirs"]["median_s"]
    print(
        f"\none update, batch {args.time_batch}, hidden {args.time_hidden_dim}: "
        f"ours {timing['ours']['median_s'] * 1e3:.0f} ms, theirs {timing['theirs']['median_s'] * 1e3:.0f} ms "
        f"(median of {args.time}; ratio ours/theirs {ratio:.3f})"
    )
    return {
        "setup": {
            "batch": args.time_batch,
            "hidden_dim": args.time_hidden_dim,
            "feature_dim": args.feature_dim,
            "obs_shape": list(OBS_SHAPE),
            "action_dim": args.action_dim,
            "rounds": args.time,
            "torch_threads": torch.get_num_threads(),
            "perturbation_in_timed_updates": False,
        },
        "ours": timing["ours"],
        "theirs": timing["theirs"],
        "ratio_ours_over_theirs": ratio,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", required=True, help="checkout of XuGW-Kevin/DrM at " + COMMIT)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--hidden-dim", type=int, default=256)
    parser.add_argument("--feature-dim", type=int, default=50)
    parser.add_argument("--action-dim", type=int, default=6)
    parser.add_argument(
        "--schedule", default="linear(1.0,0.1,200)", help="σ schedule (agent steps), restarted at the awakening"
    )
    parser.add_argument("--start-step", type=int, default=2100, help="agent step of the first update")
    parser.add_argument("--perturb-every", type=int, default=100, help="perturbation period, agent steps")
    parser.add_argument(
        "--awaken-after", type=int, default=0, help="updates into the window before the random phase ends"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dtype", choices=("float32", "float64", "both"), default="both")
    parser.add_argument(
        "--metaworld-tasks",
        default="coffee-push,soccer,sweep-into,assembly,disassemble,stick-pull",
        help="tasks whose reference MetaWorld configuration is compared ('' : none)",
    )
    parser.add_argument("--time", type=int, default=0, help="rounds of interleaved update timing (0: none)")
    parser.add_argument("--time-batch", type=int, default=256)
    parser.add_argument("--time-hidden-dim", type=int, default=1024)
    parser.add_argument("--json", default=None, help="write the timing here (with the machine block)")
    args = parser.parse_args(argv)

    ref, stubbed = common.import_reference(
        args.reference, ["utils", "agents.drm", "agents.drm_mw"], stub=["hydra", "omegaconf"]
    )
    head = common.git_head(args.reference)
    print(f"reference {REFERENCE} at {head} (expected {COMMIT}); stubbed: {', '.join(stubbed) or 'nothing'}")
    status = 0
    dtypes = ("float32", "float64") if args.dtype == "both" else (args.dtype,)
    for dtype in dtypes if args.updates > 0 else ():  # --updates 0: only the timing (or configuration)
        print(f"\n=== {dtype}: {args.updates} updates, batch {args.batch}, hidden {args.hidden_dim}")
        with common.float64_mode() if dtype == "float64" else _Nothing():
            report, _ = run_window(ref, args)
        status |= common.finish(
            report, *TOLERANCES[dtype], title=f"largest differences, {dtype}"
        )  # judged as set above
    tasks = [t for t in args.metaworld_tasks.split(",") if t]
    if tasks:
        problems = compare_metaworld(Path(args.reference), ref["agents.drm_mw"], tasks)
        if problems:
            print("\nFAIL: MetaWorld configuration differs\n  " + "\n  ".join(problems))
            status |= 1
        else:
            print("\nOK: MetaWorld configuration equal key by key")
    if args.time:
        result = time_updates(ref, args)
        if args.json:
            common.write_json(
                args.json,
                {
                    "benchmark": "fidelity-drm: one update, ours vs the reference, interleaved",
                    "reference": f"{REFERENCE}@{head}",
                    **result,
                },
            )
    return status


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    sys.exit(main())
