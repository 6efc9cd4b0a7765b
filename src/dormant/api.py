"""dormant from Python: the same runs as the ``dormant`` command, as functions.

```pycon
>>> import dormant
>>> cfg = dormant.make_config(agent="drm", task="dmc/cartpole_balance", obs="states", frames=40_000)
>>> result = dormant.train(cfg, out="runs/api")           # RunResult(run_dir, status, frames, last_eval, ...)
>>> logs = dormant.load_logs(result.run_dir)              # logs.eval["episode_reward"], logs.train[...]
>>> policy = dormant.load_agent(result.run_dir)           # policy.act(observation) -> action in [-1, 1]
>>> dormant.evaluate(result.run_dir, episodes=10)         # {"episode_reward": ..., ...}
```

``train`` goes through the same code as ``dormant train`` (configuration checks, run
directory lock, headless rendering set-up, memory check, Ctrl-C → checkpoint, logs,
learning curve), so a run started here can be resumed from the command line and the
other way round.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dormant.config import Config, ConfigError, parse_overrides, resolve

if TYPE_CHECKING:
    from dormant.interfaces import Agent, Env
    from dormant.training.callbacks import Callback
    from dormant.training.launch import RunResult


def _overrides(args: Sequence[str | Mapping[str, Any]], options: Mapping[str, Any]) -> dict[str, Any]:
    """``"k=v"`` strings, mappings and keyword options (``__`` for a dot) as one override dict."""
    out: dict[str, Any] = {}
    for arg in args:
        if isinstance(arg, str):
            out.update(parse_overrides([arg]))
        elif isinstance(arg, Mapping):
            out.update(_flat(arg))
        else:
            raise ConfigError(f"expected 'key=value' strings or a mapping, got {type(arg).__name__}: {arg!r}")
    out.update(_flat({key.replace("__", "."): value for key, value in options.items()}))
    return out


def _flat(mapping: Mapping[Any, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys, as a saved config.yaml nests them: ``{"agent": {"lr": 1e-4}}``
    is ``agent.lr=1e-4`` (not an agent named by a mapping)."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            if not value:
                raise ConfigError(f"{prefix}{key}: an empty mapping sets nothing; give {prefix}{key}.OPTION=value")
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def make_config(*overrides: str | Mapping[str, Any], **options: Any) -> Config:
    """The resolved configuration for CLI-style overrides: ``make_config("agent.lr=3e-4",
    task="dmc/walker_walk", drm__threshold=0.1)`` (keyword ``__`` stands for a dot).
    Unknown options and bad values raise ``ConfigError`` naming the closest valid one."""
    return resolve(_overrides(overrides, options))


def train(
    config: Config | Mapping[str, Any] | Sequence[str] | None = None,
    *,
    callbacks: Sequence[Callback] = (),
    **options: Any,
) -> RunResult:
    """Train one run; returns how it ended (``RunResult``: run_dir, status, frames, last_eval,
    learning_curve). ``config`` is a ``Config`` (from ``make_config`` or built by hand), a
    mapping of overrides or a list of ``key=value`` strings; ``options`` override it
    (``out="runs/x"``, ``frames=10_000``). Raises ``ConfigError`` on bad input before any
    work, ``NonFiniteLossError`` if an update diverges (the agent is saved first)."""
    from dormant.training.launch import launch

    if isinstance(config, Config):
        return launch(_overrides((), options), config=config, callbacks=callbacks)
    if isinstance(config, str):  # one "key=value" string, not a list of its characters
        config = [config]
    if not (config is None or isinstance(config, (Mapping, list, tuple))):
        raise ConfigError(
            f"train() takes a Config, a mapping of options or a list of 'key=value' strings; got "
            f"{type(config).__name__}: {config!r:.80}"
        )
    args: tuple = () if config is None else (config,) if isinstance(config, Mapping) else tuple(config)
    return launch(_overrides(args, options), callbacks=callbacks)


def resume(run_dir: str | Path, *, callbacks: Sequence[Callback] = (), **options: Any) -> RunResult:
    """Continue a run where it stopped (``dormant train --resume``); ``options`` may change only
    what leaves the numbers unchanged (``frames``, ``threads``, ``log.*`` display options, …)."""
    from dormant.training.launch import launch

    return launch(_overrides((), options), resume=run_dir, callbacks=callbacks)


def evaluate(
    run_dir: str | Path, *, episodes: int = 10, video: bool = False, device: str = "auto", seed: int | None = None
) -> dict[str, Any]:
    """Evaluate a run's checkpoint (``dormant eval``): mean return, its std, length, success rate."""
    from dormant.training.evaluation import episodes_option, evaluate_checkpoint

    episodes = episodes_option(episodes)
    result = evaluate_checkpoint(run_dir, episodes=episodes, video=video, device=device, seed=seed)
    assert result is not None  # episodes ≥ 1
    return result


@dataclass
class RunLogs:
    """A run directory's logs as columns: numeric columns are float arrays (NaN where a row
    has no value), text columns (events' names and details) are arrays of ``str``. Every
    column the run's agent would log is there, empty until a row is logged (events without
    an intervention, diagnostics before the first ``log.diagnostics_every_updates``);
    ``notes`` says what was left out (a last row cut by a kill)."""

    run_dir: Path
    config: dict[str, Any]
    status: dict[str, Any]
    train: dict[str, np.ndarray] = field(default_factory=dict)
    eval: dict[str, np.ndarray] = field(default_factory=dict)
    diagnostics: dict[str, np.ndarray] = field(default_factory=dict)
    events: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def load_logs(run_dir: str | Path) -> RunLogs:
    """Read a run directory's config, status and CSV logs (train, eval, diagnostics, events),
    each checked: a damaged or foreign file raises ``ConfigError`` naming the file (and the
    line) and what is wrong; a last row cut by a kill is left out, with a note in ``notes``."""
    from dormant.experiments.plot import read_csv
    from dormant.experiments.runfiles import read_run_config, read_status

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is not a run directory ({'a file' if run_dir.exists() else 'does not exist'})")
    config = read_run_config(run_dir)
    if config is None:
        raise ConfigError(f"{run_dir} is not a run directory (no config.yaml)")
    status = read_status(run_dir / "status.json")
    notes: list[str] = []
    logs = {}
    for kind in ("train", "eval", "diagnostics", "events"):
        columns = read_csv(run_dir / f"{kind}.csv", text=True, notes=notes, status=status)
        rows = len(next(iter(columns.values()))) if columns else 0
        for name in expected_columns(kind, config):
            if name not in columns:
                columns[name] = np.full(rows, np.nan) if name not in ("event", "detail") else np.full(rows, "", str)
        logs[kind] = columns
    return RunLogs(run_dir, config, status or {}, **logs, notes=notes)


def expected_columns(kind: str, config: dict[str, Any]) -> list[str]:
    """The columns a run with this saved configuration writes to ``kind``.csv whatever
    happens in it (metrics an agent adds and per-layer columns come on top)."""
    from dormant.training.logger import BASE_COLUMNS, EVENT_COLUMNS

    if kind == "train":
        return [*BASE_COLUMNS, "buffer_transitions"]
    if kind == "eval":
        return [*BASE_COLUMNS, "episode_reward_std"]
    if kind == "events":
        return list(EVENT_COLUMNS)
    agent = config["agent"] if isinstance(config.get("agent"), dict) else {}
    env = config["env"] if isinstance(config.get("env"), dict) else {}
    log = config["log"] if isinstance(config.get("log"), dict) else {}
    value_based = agent.get("name") in ("dqn", "drq_eps")
    nets = ["critic", *([] if value_based else ["actor"]), *(["encoder"] if env.get("obs") == "pixels" else [])]
    try:
        extra = [float(t) for t in str(log.get("redo_taus_extra", "")).split(",") if t.strip()]
    except ValueError:
        extra = []
    columns = ["frame", "step", "episode", "elapsed_s", "updates"]
    for net in nets:
        columns += [
            *([f"{net}_dormant_ratio"] if net != "encoder" else []),
            f"{net}_redo_dormant_ratio",
            f"{net}_fau",
            f"{net}_weight_norm",
            *(f"{net}_redo_dormant_ratio_tau{t:g}" for t in extra),
        ]
    columns += ["critic_srank", "critic_feature_norm", "critic_grad_norm"]
    columns += [] if value_based else ["actor_grad_norm"]
    if "encoder" in nets:
        columns += ["encoder_srank", "encoder_feature_norm", "encoder_grad_norm"]
    return columns


class Policy:
    """A trained agent loaded from a checkpoint, acting with its mean action (no noise)."""

    def __init__(self, agent: Agent, config: Config, frame: int):
        self.agent, self.config, self.frame = agent, config, frame

    def act(self, observation: np.ndarray, proprio: np.ndarray | None = None) -> np.ndarray:
        """The action in [−1, 1] for one observation (stacked frames for pixels, as the env gives)."""
        step = self.frame // self.config.env.action_repeat
        return self.agent.act(observation, step, eval_mode=True, proprio=proprio)

    def make_env(self, seed: int | None = None) -> Env:
        """A fresh environment of the run's task, with the run's wrappers (frame stack, action repeat)."""
        return _make_env(self.config, self.config.seed if seed is None else seed)


def _make_env(cfg: Config, seed: int) -> Env:
    from dormant.envs import make_env
    from dormant.envs.registry import needs_gl
    from dormant.envs.rendering import configure_rendering

    configure_rendering(needs_gl(cfg) and cfg.env.obs == "pixels")
    return make_env(cfg, seed=seed)


def load_agent(run_dir: str | Path, *, device: str = "auto") -> Policy:
    """The agent in a run's checkpoint, ready to act (``Policy``); its networks are ``policy.agent``."""
    from dormant.config import from_dict
    from dormant.training.checkpoint import load_checkpoint
    from dormant.training.evaluation import agent_from_checkpoint

    checkpoint = load_checkpoint(Path(run_dir))
    cfg = from_dict(checkpoint["config"])
    env = _make_env(cfg, cfg.seed)  # the shapes come from the task's own wrapper
    try:
        agent = agent_from_checkpoint(cfg, checkpoint, env, device)
    finally:
        env.close()
    return Policy(agent, cfg, int(checkpoint["counters"]["step"]) * cfg.env.action_repeat)
