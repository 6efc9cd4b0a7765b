"""Start or resume one training run as ``dormant train`` does: resolve and check the
configuration, prepare and lock the run directory, check memory, train, plot.

The command line and the Python API (``dormant.train``) both go through ``launch``, so
they behave the same (rendering set-up, resume rules, Ctrl-C, logs, the learning curve).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dormant.config import AGENTS, OBS_KINDS, Config, ConfigError, default_out, from_dict, resolve, set_field, validate
from dormant.config.budget import cap_budget
from dormant.experiments.runfiles import read_run_config
from dormant.experiments.runs import BOOKKEEPING, clear_run_dir, never_checkpointed
from dormant.training.checkpoint import FILENAME, load_checkpoint
from dormant.training.lock import DirLock
from dormant.training.memory import device_memory_problem, memory_problem
from dormant.training.threads import describe_threads

if TYPE_CHECKING:
    from dormant.training.callbacks import Callback


@dataclass(frozen=True)
class RunResult:
    """How a run ended: its directory, status (finished | interrupted), the frames trained,
    the last evaluation (``None`` if none ran) and the learning-curve image."""

    run_dir: Path
    status: str
    frames: int
    last_eval: dict[str, float] | None
    learning_curve: Path | None


# Options a resume may change: none of them changes the numbers the run produces.
RESUME_OPTIONS = (
    "frames",
    "threads",
    "log.progress",
    "log.progress_every_s",
    "log.tensorboard",
    "eval.video",
    "checkpoint_every_frames",
    "replay.device",
)


def check_callbacks(callbacks: Any) -> list[Callback]:
    """``callbacks`` as a list of ``Callback`` objects, or ``ConfigError`` saying which item is not one."""
    from dormant.training.callbacks import HOOKS, Callback

    if isinstance(callbacks, (Callback, str, bytes)) or not isinstance(callbacks, (list, tuple)):
        raise ConfigError(
            f"callbacks= takes a list of dormant.Callback objects; got {type(callbacks).__name__}: {callbacks!r:.80}"
        )
    for i, callback in enumerate(callbacks):
        if isinstance(callback, type):
            raise ConfigError(
                f"callbacks[{i}] is the class {callback.__name__}, not an object of it: pass {callback.__name__}(...)"
            )
        if not isinstance(callback, Callback):
            lacking = [hook for hook in HOOKS if not callable(getattr(callback, hook, None))]
            if lacking:
                raise ConfigError(
                    f"callbacks[{i}] ({type(callback).__name__}: {callback!r:.60}) is not a "
                    f"dormant.Callback: it has no {lacking[0]}(); subclass dormant.Callback"
                )
        every = getattr(callback, "every_frames", 0)
        if not isinstance(every, int) or isinstance(every, bool) or every < 0:
            raise ConfigError(f"callbacks[{i}].every_frames must be a whole number ≥ 0, got {every!r}")
    return list(callbacks)


def recheck(config: Config) -> Config:
    """A copy of a ``Config`` built or changed by hand, checked as ``resolve`` checks
    ``key=value`` options: every field converted from its value as the command line would
    (so NaN, infinities and wrong types are refused with the same words), the ranges, and
    the task, agent and observation kind."""
    import dataclasses

    from dormant.envs import check_obs, check_task, check_task_name
    from dormant.envs.continual import canonical_task
    from dormant.errors import check_choice, closest

    if not isinstance(config, Config):
        raise ConfigError(f"config= takes a dormant Config; got {type(config).__name__}")
    for section in dataclasses.fields(Config):
        default = getattr(Config(), section.name)
        value = getattr(config, section.name, None)
        if dataclasses.is_dataclass(default) and type(value) is not type(default):
            raise ConfigError(
                f"config.{section.name} is a {type(value).__name__}, not the "
                f"{type(default).__name__} section (set its fields: config.{section.name}.OPTION = ...)"
            )
    for prefix, node in [
        ("", config),
        *(
            (f.name + ".", getattr(config, f.name))
            for f in dataclasses.fields(Config)
            if dataclasses.is_dataclass(getattr(config, f.name))
        ),
    ]:
        names = {f.name for f in dataclasses.fields(node)}
        for attr in vars(node):
            if attr not in names:
                known = [prefix + name for name in names]
                raise ConfigError(
                    f"unknown option {prefix + attr!r}{closest(prefix + attr, known)} (set on the Config by hand)"
                )
    try:
        data = config.to_dict()
    except Exception as err:  # a value deepcopy cannot copy
        raise ConfigError(
            f"the Config holds a value that is not an option value ({type(err).__name__}: {err})"
        ) from None
    cfg = from_dict(data)  # set_field converts and type-checks every field; validate() the ranges
    cfg.task = canonical_task(cfg.task)  # a named scenario: its task list, as resolve stores it
    check_task_name(cfg.task)
    check_choice("agent", cfg.agent.name, AGENTS)
    check_choice("observation kind (obs)", cfg.env.obs, OBS_KINDS)
    check_obs(cfg.task, cfg.env.obs)
    check_task(cfg)
    return cfg


def _check_new_run_dir(path: Path) -> None:
    """``path`` (an existing directory, see ``_prepare_run_dir``) may take a new run."""
    if never_checkpointed(path):
        return  # a run killed before its first checkpoint: nothing to resume, started again below
    if path.exists() and any(p.name not in BOOKKEEPING for p in path.iterdir()):
        hint = f"resume it with `dormant train --resume {path}`" if (path / FILENAME).exists() else "it is not empty"
        raise ConfigError(f"run directory {path} already holds a run; {hint}, or choose another out=")


def _restart_note(path: Path) -> None:
    print(
        f"{path} holds a run that stopped before its first checkpoint: starting it again from frame 0 "
        "(its earlier logs are removed)",
        flush=True,
    )


def launch(
    overrides: Mapping[str, Any] | None = None,
    *,
    resume: str | Path | None = None,
    config: Config | None = None,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train a new run (from ``overrides`` or a ready ``config``) or resume the run in
    ``resume`` (``overrides`` may then change only ``RESUME_OPTIONS``), holding the run
    directory's lock throughout. Raises ``ConfigError`` (and friends) before any work on bad
    input, ``NonFiniteLossError`` when an update diverges."""
    overrides = dict(overrides or {})
    callbacks = check_callbacks(callbacks)
    if resume:
        run_dir = Path(resume)
        if not (run_dir / FILENAME).exists() and not never_checkpointed(run_dir):
            load_checkpoint(run_dir)  # raises the usual "no checkpoint at ..." error
    else:
        cfg = recheck(config) if config is not None else resolve(overrides)
        if config is not None:
            for key, value in overrides.items():
                set_field(cfg, key, value)
            cap_budget(cfg)
            validate(cfg)
        run_dir = Path(cfg.out or default_out(cfg))
        cfg.out = str(run_dir)
        _prepare_run_dir(run_dir)
        _check_new_run_dir(run_dir)
    with DirLock(run_dir):
        checkpoint = None
        if resume and (run_dir / FILENAME).exists():
            checkpoint = load_checkpoint(run_dir)
            cfg = _resumed_config(checkpoint["config"], overrides, int(checkpoint["counters"]["step"]))
        elif resume:  # no checkpoint yet: the same configuration, from the start
            saved = read_run_config(run_dir)  # a damaged one is refused, naming the file
            if not isinstance(saved, dict):
                raise ConfigError(
                    f"{run_dir} has neither a checkpoint nor a readable config.yaml to start "
                    "again from; start a new run with `dormant train ... out=DIR`"
                )
            cfg = _resumed_config(saved, overrides, 0)
            _restart_note(run_dir)
            clear_run_dir(run_dir)
        else:
            _check_new_run_dir(run_dir)  # again, now that no one else can start it
            if never_checkpointed(run_dir):
                _restart_note(run_dir)
                clear_run_dir(run_dir)
        problem = memory_problem(cfg) or device_memory_problem(cfg)
        if problem:
            raise ConfigError(problem)
        _warn_workers(cfg.env.workers)
        return _train_locked(cfg, run_dir, checkpoint, callbacks)


def _warn_workers(workers: int) -> None:
    """More env workers than cores share them: each step waits for the slowest worker, and the
    run is slower than with one worker per core (it still trains the same numbers)."""
    cores = len(os.sched_getaffinity(0))
    if workers > 2 * cores:
        print(
            f"warning: env.workers={workers} is far above this machine's {cores} CPU cores: the workers share "
            f"them and each step waits for the slowest; env.workers={cores} (one per core) is usually faster",
            file=sys.stderr,
            flush=True,
        )


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
        raise ConfigError(
            f"on resume only {', '.join(o + '=' for o in RESUME_OPTIONS)} may change (they leave the "
            f"numbers as they are); refused: {', '.join(refused)} (start a new run to change them)"
        )
    for key, value in overrides.items():
        set_field(cfg, key, value)
    done = steps_done * cfg.env.action_repeat
    cap_budget(cfg, done_frames=done)
    validate(cfg)
    if cfg.frames < done:
        raise ConfigError(f"frames={cfg.frames} is below the {done} frames this run already trained")
    return cfg


def _train_locked(
    cfg: Config, run_dir: Path, checkpoint: dict[str, Any] | None, callbacks: Sequence[Callback]
) -> RunResult:
    from dormant.training.trainer import Trainer

    trainer = Trainer(cfg, run_dir, checkpoint=checkpoint, callbacks=callbacks)
    print(
        f"run directory: {run_dir}  ({cfg.task}, {cfg.agent.name}, {cfg.env.obs}, "
        f"{cfg.frames} frames, device {trainer.device}, {describe_threads(trainer.threads, trainer.threads_why)})",
        flush=True,
    )
    try:
        status = trainer.train()
    finally:
        trainer.close()
    from dormant.experiments.plot import plot_run

    png = plot_run(run_dir)
    if status == "interrupted":
        print(
            f"interrupted at frame {trainer.frame}; checkpoint saved. Continue with: dormant train --resume {run_dir}"
        )
    else:
        print(f"finished {trainer.frame} frames; learning curve: {png}")
    return RunResult(run_dir, status, trainer.frame, trainer.last_eval, png)
