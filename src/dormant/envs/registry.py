"""The suite registry: every task name `suite/task` (or `gym:<id>`) resolves through here.

A suite is a `Suite`: its task names, a factory ``make(task, cfg, seed) -> Env``, an
optional preset and the checks it needs. The built-in suites (dmc, metaworld, adroit,
gym) are registered by ``dormant.envs``; a package adds one with ``register_suite`` or,
without being imported by anyone, through the entry-point group ``dormant.suites``
(``mysuite = "mypkg.module:SUITE"``, a `Suite` or a function returning one), which is
read the first time an unregistered suite name is asked for. Task names of a listed
suite are checked before any simulator (or GL backend) is imported.

A task may also be a sequence (``suite/a,suite/b`` or a named scenario, ``envs/continual.py``):
the functions below check every task of it, and ``make_env`` builds a `TaskSequenceEnv` for a
run that switches phases.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.metadata
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dormant.envs.continual import SCENARIOS, TaskSequenceEnv, is_continual, task_sequence
from dormant.envs.episodes import check_replay_holds_an_episode
from dormant.errors import ConfigError, MissingSuiteError, check_choice, closest

if TYPE_CHECKING:
    from dormant.interfaces import Env

ENTRY_POINT_GROUP = "dormant.suites"
SEPARATORS = ("/", ":")


@dataclass(frozen=True)
class Suite:
    """One family of tasks: how to name, list, configure, check and build them."""

    make: Callable[[str, Any, int], Env]  # (task name within the suite, resolved Config, seed) → a new Env
    tasks: Sequence[str] | Callable[[], Sequence[str]] | None  # names in the suite; None: any (`check` validates)
    preset: Callable[[str, str], Mapping[str, Any]] | None = None  # (task, agent name) → dotted-key overrides
    pip: str = ""  # the install command shown when `requires` is missing (built-ins name their pip extra)
    requires: str = ""  # a module the suite imports, looked up (not imported) before any work
    obs: tuple[str, ...] = ("pixels",)  # the observation kinds (env.obs) the suite offers
    check: Callable[[str, Any], None] | None = None  # (task, resolved Config) → raises ConfigError; run by resolve
    note: Callable[[str], str] | None = None  # a task's line in `dormant tasks` (open suites: the suite's line)
    separator: str = "/"  # between the suite's name and the task's: `dmc/…`, `gym:…`
    uses_gl: bool = True  # renders through MuJoCo's OpenGL (pixels, videos); False: needs no GL backend (Atari)
    # (low, high) that reports normalise a task's return by (e.g. random and expert returns), or task → that
    # (None: unknown); without one a task stays out of the report's aggregates (IQM, profiles)
    score_range: tuple[float, float] | Callable[[str], tuple[float, float] | None] | None = None
    # the time limit in simulator steps (frames), or (task, resolved Config) → that; None: unknown. Known, it
    # lets a replay.capacity below one episode be refused before any work (unknown: the buffer refuses at run time)
    episode_frames: int | Callable[[str, Any], int | None] | None = None

    def task_list(self) -> list[str]:
        tasks = self.tasks() if callable(self.tasks) else self.tasks
        return list(tasks or ())


_SUITES: dict[str, Suite] = {}
BUILT_IN = ("dmc", "metaworld", "adroit", "gym", "atari")


def register_suite(name: str, suite: Suite | None = None, /, **fields: Any) -> Suite:
    """Register a suite under ``name`` (a `Suite`, or its fields as keywords) and return it.

    Refuses a name already registered, and a name with ``/`` or ``:`` (they separate the
    suite from the task)."""
    if suite is None:
        suite = Suite(**fields)
    elif fields:
        raise TypeError("register_suite: give a Suite or its fields, not both")
    if not isinstance(suite, Suite):
        raise TypeError(f"register_suite({name!r}): expected a dormant.envs.Suite, got {type(suite).__name__}")
    if not name or any(sep in name for sep in SEPARATORS) or name != name.strip():
        raise ConfigError(f"suite name {name!r}: must be non-empty, without spaces at its ends, '/' or ':'")
    if name in _SUITES:
        raise ConfigError(f"a suite named {name!r} is already registered")
    if suite.separator not in SEPARATORS:
        raise ConfigError(f"suite {name!r}: separator must be one of {SEPARATORS}, got {suite.separator!r}")
    if suite.tasks is None and suite.check is None:
        raise ConfigError(f"suite {name!r} takes any task name (tasks=None), so it needs a check to validate them")
    _SUITES[name] = suite
    return suite


def suite_score_range(task: str) -> tuple[float, float] | None:
    """The score range ``task``'s suite declares (registered, or announced as an entry point);
    None when it declares none or no suite has that name (a sequence: its first task's)."""
    try:
        _, rest, suite = _suite_of(task_sequence(task)[0])
    except (KeyError, ConfigError):
        return None
    declared = suite.score_range
    return declared(rest) if callable(declared) else declared


def unregister_suite(name: str) -> None:
    """Remove a registered suite (tests; a built-in suite cannot be removed)."""
    if name in BUILT_IN:
        raise ConfigError(f"{name!r} is a built-in suite")
    _SUITES.pop(name, None)


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _load_entry_point(name: str, entry_point: Any) -> Suite:
    try:
        loaded = entry_point.load()
        suite = loaded if isinstance(loaded, Suite) else loaded() if callable(loaded) else loaded
    except Exception as err:  # the user's package: any failure is a configuration problem
        raise ConfigError(
            f"suite {name!r} (entry point {entry_point.value!r} in group {ENTRY_POINT_GROUP!r}) "
            f"failed to load: {type(err).__name__}: {err}"
        ) from err
    if not isinstance(suite, Suite):
        raise ConfigError(
            f"entry point {entry_point.value!r} (suite {name!r}) gave a {type(suite).__name__}, "
            "not a dormant.envs.Suite (or a function returning one)"
        )
    return register_suite(name, suite)


def suite_names(*, discover: bool = False) -> list[str]:
    """Registered suite names (with ``discover``: also those packages announce as entry points)."""
    names = list(_SUITES)
    if discover:
        names += [name for name in _entry_points() if name not in _SUITES]
    return names


def get_suite(name: str) -> Suite | None:
    """The suite registered as ``name``, loading its entry point if a package announces one."""
    if name not in _SUITES:
        entry_point = _entry_points().get(name)
        if entry_point is None:
            return None
        _load_entry_point(name, entry_point)
    return _SUITES[name]


def split_task(task: str) -> tuple[str, str, Suite | None]:
    """``"dmc/walker_walk"`` → ``("dmc", "walker_walk", <Suite>)``: the suite's name is the text
    before the first ``/`` or ``:``; the suite is None when no suite has that name."""
    cut = min((task.find(sep) for sep in SEPARATORS if sep in task), default=len(task))
    name = task[:cut]
    return name, task[cut + 1 :], get_suite(name) if name else None


def _suite_of(task: str) -> tuple[str, str, Suite]:
    """(suite name, task within it, suite) of a task ``check_task_name`` accepted."""
    name, rest, suite = split_task(task)
    if suite is None or task[len(name) : len(name) + 1] != suite.separator:
        raise KeyError(task)
    return name, rest, suite


def task_names() -> list[str]:
    """Every listed task, as `suite/task`, of every suite (entry-point suites loaded)."""
    for name in suite_names(discover=True):
        get_suite(name)
    return _listed()


def _listed() -> list[str]:
    return [f"{name}{suite.separator}{task}" for name, suite in _SUITES.items() for task in suite.task_list()]


def task_listing() -> list[tuple[str, str]]:
    """`dormant tasks`' rows: (task, note) per listed task, and one (`suite:<task>`, note) row
    per open suite (``tasks=None``)."""
    task_names()  # loads the entry-point suites
    rows = []
    for name, suite in _SUITES.items():
        note = suite.note or (lambda task: "")
        if suite.tasks is None:
            rows.append((f"{name}{suite.separator}<task>", note("")))
        rows += [(f"{name}{suite.separator}{task}", note(task)) for task in suite.task_list()]
    rows += [(name, "continual: " + " → ".join(tasks)) for name, tasks in SCENARIOS.items()]
    return rows


def check_task_name(task: str) -> None:
    """Refuse (ConfigError, closest name suggested) a task no suite lists, before any work.
    Open suites (``tasks=None``) validate their names later, in ``check_task``. A sequence:
    every task of it, all of one suite."""
    tasks = task_sequence(task)
    if len(tasks) > 1:
        for one in tasks:
            check_task_name(one)
        suites = sorted({split_task(one)[0] for one in tasks})
        if len(suites) > 1:
            raise ConfigError(f"task={task!r}: a task sequence stays within one suite; it names {', '.join(suites)}")
        return
    task = tasks[0]
    name, _, suite = split_task(task)
    if suite is None:
        usage = ", ".join(f"{n}{s.separator}…" for n, s in _SUITES.items())
        raise ConfigError(
            f"unknown task {task!r}{closest(task, _listed())}: no suite {name!r}"
            f"{closest(name, suite_names(discover=True))}; tasks are {usage} (`dormant tasks`)"
        )
    prefix = f"{name}{suite.separator}"
    if not task.startswith(prefix):
        raise ConfigError(f"unknown task {task!r}: {name} tasks are written {prefix}<task>")
    if suite.tasks is None:
        return
    check_choice("task", task, [prefix + t for t in suite.task_list()])


def require_suite(task: str) -> None:
    """Raise `MissingSuiteError` now (before any work) if the module the task's suite needs is absent."""
    name, _, suite = _suite_of(task_sequence(task)[0])
    if not suite.requires:
        return
    try:
        found = importlib.util.find_spec(suite.requires) is not None
    except (ValueError, ImportError):  # a module set to None in sys.modules (tests do that), a missing parent
        found = False
    if not found:
        pip = None if name in BUILT_IN else suite.pip or "pip install <the package that provides it>"
        raise MissingSuiteError(name, ModuleNotFoundError(f"no module named {suite.requires!r}"), pip=pip)


def task_preset(task: str, agent: str = "drqv2") -> dict[str, Any]:
    """Dotted-key overrides that carry the reference settings of one task (for an agent); a
    sequence takes its first task's."""
    _, rest, suite = _suite_of(task_sequence(task)[0])
    return dict(suite.preset(rest, agent)) if suite.preset is not None else {}


def check_obs(task: str, obs: str) -> None:
    """Refuse an observation kind the task's suite does not offer, naming the suites that do."""
    task = task_sequence(task)[0]  # a sequence is of one suite
    suite = _suite_of(task)[2]
    if obs not in suite.obs:
        offering = ", ".join(f"{name}{s.separator}" for name, s in _SUITES.items() if obs in s.obs)
        raise ConfigError(f"obs={obs} is available for {offering} tasks only; {task} offers {' and '.join(suite.obs)}")


def check_task(cfg: Any) -> None:
    """The suite's own checks on a resolved configuration (ConfigError), before any work.

    The GL backend is chosen first, as a check may build an environment and MuJoCo reads
    ``MUJOCO_GL`` once, when imported: a working one even for states, so that a pixel
    configuration resolved later in the same process (a sweep's grid) can still render.
    A sequence: each task's checks, then its tasks' spaces must agree (``check_sequence``)."""
    tasks = task_sequence(cfg.task)
    if len(tasks) > 1 or is_continual(cfg):
        for task in tasks:
            check_task(single_task(cfg, task))
        check_sequence(cfg, tasks)
        return
    _, rest, suite = _suite_of(cfg.task)
    frames = suite.episode_frames(rest, cfg) if callable(suite.episode_frames) else suite.episode_frames
    check_replay_holds_an_episode(cfg, frames)
    if suite.check is None:
        return
    if suite.uses_gl:
        _configure_gl(cfg)
    suite.check(rest, cfg)


def _configure_gl(cfg: Any) -> None:
    """A working GL backend before an env is built at check time (see ``check_task``)."""
    from dormant.envs.rendering import RenderingUnavailable, configure_rendering

    try:
        configure_rendering(True)
    except RenderingUnavailable:
        if cfg.env.obs == "pixels" or cfg.eval.video:
            raise
        configure_rendering(False)


def needs_gl(cfg: Any) -> bool:
    """Whether a run of this resolved config renders through OpenGL (MuJoCo pixels or videos)."""
    return (cfg.env.obs == "pixels" or cfg.eval.video) and _suite_of(task_sequence(cfg.task)[0])[2].uses_gl


def make_env(cfg: Any, *, seed: int, evaluation: bool = False) -> Env:
    """Build the environment a resolved ``dormant.config.Config`` describes (not imported
    here: the configuration imports this registry). A run that switches phases gets a
    `TaskSequenceEnv` in phase 0 (``evaluation``: one env per task, kept; see its doc)."""
    if is_continual(cfg):
        return TaskSequenceEnv(
            task_sequence(cfg.task),
            lambda task, s: make_env(single_task(cfg, task), seed=s),
            seed=seed,
            permute=cfg.continual.permute_obs,
            keep=evaluation,
        )
    require_suite(cfg.task)
    _, rest, suite = _suite_of(cfg.task)
    env = suite.make(rest, cfg, seed)
    for adapt in _ADAPTERS:  # e.g. a plain Gymnasium env gets the run's wrappers (envs/gym.py)
        adapted = adapt(env, cfg, seed)
        if adapted is not None:
            return adapted
    return env


# What a suite's factory may return besides an ``Env``: each adapter turns such an object into
# one (or returns None). envs/gym.py adds the Gymnasium one; adapters keep this module free of
# imports of the suites.
_ADAPTERS: list[Callable[[Any, Any, int], Env | None]] = []


def add_env_adapter(adapt: Callable[[Any, Any, int], Env | None]) -> None:
    """``adapt(returned, cfg, seed)``: an ``Env`` built from what a suite's factory returned, or None."""
    if adapt not in _ADAPTERS:
        _ADAPTERS.append(adapt)


def single_task(cfg: Any, task: str) -> Any:
    """A copy of ``cfg`` for one task of its sequence, switching nothing (its sections are shared, not copied)."""
    one = copy.copy(cfg)
    one.task = task
    if getattr(cfg, "continual", None) is not None:
        one.continual = dataclasses.replace(cfg.continual, switch_every_frames=0, permute_obs=False)
    return one


SPACE_KEYS = ("obs_shape", "frame_shape", "frame_dtype", "action_dim", "num_actions", "proprio_dim")


def check_sequence(cfg: Any, tasks: list[str]) -> None:
    """Refuse (ConfigError) a sequence whose tasks differ in observation or action spaces, naming
    both tasks and their spaces; and permuted observations with nothing to permute. Builds each
    task's env once per process and settings (``_spaces``)."""
    first = _spaces(single_task(cfg, tasks[0]))
    for task in tasks[1:]:
        other = _spaces(single_task(cfg, task))
        if other != first:
            differ = [k for k in SPACE_KEYS if first[k] != other[k]]
            raise ConfigError(
                f"task={cfg.task}: the tasks of a sequence share one agent, so they must have the same "
                f"observation and action spaces; {tasks[0]} has "
                + ", ".join(f"{k}={first[k]}" for k in differ)
                + f", {task} has "
                + ", ".join(f"{k}={other[k]}" for k in differ)
            )
    if cfg.continual.permute_obs and first["frame_shape"][0] < 2:
        raise ConfigError(
            f"continual.permute_obs permutes a frame's first axis (state entries, colour channels); "
            f"{tasks[0]}'s frames have shape {first['frame_shape']}: nothing to permute"
        )


def _spaces(cfg: Any) -> dict[str, Any]:
    key = (cfg.task, repr(cfg.env), repr(getattr(cfg, "atari", None)))
    if key not in _SPACES:
        if _suite_of(cfg.task)[2].uses_gl:
            _configure_gl(cfg)
        env = make_env(cfg, seed=cfg.seed)
        try:
            _SPACES[key] = {
                k: (np.dtype(getattr(env, k)).str if k == "frame_dtype" else getattr(env, k, 0)) for k in SPACE_KEYS
            }
        finally:
            env.close()
    return _SPACES[key]


_SPACES: dict[tuple[str, str, str], dict[str, Any]] = {}  # the spaces of each task and settings built so far
