"""`dormant` command line: train, resume, evaluate, inspect configuration and tasks."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from dormant.config import ConfigError, default_out, from_dict, parse_overrides, resolve, set_field, validate
from dormant.errors import MissingExtraError
from dormant.envs.rendering import RenderingUnavailable, configure_rendering
from dormant.experiments.runs import BOOKKEEPING, clear_run_dir, never_checkpointed, read_config
from dormant.training.checkpoint import FILENAME, CheckpointError, load_checkpoint
from dormant.training.exit_codes import EXIT_CONFIG, EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_WRITE_FAILED
from dormant.training.files import RunWriteError, describe_write_failure, is_write_failure
from dormant.training.lock import EXIT_LOCKED, DirLock, LockedError
from dormant.training.memory import memory_problem

USAGE = """dormant <command> [key=value ...]

commands:
  train   key=value ...            train a new run (e.g. agent=drqv2 task=dmc/cartpole_swingup frames=100000)
  train   --resume DIR [frames=N]  continue a run where it stopped (optionally with a larger budget)
  eval    DIR [episodes=10 video=true]  evaluate a run's checkpoint
  config  key=value ...            print the fully resolved configuration (YAML)
  tasks                            list the tasks
  plot    DIR                      write DIR/learning_curve.png
  sweep   agent=a,b task=x,y seeds=N out=DIR [frames=N jobs=N retries=2 backend=local|ray ...]
                                   run a grid of runs; the same command again continues it
  report  DIR [DIR ...] [out=DIR]  a Markdown + HTML report of a sweep or of run directories
"""


def _fail(message: str, code: int = EXIT_CONFIG) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


# Options a resume may change: none of them changes the numbers the run produces.
RESUME_OPTIONS = ("frames", "threads", "log.progress", "log.progress_every_s", "log.tensorboard", "eval.video",
                  "checkpoint_every_frames")


def _check_new_run_dir(path: Path) -> None:
    """``path`` (an existing directory, see ``_prepare_run_dir``) may take a new run."""
    if never_checkpointed(path):
        return  # a run killed before its first checkpoint: nothing to resume, started again below
    if path.exists() and any(p.name not in BOOKKEEPING for p in path.iterdir()):
        hint = (f"resume it with `dormant train --resume {path}`" if (path / FILENAME).exists()
                else "it is not empty")
        raise ConfigError(f"run directory {path} already holds a run; {hint}, or choose another out=")


def _restart_note(path: Path) -> None:
    print(f"{path} holds a run that stopped before its first checkpoint: starting it again from frame 0 "
          "(its earlier logs are removed)", flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    """Train a new run or resume one, holding the run directory's lock throughout."""
    overrides = parse_overrides(args.overrides)
    if args.resume:
        run_dir = Path(args.resume)
        if not (run_dir / FILENAME).exists() and not never_checkpointed(run_dir):
            load_checkpoint(run_dir)  # raises the usual "no checkpoint at ..." error
    else:
        cfg = resolve(overrides)
        run_dir = Path(cfg.out or default_out(cfg))
        cfg.out = str(run_dir)
        _prepare_run_dir(run_dir)
        _check_new_run_dir(run_dir)
    with DirLock(run_dir):
        checkpoint = None
        if args.resume and (run_dir / FILENAME).exists():
            checkpoint = load_checkpoint(run_dir)
            cfg = _resumed_config(checkpoint["config"], overrides, int(checkpoint["counters"]["step"]))
        elif args.resume:  # no checkpoint yet: the same configuration, from the start
            saved = read_config(run_dir)
            if not isinstance(saved, dict):
                raise ConfigError(f"{run_dir} has neither a checkpoint nor a readable config.yaml to start "
                                  "again from; start a new run with `dormant train ... out=DIR`")
            cfg = _resumed_config(saved, overrides, 0)
            _restart_note(run_dir)
            clear_run_dir(run_dir)
        else:
            _check_new_run_dir(run_dir)  # again, now that no one else can start it
            if never_checkpointed(run_dir):
                _restart_note(run_dir)
                clear_run_dir(run_dir)
        problem = memory_problem(cfg)
        if problem:
            raise ConfigError(problem)
        return _train_locked(cfg, run_dir, checkpoint)


def _prepare_run_dir(path: Path) -> None:
    """The run directory exists (created if need be), or a one-line reason why it cannot."""
    try:
        is_file = path.exists() and not path.is_dir()
        if not is_file:
            path.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # e.g. a name too long for the file system, or a file on the way
        raise ConfigError(f"out={path}: cannot create the run directory ({err.strerror or err})") from None
    if is_file:
        raise ConfigError(f"out={path} is a file, not a directory; choose another out=")


def _resumed_config(saved: dict, overrides: dict[str, str], steps_done: int):
    try:
        cfg = from_dict(saved)
    except ConfigError as err:
        raise ConfigError(f"the run's saved configuration is not valid for this dormant: {err}") from None
    refused = sorted(set(overrides) - set(RESUME_OPTIONS))
    if refused:
        raise ConfigError(f"on resume only {', '.join(o + '=' for o in RESUME_OPTIONS)} may change (they leave the "
                          f"numbers as they are); refused: {', '.join(refused)} (start a new run to change them)")
    for key, value in overrides.items():
        set_field(cfg, key, value)
    validate(cfg)
    done = steps_done * cfg.env.action_repeat
    if cfg.frames < done:
        raise ConfigError(f"frames={cfg.frames} is below the {done} frames this run already trained")
    return cfg


def _train_locked(cfg, run_dir: Path, checkpoint) -> int:
    from dormant.training.trainer import NonFiniteLossError, Trainer

    configure_rendering(cfg.env.obs == "pixels" or cfg.eval.video)
    trainer = Trainer(cfg, run_dir, checkpoint=checkpoint)
    print(f"run directory: {run_dir}  ({cfg.task}, {cfg.agent.name}, {cfg.env.obs}, "
          f"{cfg.frames} frames, device {trainer.device})", flush=True)
    try:
        status = trainer.train()
    except NonFiniteLossError as err:
        return _fail(str(err), EXIT_DIVERGED)
    finally:
        trainer.close()
    from dormant.experiments.plot import plot_run

    png = plot_run(run_dir)
    if status == "interrupted":
        print(f"interrupted at frame {trainer.frame}; checkpoint saved. Continue with: "
              f"dormant train --resume {run_dir}")
        return EXIT_INTERRUPTED
    print(f"finished {trainer.frame} frames; learning curve: {png}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import torch

    from dormant.agents import make_agent
    from dormant.envs import make_env
    from dormant.training.evaluation import evaluate
    from dormant.training.trainer import resolve_device

    options = parse_overrides(args.overrides)
    unknown = set(options) - {"episodes", "video", "device", "seed"}
    if unknown:
        raise ConfigError(f"eval accepts episodes=, video=, device=, seed=; got {', '.join(sorted(unknown))}")
    checkpoint = load_checkpoint(Path(args.run_dir))
    cfg = from_dict(checkpoint["config"])
    for key, value in {"eval.episodes": options.get("episodes", 10), "eval.video": options.get("video", "false"),
                       "device": options.get("device", "auto"), "seed": options.get("seed", cfg.seed)}.items():
        set_field(cfg, key, value)
    validate(cfg)
    configure_rendering(cfg.env.obs == "pixels" or cfg.eval.video)
    device = resolve_device(cfg.device)
    env = make_env(cfg, seed=cfg.seed)
    agent = make_agent(cfg, env.obs_shape, env.action_dim, device=device, proprio_dim=env.proprio_dim)
    agent.load_state_dict(checkpoint["agent"])
    torch.manual_seed(cfg.seed)
    step = int(checkpoint["counters"]["step"])
    video = Path(args.run_dir) / "videos" / f"checkpoint_eval_{step * cfg.env.action_repeat}.mp4"
    try:
        result = evaluate(agent, env, cfg.eval.episodes, step=step, action_repeat=cfg.env.action_repeat,
                          video_path=video if cfg.eval.video else None)
    finally:
        env.close()
    if result is None:
        return _fail("episodes must be ≥ 1")
    print(f"{cfg.task} at frame {step * cfg.env.action_repeat}: return {result['episode_reward']:.1f} "
          f"± {result['episode_reward_std']:.1f} over {cfg.eval.episodes} episodes"
          + (f", success rate {result['success_rate']:.0%}" if "success_rate" in result else "")
          + (f"; video {video}" if cfg.eval.video else ""))
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    cfg = resolve(parse_overrides(args.overrides))
    cfg.out = cfg.out or default_out(cfg)
    print(cfg.to_yaml(), end="")
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    from dormant.envs import task_names
    from dormant.envs.dmc import dmc_tier

    notes = {"metaworld": lambda t: "sparse success reward" if t.endswith("-sparse") else "dense reward",
             "adroit": lambda t: "pixels + 24-d hand proprioception", "dmc": dmc_tier}
    for name in task_names():
        suite, task = name.split("/", 1)
        print(f"{name:40s} {notes[suite](task)}")
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
    import inspect
    import re

    import dormant.config as config

    comments: dict[str, dict[str, str]] = {}
    current = ""
    for line in inspect.getsource(config).splitlines():
        klass = re.match(r"class (\w+)", line)
        if klass:
            current = klass.group(1)
            continue
        found = re.match(r"    (\w+): [^=]+=.*?#\s*(.*)$", line)
        if found and current:
            comments.setdefault(current, {})[found.group(1)] = found.group(2)
    root = config.Config()
    lines = ["options (key=value; dotted keys for sections; units are in the names: *_frames are",
             "simulator frames, *_steps agent steps, *_updates gradient updates):", ""]
    sections: list[tuple[str, object]] = [("", root)]
    sections += [(f.name, getattr(root, f.name)) for f in dataclasses.fields(root)
                 if dataclasses.is_dataclass(getattr(root, f.name))]
    for name, node in sections:
        lines.append(f"{name or 'run'}:")
        notes = comments.get(type(node).__name__, {})
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


def build_parser() -> argparse.ArgumentParser:
    from dormant import __version__

    parser = argparse.ArgumentParser(prog="dormant", usage=USAGE)
    parser.add_argument("--version", action="version", version=f"dormant {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train or resume a run", usage="dormant train [--resume DIR] [key=value ...]",
                           description="Train a new run, or continue one with --resume DIR.",
                           epilog=options_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("--resume", metavar="DIR", help="continue the run in DIR (on resume only frames=, threads=, "
                       "log.progress=, log.progress_every_s=, log.tensorboard=, eval.video=, checkpoint_every_frames=)")
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
    sweep = sub.add_parser("sweep", help="run a grid of agents × tasks × seeds")
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
