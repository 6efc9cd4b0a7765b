"""`dormant` command line: train, resume, evaluate, inspect configuration and tasks."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dormant.config import ConfigError, default_out, parse_overrides, resolve
from dormant.envs.rendering import RenderingUnavailable
from dormant.errors import MissingExtraError
from dormant.training.checkpoint import CheckpointError
from dormant.training.exit_codes import EXIT_CONFIG, EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_WRITE_FAILED
from dormant.training.files import RunWriteError, describe_write_failure, is_write_failure
from dormant.training.lock import EXIT_LOCKED, LockedError

USAGE = """dormant <command> [key=value ...]

commands:
  train   key=value ...            train a new run (e.g. agent=drqv2 task=dmc/cartpole_swingup frames=100000)
  train   --resume DIR [frames=N]  continue a run where it stopped (optionally with a larger budget)
  eval    DIR [episodes=10 video=true]  evaluate a run's checkpoint
  config  key=value ...            print the fully resolved configuration (YAML)
  tasks                            list the tasks
  plot    DIR                      write DIR/learning_curve.png
  sweep   agent=a,b task=x,y seeds=N [key=v1,v2 ...] out=DIR [frames=N jobs=N backend=local|ray ...]
                                   run a grid of runs; the same command again continues it
  report  DIR [DIR ...] [out=DIR]  a Markdown + HTML report of a sweep or of run directories
"""


def _fail(message: str, code: int = EXIT_CONFIG) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def cmd_train(args: argparse.Namespace) -> int:
    """Train a new run or resume one (``training.launch`` does the work; this maps its end to an exit code)."""
    from dormant.training.launch import launch
    from dormant.training.trainer import NonFiniteLossError

    try:
        result = launch(parse_overrides(args.overrides), resume=args.resume)
    except NonFiniteLossError as err:
        return _fail(str(err), EXIT_DIVERGED)
    return EXIT_INTERRUPTED if result.status == "interrupted" else 0


def cmd_eval(args: argparse.Namespace) -> int:
    from dormant.training.evaluation import evaluate_checkpoint

    options = parse_overrides(args.overrides)
    unknown = set(options) - {"episodes", "video", "device", "seed"}
    if unknown:
        raise ConfigError(f"eval accepts episodes=, video=, device=, seed=; got {', '.join(sorted(unknown))}")
    result = evaluate_checkpoint(args.run_dir, **options)
    if result is None:
        return _fail("episodes must be ≥ 1")
    print(
        f"{result['task']} at frame {result['frame']}: return {result['episode_reward']:.1f} "
        f"± {result['episode_reward_std']:.1f} over {result['episodes']} episodes"
        + (f", success rate {result['success_rate']:.0%}" if "success_rate" in result else "")
        + (f"; video {result['video']}" if "video" in result else "")
    )
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    cfg = resolve(parse_overrides(args.overrides))
    cfg.out = cfg.out or default_out(cfg)
    print(cfg.to_yaml(), end="")
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    from dormant.envs import task_listing

    for name, note in task_listing():  # every suite's tasks, registered and entry-point ones included
        print(f"{name:40s} {note}".rstrip())
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from dormant.experiments.plot import plot_run

    run_dir = Path(args.run_dir)
    if not (run_dir / "eval.csv").exists() and not (run_dir / "train.csv").exists():
        return _fail(f"{run_dir} has no train.csv or eval.csv")
    print(plot_run(run_dir))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from dormant.experiments.sweep import run_sweep

    return run_sweep(args.overrides, yes=args.yes)


def cmd_report(args: argparse.Namespace) -> int:
    from dormant.experiments.report import write_report

    paths = [item for item in args.items if "=" not in item]
    options = parse_overrides([item for item in args.items if "=" in item])
    ranges = {
        key.split(".", 1)[1]: _score_range(key, options.pop(key))
        for key in list(options)
        if key.startswith("score_range.")
    }
    unknown = set(options) - {"out", "reps", "seed", "broken_fraction"}
    if unknown:
        raise ConfigError(
            f"report accepts out=, reps=, seed=, broken_fraction=, score_range.<task>=; got "
            f"{', '.join(sorted(unknown))}"
        )
    if not paths:
        raise ConfigError("report needs a sweep directory or run directories")
    try:
        reps, seed = int(options.get("reps", 2000)), int(options.get("seed", 0))
        fraction = float(options.get("broken_fraction", 0.5))
    except ValueError as err:
        raise ConfigError(f"report options: {err}") from None
    if reps < 100 or not 0 < fraction < 1:
        raise ConfigError("reps must be ≥ 100 and broken_fraction in (0, 1)")
    default = Path(paths[0]) / "report" if len(paths) == 1 else Path("report")
    md, page = write_report(
        [Path(p) for p in paths],
        Path(options.get("out", default)),
        reps=reps,
        seed=seed,
        broken_fraction=fraction,
        score_ranges=ranges,
    )
    print(f"report: {md}\n        {page}")
    return 0


def _score_range(key: str, value: str) -> tuple[float, float]:
    """``score_range.<task>=low,high`` → (low, high): finite, low < high."""
    import math

    try:
        low, high = (float(part) for part in value.split(","))
    except ValueError:
        raise ConfigError(f"{key}={value!r}: give low,high (e.g. {key}=0,100)") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(f"{key}={value!r}: low and high must be finite numbers with low < high")
    return low, high


def options_help() -> str:
    """Every training option as ``key=default  what it is (unit)``, grouped by section."""
    import dataclasses

    import dormant.config as config

    root = config.Config()
    lines = [
        "options (key=value; dotted keys for sections; units are in the names: *_frames are",
        "simulator frames, *_steps agent steps, *_updates gradient updates):",
        "",
    ]
    sections: list[tuple[str, Any]] = [("", root)]  # the root and each dataclass section
    sections += [
        (f.name, getattr(root, f.name))
        for f in dataclasses.fields(root)
        if dataclasses.is_dataclass(getattr(root, f.name))
    ]
    for name, node in sections:
        lines.append(f"{name or 'run'}:")
        notes = config.field_docs(type(node))
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            if dataclasses.is_dataclass(value):
                continue
            key = f"{name + '.' if name else ''}{f.name}={value}"
            lines.append(f"  {key:44s} {notes.get(f.name, '')}".rstrip())
        lines.append("")
    lines.append("shorthands: " + ", ".join(f"{k}= → {v}=" for k, v in config.SHORTHANDS.items()))
    lines.append("presets: " + ", ".join(config.PRESETS) + " (preset=NAME); agents: " + ", ".join(config.AGENTS))
    return "\n".join(lines)


class _VersionAction(argparse.Action):
    """``--version``, worked out only when asked (from a checkout it runs git)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from dormant.version import version

        print(f"dormant {version()}")
        parser.exit()


EVAL_HELP = """options:
  episodes=N      evaluation episodes, ≥ 1 (default 10)
  video=true      also write DIR/videos/checkpoint_eval_<frame>.mp4 of the first episode
  device=NAME     auto | cpu | cuda | cuda:N (default auto)
  seed=N          the evaluation environment's seed (default: the run's seed)

Evaluates the policy in DIR/checkpoint.pt with its mean action and prints the return
(and success rate on MetaWorld and Adroit)."""

SWEEP_HELP = """what to run (each may be a comma-separated list: a list is an axis of the grid):
  agent=a,b           agents (default drm); `dormant train --help` lists them
  task=x,y            tasks (default dmc/cartpole_swingup); `dormant tasks` lists them
  seeds=N | seed=a,b  seeds 1..N (default 1), or exactly these seeds
  key=v1,v2           any training option (`dormant train --help`); a list makes an axis
  frames=N, threads=N ...  one value: every run gets it

where and how:
  out=DIR             the sweep's directory (required); the same command again continues it
  jobs=N              concurrent runs on this machine (default: one per GPU, else one per 2
                      cores, never more than memory holds); each run uses 1 torch thread
                      (measured fastest; docs/benchmarks.md) unless threads= is given
  retries=N           attempts after a run fails (default 2)
  max_runs=N          refuse the sweep if its grid holds more than N runs (default 1,000;
                      --yes lifts the bound)
  backend=local|ray   local processes (default) or a Ray cluster
  address=ADDR        Ray: the cluster to join (default: a local Ray instance)
  cpus_per_run=X      Ray: CPUs requested per run (default 1; also its threads)
  gpus_per_run=X      Ray: GPUs per run, a fraction ≤ 1 or a whole number (default 1 when the
                      cluster has GPUs)

Runs go to out/<suite>_<task>/<agent>[/<axis values>]/seed<k>; `dormant report out` summarises them.
Exit status: 0 all finished, 1 some failed, 130 stopped (Ctrl-C; the same command resumes)."""

REPORT_HELP = """options:
  out=DIR             where report.md, report.html and the figures go (default: DIR/report for
                      one directory, ./report for several)
  reps=N              bootstrap resamples for the confidence intervals, ≥ 100 (default 2000)
  seed=N              the bootstrap's seed (default 0)
  broken_fraction=X   a seed is broken when its normalized final score is below this
                      fraction of the median of the group's other seeds, in (0, 1) (default 0.5)
  score_range.TASK=LOW,HIGH
                      normalise TASK's scores by this range (e.g. random and expert returns),
                      for tasks whose range dormant does not know (gym: tasks, your own suites),
                      so that they enter the aggregates (IQM, profiles); repeatable

DIR: a sweep directory, or run directories (any mix). See docs/report.md for how to read it."""


def _command(
    sub: Any, name: str, *, summary: str, usage: str, description: str = "", epilog: str = "", **extra: Any
) -> argparse.ArgumentParser:
    """A subcommand with its own usage line and its options listed in its help."""
    return sub.add_parser(
        name,
        help=summary,
        usage=f"dormant {name} {usage}",
        description=description or summary,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        **extra,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dormant", usage=USAGE)
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="print the version (and git commit) and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    train = _command(
        sub,
        "train",
        summary="train or resume a run",
        usage="[--resume DIR] [key=value ...]",
        description="Train a new run, or continue one with --resume DIR.",
        epilog=options_help(),
    )
    train.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the run in DIR (on resume only frames=, threads=, "
        "log.progress=, log.progress_every_s=, log.tensorboard=, eval.video=, checkpoint_every_frames=, "
        "replay.device=)",
    )
    train.add_argument("overrides", nargs="*", metavar="key=value")
    train.set_defaults(func=cmd_train)
    ev = _command(sub, "eval", summary="evaluate a run's checkpoint", usage="DIR [key=value ...]", epilog=EVAL_HELP)
    ev.add_argument("run_dir", metavar="DIR")
    ev.add_argument("overrides", nargs="*", metavar="key=value")
    ev.set_defaults(func=cmd_eval)
    conf = _command(
        sub,
        "config",
        summary="print the fully resolved configuration (YAML)",
        usage="[key=value ...]",
        epilog="Takes the options of `dormant train` (see `dormant train --help`) and prints every "
        "value a run would use, presets applied.",
    )
    conf.add_argument("overrides", nargs="*", metavar="key=value")
    conf.set_defaults(func=cmd_config)
    tasks = _command(sub, "tasks", summary="list the tasks of every suite", usage="")
    tasks.set_defaults(func=cmd_tasks)
    plot = _command(
        sub,
        "plot",
        summary="write DIR/learning_curve.png",
        usage="DIR",
        epilog="Return (and success rate), against frames, with the published DrQ-v2 curve where one "
        "exists; DrM runs also show β, σ, λ and α(β).",
    )
    plot.add_argument("run_dir", metavar="DIR")
    plot.set_defaults(func=cmd_plot)
    sweep = _command(
        sub,
        "sweep",
        summary="run a grid of agents × tasks × seeds × option values",
        usage="agent=a,b task=x,y seeds=N [key=v1,v2 ...] out=DIR [jobs=N backend=local|ray ...] [--yes]",
        epilog=SWEEP_HELP,
    )
    sweep.add_argument(
        "--yes",
        action="store_true",
        help="launch a grid of more than 1,000 runs (without it such a sweep is refused, saying its size)",
    )
    sweep.add_argument("overrides", nargs="*", metavar="key=value")
    sweep.set_defaults(func=cmd_sweep)
    report = _command(
        sub,
        "report",
        summary="a Markdown + HTML report of a sweep or of run directories",
        usage="DIR [DIR ...] [key=value ...]",
        epilog=REPORT_HELP,
    )
    report.add_argument("items", nargs="*", metavar="DIR | key=value")
    report.set_defaults(func=cmd_report)
    return parser


def _die_with_parent() -> None:
    """Children of a sweep (DORMANT_PARENT_PID set) get SIGTERM when the sweep dies, so
    they checkpoint and stop instead of running on unsupervised (Linux only). SIGTERM,
    not SIGINT: the kernel may send it more than once, and only SIGTERM is idempotent."""
    parent = os.environ.get("DORMANT_PARENT_PID")
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != int(parent):  # the sweep died before prctl took effect
        sys.exit(130)


def _importable_working_directory() -> None:
    """Make ``task=gym:mymodule:MyEnv`` find ``mymodule.py`` in the working directory, as
    ``python -m dormant`` does. Appended, not prepended: a file there never shadows an
    installed package (elsewhere, put the folder on PYTHONPATH)."""
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.append(cwd)


def main(argv: Sequence[str] | None = None) -> int:
    _importable_working_directory()
    args = build_parser().parse_args(argv)
    _die_with_parent()
    try:
        return args.func(args)
    except (ConfigError, CheckpointError, RenderingUnavailable, MissingExtraError) as err:
        return _fail(str(err))
    except LockedError as err:
        return _fail(str(err), EXIT_LOCKED)
    except BrokenPipeError:  # e.g. `dormant tasks | head`
        return 0
    except RunWriteError as err:
        return _fail(str(err), EXIT_WRITE_FAILED)
    except OSError as err:
        if is_write_failure(err):
            return _fail(describe_write_failure(err), EXIT_WRITE_FAILED)
        raise


if __name__ == "__main__":
    sys.exit(main())
