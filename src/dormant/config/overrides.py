"""From ``key=value`` strings (or a saved config) to a validated ``Config``.

Resolution order: defaults → task preset → named preset → obs preset → user. Unknown
keys and bad values fail before any work starts, naming the closest valid choice.
"""

from __future__ import annotations

import decimal
import functools
import math
import typing
from typing import Any

from dormant.config.budget import cap_budget
from dormant.config.checks import validate
from dormant.config.schema import (
    AGENT_FAMILY,
    AGENT_PRESETS,
    AGENT_SECTIONS,
    AGENTS,
    LEGACY_VALUES,
    OBS_KINDS,
    PRESETS,
    SHORTHANDS,
    STATE_PRESET,
    Config,
    field_paths,
)
from dormant.envs import check_obs, check_task, check_task_name, require_suite, task_preset
from dormant.envs.continual import canonical_task
from dormant.errors import ConfigError, MissingSuiteError, check_choice, closest


def _convert(key: str, raw: Any, kind: type) -> Any:
    if not isinstance(raw, str):  # from Python: the checks a string gets (finite, in range), by its text
        if (
            isinstance(raw, kind)
            and not (kind is int and isinstance(raw, bool))
            and not (isinstance(raw, float) and not math.isfinite(raw))
            and not (isinstance(raw, int) and abs(raw) > 2**63 - 1)
        ):
            return raw
        raw = str(raw)
    text = raw.strip()
    try:
        if kind is bool:
            lowered = text.lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            # Exact: "9007199254740993" stays itself (a float would round it); "1e6" is 10⁶.
            number = decimal.Decimal(text.replace("_", ""))
            if not number.is_finite() or number != number.to_integral_value():
                raise ValueError
            if abs(number) > 2**63 - 1:
                raise ConfigError(f"{key}={raw!r}: out of range (at most 2⁶³ − 1 in size)")
            return int(number)
        if kind is float:
            value = float(text.replace("_", ""))
            if not math.isfinite(value):
                raise ValueError
            return value
        return text
    except ConfigError:
        raise
    except (ValueError, decimal.InvalidOperation):
        raise ConfigError(f"{key}={raw!r}: expected {kind.__name__}") from None


@functools.lru_cache(maxsize=1)
def _config_paths() -> dict[str, type]:
    """``field_paths()`` of ``Config``, built once (read-only: set_field runs for every option of every resolve)."""
    return field_paths()


def set_field(cfg: Config, key: str, raw: Any) -> None:
    """Set one dotted field from a string (or value), converting and type-checking it."""
    key = SHORTHANDS.get(key, key)
    paths = _config_paths() if type(cfg) is Config else field_paths(cfg)
    if key not in paths:
        raise ConfigError(f"unknown option {key!r}{closest(key, list(paths) + list(SHORTHANDS))}")
    *parents, leaf = key.split(".")
    node: Any = cfg
    for part in parents:
        node = getattr(node, part)
    setattr(node, leaf, _convert(key, raw, paths[key]))


def parse_overrides(items: typing.Sequence[str]) -> dict[str, str]:
    """``["a.b=1", "task=dmc/x"]`` → ``{"a.b": "1", "task": "dmc/x"}`` (shorthands expanded)."""
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"expected key=value, got {item!r}")
        key, value = item.split("=", 1)
        key = SHORTHANDS.get(key.strip(), key.strip())
        if key in out:
            raise ConfigError(f"option {key!r} given twice")
        out[key] = value
    return out


def resolve(overrides: typing.Mapping[str, Any]) -> Config:
    """Build and validate the full configuration for ``key=value`` overrides."""

    overrides = {SHORTHANDS.get(k, k): v for k, v in overrides.items()}
    cfg = Config()
    paths = _config_paths()
    for key in overrides:  # report unknown keys before anything else
        if key not in paths:
            raise ConfigError(f"unknown option {key!r}{closest(key, list(paths) + list(SHORTHANDS))}")
    task = canonical_task(str(overrides.get("task", cfg.task)))  # a named scenario: its task list
    if "task" in overrides:
        overrides["task"] = task
    check_task_name(task)
    try:
        require_suite(task)
    except MissingSuiteError as err:
        raise ConfigError(str(err)) from None
    check_choice("agent", str(overrides.get("agent.name", cfg.agent.name)), AGENTS)
    obs = str(overrides.get("env.obs", cfg.env.obs))
    check_choice("observation kind (obs)", obs, OBS_KINDS)
    agent = str(overrides.get("agent.name", cfg.agent.name))
    for section, owner in AGENT_SECTIONS.items():
        if AGENT_FAMILY.get(agent, agent) != owner and any(key.startswith(section + ".") for key in overrides):
            users = [owner, *(a for a, family in AGENT_FAMILY.items() if family == owner)]
            raise ConfigError(f"{section}.* options apply to agent={'/'.join(users)} only (agent is {agent!r})")
    preset = str(overrides.get("preset", cfg.preset))
    if preset:
        check_choice("preset", preset, list(PRESETS))
    check_obs(task, obs)
    layers: list[typing.Mapping[str, Any]] = [task_preset(task, agent), AGENT_PRESETS.get(agent, {})]
    if preset:
        for section, owner in AGENT_SECTIONS.items():
            if AGENT_FAMILY.get(agent, agent) != owner and any(
                key.startswith(section + ".") for key in PRESETS[preset]
            ):
                raise ConfigError(
                    f"preset={preset} sets {section}.* options: it needs agent={owner} (agent is {agent!r})"
                )
        layers.append(PRESETS[preset])
    if obs == "states":
        layers.append(STATE_PRESET)
    layers.append(overrides)
    for layer in layers:
        for key, value in layer.items():
            set_field(cfg, key, value)
    cap_budget(cfg)  # $DORMANT_MAX_FRAMES only: testing the docs
    validate(cfg)
    check_task(cfg)  # the suite's own checks (a gym: task is built once here)
    return cfg


def flatten(data: typing.Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config dict as dotted ``key: value`` pairs."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, typing.Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def with_defaults(flat: typing.Mapping[str, Any]) -> dict[str, Any]:
    """A saved, flattened config completed with what its run used for options it predates:
    ``LEGACY_VALUES`` where the behaviour changed, else today's default."""
    defaults = {**flatten(Config().to_dict()), **LEGACY_VALUES}
    return {**{k: v for k, v in defaults.items() if k not in flat}, **flat}


def from_dict(data: typing.Mapping[str, Any]) -> Config:
    """Rebuild a Config saved with ``to_dict`` (e.g. from a run's config.yaml)."""
    cfg = Config()
    for key, value in flatten(data).items():
        set_field(cfg, key, value)
    validate(cfg)
    return cfg


def task_filename(task: str, *, suite_separator: str = "-") -> str:
    """A task name as one file or folder name: ``/`` becomes ``suite_separator``, ``:``
    (``gym:mod:Env``) becomes ``-`` and the ``,`` of a task sequence ``+``, which scp, rsync
    and other filesystems take as it is. Configurations and reports keep the real name."""
    return task.replace("/", suite_separator).replace(":", "-").replace(",", "+")


def default_out(cfg: Config) -> str:
    return f"runs/{task_filename(cfg.task)}-{cfg.agent.name}-s{cfg.seed}"
