"""`dormant` command line: train, resume, evaluate, inspect configuration and tasks."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from dormant.config import ConfigError, default_out, parse_overrides, resolve
from dormant.errors import MissingExtraError
from dormant.envs.rendering import RenderingUnavailable
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
    print(f"{result['task']} at frame {result['frame']}: return {result['episode_reward']:.1f} "
          f"± {result['episode_reward_std']:.1f} over {result['episodes']} episodes"
          + (f", success rate {result['success_rate']:.0%}" if "success_rate" in result else "")
          + (f"; video {result['video']}" if "video" in result else ""))
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

    return run_sweep(args.overrides)


def cmd_report(args: argparse.Namespace) -> int:
    from dormant.experiments.report import write_report

    paths = [item for item in args.items if "=" not in item]
    options = parse_overrides([item for item in args.items if "=" in item])
    unknown = set(options) - {"out", "reps", "seed", "broken_fraction"}
    if unknown:
        raise ConfigError(f"report accepts out=, reps=, seed=, broken_fraction=; got {', '.join(sorted(unknown))}")
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
    md, page = write_report([Path(p) for p in paths], Path(options.get("out", default)), reps=reps, seed=seed,
                            broken_fraction=fraction)
    print(f"report: {md}\n        {page}")
    return 0


def options_help() -> str:
    """Every training option as ``key=default  what it is (unit)``, grouped by section."""
    import dataclasses

    import dormant.config as config

    root = config.Config()
    lines = ["options (key=value; dotted keys for sections; units are in the names: *_frames are",
             "simulator frames, *_steps agent steps, *_updates gradient updates):", ""]
    sections: list[tuple[str, object]] = [("", root)]
    sections += [(f.name, getattr(root, f.name)) for f in dataclasses.fields(root)
                 if dataclasses.is_dataclass(getattr(root, f.name))]
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

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: ANN001
        from dormant.version import version

        print(f"dormant {version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dormant", usage=USAGE)
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="print the version (and git commit) and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train or resume a run", usage="dormant train [--resume DIR] [key=value ...]",
                           description="Train a new run, or continue one with --resume DIR.",
                           epilog=options_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("--resume", metavar="DIR", help="continue the run in DIR (on resume only frames=, threads=, "
                       "log.progress=, log.progress_every_s=, log.tensorboard=, eval.video=, checkpoint_every_frames=, "
                       "replay.device=)")
    train.add_argument("overrides", nargs="*", metavar="key=value")
    train.set_defaults(func=cmd_train)
    ev = sub.add_parser("eval", help="evaluate a checkpoint")
    ev.add_argument("run_dir")
    ev.add_argument("overrides", nargs="*")
    ev.set_defaults(func=cmd_eval)
    conf = sub.add_parser("config", help="print the resolved configuration")
    conf.add_argument("overrides", nargs="*")
    conf.set_defaults(func=cmd_config)
    tasks = sub.add_parser("tasks", help="list tasks")
    tasks.set_defaults(func=cmd_tasks)
    plot = sub.add_parser("plot", help="plot a run")
    plot.add_argument("run_dir")
    plot.set_defaults(func=cmd_plot)
    sweep = sub.add_parser("sweep", help="run a grid of agents × tasks × seeds × option values")
    sweep.add_argument("overrides", nargs="*")
    sweep.set_defaults(func=cmd_sweep)
    report = sub.add_parser("report", help="report on a sweep or run directories")
    report.add_argument("items", nargs="*")
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


def main(argv: Sequence[str] | None = None) -> int:
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
