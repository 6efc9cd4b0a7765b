"""DrQ-v2 side by side: dormant's ``agent=drqv2`` against the authors' ``DrQV2Agent``.

Reference: github.com/facebookresearch/drqv2 at c0c650b76c6e5d22a7eb5f2edffd1440fe94f8ef
(``drqv2.py``, ``utils.py``). Clone it and pass its path::

    git clone https://github.com/facebookresearch/drqv2 /tmp/drqv2
    git -C /tmp/drqv2 checkout c0c650b76c6e5d22a7eb5f2edffd1440fe94f8ef
    python scripts/fidelity/drqv2.py --reference /tmp/drqv2

Imported at run time from that path: ``drqv2`` and ``utils``. Stubbed only if they do not
import here: ``hydra`` (imported by ``drqv2.py``, never called by the agent) and
``omegaconf`` (imported by ``utils.py``, never called by the agent).

What it does: builds both agents (84×84, 3 stacked RGB frames, batch ``--batch``, hidden
``--hidden-dim``, the reference's defaults otherwise), copies our weights into theirs with an
explicit name map checked to cover every parameter and buffer once, then runs
``--updates`` consecutive updates on identical batches. Before each update the global
torch generator is seeded with the same value for both, so the draws line up: both
draw, in this order, the random shift of obs, of next_obs (``torch.randint``), the target
policy's noise in the critic update and the policy noise in the actor update
(``normal_``); that the two consumed the same draws is checked by comparing the
generator's state after each update. Compared per update: every logged loss and
statistic, every gradient just before each optimiser step (critic, encoder, actor), every
parameter after the update (critic target included), and the generator state; also
``act`` (mean and sampled) before and after the window. ``--dtype float64`` runs both in
float64. ``--time N`` then times one update of each, interleaved, N rounds, at
``--time-batch``/``--time-hidden-dim``, and writes ``--json``.

Exit status 1 when a quantity's largest relative difference exceeds its tolerance.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

import dormant.agents.drqv2
from dormant.agents.drqv2 import DrQV2Agent
from dormant.config import AgentConfig
from dormant.nets import random_shift_grid_sample

REFERENCE = "github.com/facebookresearch/drqv2"
COMMIT = "c0c650b76c6e5d22a7eb5f2edffd1440fe94f8ef"
OBS_SHAPE = (9, 84, 84)  # 3 stacked RGB frames, 84×84
# Largest relative difference allowed per quantity (first matching prefix), by dtype and shift.
# float32, our shift: the reference's bilinear shift is off by up to 3e-3 of a grey level,
# and Adam's near-sign-sized early steps grow that over the window (see docs/fidelity.md).
# float32, the reference's shift: bit-identical, except two logged statistics that we
# compute in closed form (actor_logprob, actor_ent). float64: rounding only.
# The third entry: over how many updates from the start it is judged (None: all); float32
# with our shift is judged on its first update, because from there Adam and the
# critic-actor loop amplify the shift's rounding until the runs part (float64 shows it).
TOLERANCES = {
    ("float32", "ours"): ({"loss/": 1e-5, "grad/": 1e-4, "param/": 1e-2, "act/": 1e-5, "rng_state": 0.0}, 1e-5, 1),
    ("float32", "reference"): ({"loss/actor_logprob": 1e-6, "loss/actor_ent": 1e-6}, 0.0, None),
    # float64 over the whole window: Adam and the critic-actor loop amplify float64 rounding
    # (1e-16) by the same factor as float32's (1e-7 → O(1) for a few near-zero biases), so a
    # rounding-only run stays below ~1e-8; a behaviour difference is ≥ 1e-4 at the first update.
    ("float64", "ours"): ({"rng_state": 0.0}, 1e-6, None),
    ("float64", "reference"): ({"loss/actor_logprob": 1e-12, "loss/actor_ent": 1e-12}, 0.0, None),
}
# Metrics both agents log, by our name → theirs.
METRIC_NAMES = {
    "critic_loss": "critic_loss",
    "critic_q1": "critic_q1",
    "critic_q2": "critic_q2",
    "critic_target_q": "critic_target_q",
    "batch_reward": "batch_reward",
    "actor_loss": "actor_loss",
    "actor_logprob": "actor_logprob",
    "actor_ent": "actor_ent",
}


def reference_shift(x: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """The reference's random shift (same draw, bilinear ``grid_sample`` on floats), for
    ``--shift reference``: swaps out our exact integer crop to isolate its rounding."""
    x = x.float()
    n = x.shape[0]
    shifts = torch.randint(0, 2 * pad + 1, size=(n, 1, 1, 2), dtype=x.dtype).view(n, 2)
    return random_shift_grid_sample(x, shifts, pad)


def their_name(name: str) -> str:
    """Our tensor name → the reference's: the critics' heads are ``q1``/``q2`` here, ``Q1``/``Q2`` there."""
    net, _, rest = name.partition(".")
    if net in ("critic", "critic_target"):
        head, _, tail = rest.partition(".")
        if head in ("q1", "q2"):
            rest = f"{head.upper()}.{tail}"
    return f"{net}.{rest}"


def agent_tensors(agent, nets=("encoder", "actor", "critic", "critic_target")) -> dict[str, torch.Tensor]:
    return {f"{net}.{name}": t for net in nets for name, t in common.tensors(getattr(agent, net)).items()}


def build(ref, args, *, hidden_dim: int):
    """Our agent and theirs at the same settings, theirs holding a copy of our weights."""
    cfg = AgentConfig(
        lr=1e-4,
        feature_dim=args.feature_dim,
        hidden_dim=hidden_dim,
        critic_target_tau=0.01,
        num_expl_steps=2000,
        update_every_steps=2,
        stddev_schedule=args.schedule,
        stddev_clip=0.3,
    )
    torch.manual_seed(args.seed)
    ours = DrQV2Agent(OBS_SHAPE, args.action_dim, cfg, pixels=True, device=torch.device("cpu"))
    torch.manual_seed(args.seed + 1)
    theirs = ref.DrQV2Agent(
        obs_shape=OBS_SHAPE,
        action_shape=(args.action_dim,),
        device="cpu",
        lr=cfg.lr,
        feature_dim=cfg.feature_dim,
        hidden_dim=hidden_dim,
        critic_target_tau=cfg.critic_target_tau,
        num_expl_steps=cfg.num_expl_steps,
        update_every_steps=cfg.update_every_steps,
        stddev_schedule=cfg.stddev_schedule,
        stddev_clip=cfg.stddev_clip,
        use_tb=True,
    )
    ours_t, theirs_t = agent_tensors(ours), agent_tensors(theirs)
    mapping = common.check_name_map(ours_t, theirs_t, their_name)
    common.copy_state(ours_t, theirs_t, mapping)
    return ours, theirs, mapping


def compare_act(report, u, ours, theirs, obs, step, seed):
    """``act`` in eval mode (the mean) and exploring (a noisy sample), same draws."""
    for eval_mode in (True, False):
        torch.manual_seed(seed)
        a = ours.act(obs, step, eval_mode)
        torch.manual_seed(seed)
        with torch.no_grad():  # as the reference's trainer calls it (with the agent in eval mode)
            theirs.train(False)
            b = theirs.act(obs, step, eval_mode)
            theirs.train(True)
        report.compare(f"act/{'mean' if eval_mode else 'sample'}", u, torch.as_tensor(a), torch.as_tensor(b))


def run_window(ref, args) -> common.Report:
    ours, theirs, mapping = build(ref, args, hidden_dim=args.hidden_dim)
    ours_t, theirs_t = agent_tensors(ours), agent_tensors(theirs)
    optimizers = lambda agent: {"critic": agent.critic_opt, "encoder": agent.encoder_opt, "actor": agent.actor_opt}  # noqa: E731
    tap_ours = common.GradTap(optimizers(ours), common.param_names(ours_t))
    tap_theirs = common.GradTap(optimizers(theirs), common.param_names(theirs_t))
    report = common.Report()
    rng = np.random.default_rng(args.seed)
    probe = common.pixel_batch(rng, 1, args.action_dim)[0][0]
    compare_act(report, 0, ours, theirs, probe, args.start_step, args.seed + 7)
    for u in range(args.updates):
        step = args.start_step + 2 * u  # agent steps; one update every 2, as the reference's trainer
        batch = common.pixel_batch(rng, args.batch, args.action_dim)
        torch.manual_seed(args.seed * 100_003 + u)
        m_ours = ours.update(common.batch_for_ours(batch), step)
        rng_ours = torch.get_rng_state()
        torch.manual_seed(args.seed * 100_003 + u)
        m_theirs = theirs.update(iter([common.batch_for_theirs(batch)]), step)
        rng_theirs = torch.get_rng_state()
        report.compare("rng_state", u, float(not torch.equal(rng_ours, rng_theirs)), 0.0)
        m_ours = dict(zip(ours.METRICS, m_ours.tolist(), strict=True))
        for name, theirs_name in METRIC_NAMES.items():
            report.compare(f"loss/{name}", u, m_ours[name], m_theirs[theirs_name])
        common.compare_steps(report, u, tap_ours.take(), tap_theirs.take(), mapping)
        for net in ("encoder", "actor", "critic", "critic_target"):
            report.compare(
                f"param/{net}",
                u,
                {mapping[n]: t for n, t in ours_t.items() if n.startswith(net + ".")},
                {n: t for n, t in theirs_t.items() if n.startswith(net + ".")},
            )
        if u < 3:
            print(
                f"update {u}: critic_loss ours {m_ours['critic_loss']:.9g} theirs {m_theirs['critic_loss']:.9g}; "
                f"actor_loss ours {m_ours['actor_loss']:.9g} theirs {m_theirs['actor_loss']:.9g}"
            )
    compare_act(report, args.updates - 1, ours, theirs, probe, args.start_step + 2 * args.updates, args.seed + 8)
    checksum = sum(t.double().sum().item() for n, t in ours_t.items() if not n.startswith("critic_target"))
    print(f"our parameter checksum after {args.updates} updates (sum of encoder, actor, critic): {checksum:.10g}")
    return report


def time_updates(ref, args) -> dict:
    """One update of ours against one of theirs, interleaved, on the same batch and draws."""
    ours, theirs, _ = build(ref, args, hidden_dim=args.time_hidden_dim)
    batch = common.pixel_batch(np.random.default_rng(args.seed), args.time_batch, args.action_dim)
    step = args.start_step

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
        },
        "ours": timing["ours"],
        "theirs": timing["theirs"],
        "ratio_ours_over_theirs": ratio,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", required=True, help="checkout of facebookresearch/drqv2 at " + COMMIT)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--hidden-dim", type=int, default=256)
    parser.add_argument("--feature-dim", type=int, default=50)
    parser.add_argument("--action-dim", type=int, default=6)
    parser.add_argument("--schedule", default="linear(1.0,0.1,500000)", help="σ schedule (agent steps)")
    parser.add_argument("--start-step", type=int, default=2100, help="agent step of the first update")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dtype", choices=("float32", "float64", "both"), default="both")
    parser.add_argument(
        "--shift",
        choices=("ours", "reference"),
        default="ours",
        help="reference: our agent shifts with the reference's grid_sample formulation "
        "(isolates the rounding of our exact integer crop)",
    )
    parser.add_argument("--time", type=int, default=0, help="rounds of interleaved update timing (0: none)")
    parser.add_argument("--time-batch", type=int, default=256)
    parser.add_argument("--time-hidden-dim", type=int, default=1024)
    parser.add_argument("--json", default=None, help="write the timing here (with the machine block)")
    args = parser.parse_args(argv)

    ref, stubbed = common.import_reference(args.reference, ["utils", "drqv2"], stub=["hydra", "omegaconf"])
    head = common.git_head(args.reference)
    print(f"reference {REFERENCE} at {head} (expected {COMMIT}); stubbed: {', '.join(stubbed) or 'nothing'}")
    if args.shift == "reference":
        dormant.agents.drqv2.random_shift = reference_shift
    status = 0
    dtypes = ("float32", "float64") if args.dtype == "both" else (args.dtype,)
    for dtype in dtypes if args.updates > 0 else ():  # --updates 0: only the timing (or configuration)
        print(f"\n=== {dtype}: {args.updates} updates, batch {args.batch}, hidden {args.hidden_dim}")
        with common.float64_mode() if dtype == "float64" else _nothing():
            report = run_window(ref["drqv2"], args)
        status |= common.finish(report, *TOLERANCES[dtype, args.shift], title=f"largest differences, {dtype}")
    if args.time:
        result = time_updates(ref["drqv2"], args)
        if args.json:
            common.write_json(
                args.json,
                {
                    "benchmark": "fidelity-drqv2: one update, ours vs the reference, interleaved",
                    "reference": f"{REFERENCE}@{head}",
                    **result,
                },
            )
    return status


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    sys.exit(main())
