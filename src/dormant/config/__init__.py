"""One typed configuration tree, resolved as defaults → task preset → named preset →
obs preset → user.

- ``schema``: the dataclasses (every option, its default and unit), presets, limits.
- ``overrides``: ``key=value`` parsing, ``resolve``, ``from_dict`` (a saved config).
- ``checks``: range and consistency checks (``validate``).
"""

from dormant.config.checks import check_choice, validate
from dormant.config.overrides import (
    default_out, flatten, from_dict, parse_overrides, resolve, set_field, task_filename, with_defaults,
)
from dormant.config.schema import (
    AGENT_PRESETS, AGENT_SECTIONS, AGENTS, LEGACY_VALUES, MAX_ACTION_REPEAT, MAX_FRAME_STACK, MAX_IMAGE_SIZE, MAX_SEED, MIN_IMAGE_SIZE, OBS_KINDS,
    PRESETS, REDO_NETS, SHORTHANDS, STATE_PRESET, AgentConfig, ALIXConfig, Config, DrMConfig, EnvConfig, EvalConfig, LogConfig,
    PlasticityConfig, ReplayConfig, SACConfig, TACOConfig, diagnostics_taus, field_docs, field_paths, redo_nets,
)
from dormant.errors import ConfigError, closest

__all__ = [
    "AGENT_PRESETS", "AGENT_SECTIONS", "AGENTS", "ALIXConfig", "LEGACY_VALUES", "MAX_ACTION_REPEAT", "MAX_FRAME_STACK", "MAX_IMAGE_SIZE", "MAX_SEED", "MIN_IMAGE_SIZE",
    "OBS_KINDS", "PRESETS", "REDO_NETS", "SHORTHANDS", "STATE_PRESET", "AgentConfig", "Config", "ConfigError",
    "DrMConfig", "EnvConfig", "EvalConfig", "LogConfig", "PlasticityConfig", "ReplayConfig", "SACConfig", "TACOConfig", "check_choice",
    "closest", "default_out", "diagnostics_taus", "field_docs", "field_paths", "flatten", "from_dict", "parse_overrides", "redo_nets", "resolve",
    "set_field", "task_filename", "validate", "with_defaults",
]
