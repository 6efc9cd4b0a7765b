"""Write docs/configuration.md from the configuration schema, so the reference cannot drift.

    .venv/bin/python scripts/gen_config_reference.py            # (re)write docs/configuration.md
    .venv/bin/python scripts/gen_config_reference.py --check    # exit 1 if the file is out of date

Everything comes from ``dormant.config``: the sections and fields of ``Config``, each
field's type (``field_paths()``), its default (``Config()``), its documentation (the
``# comment`` after the field in the dataclass source), ``PRESETS`` (with the comments
written above each preset) and ``SHORTHANDS``. Only the sections' one-line introductions
are written here; a field without a comment is an error.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import io
import sys
import tokenize
from pathlib import Path
from typing import Any

import dormant.config as config
from dormant.config import (
    PRESETS,
    SHORTHANDS,
    AgentConfig,
    ALIXConfig,
    Config,
    DrMConfig,
    EnvConfig,
    EvalConfig,
    LogConfig,
    PlasticityConfig,
    ReplayConfig,
    SACConfig,
    TACOConfig,
    field_docs,
    field_paths,
)
from dormant.config.schema import AtariConfig, ContinualConfig, DQNConfig

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "configuration.md"
COMMAND = ".venv/bin/python scripts/gen_config_reference.py"

# The schema's sections, in the order of the page. A section of Config that is missing
# here is still documented (after these), with no introduction.
SECTIONS: dict[type, str] = {
    Config: "Top-level options: the task, the budget, the run directory and the machine.",
    EnvConfig: "Observations and the simulator wrapper (`env.*`). Suites: [suites](suites.md).",
    AgentConfig: "DrQ-v2's networks and update (`agent.*`); DrM builds on them. Algorithms: "
    "[algorithms](algorithms.md#drq-v2).",
    ReplayConfig: "The replay buffer (`replay.*`).",
    EvalConfig: "Evaluation (`eval.*`): the mean action, every `eval.every_frames` and at the end of the budget.",
    LogConfig: "Logs and diagnostics (`log.*`). What each file holds: [usage](usage.md#a-run-directory).",
    DrMConfig: "DrM's mechanisms and ablations (`drm.*`, refused unless `agent=drm`). Formulas: "
    "[algorithms](algorithms.md#drm).",
    ALIXConfig: "ALIX's feature smoothing and how it learns its strength (`alix.*`, refused unless `agent=alix`). "
    "What it does: [algorithms](algorithms.md#alix).",
    SACConfig: "SAC's temperature and policy bounds (`sac.*`, refused unless `agent=sac`); `agent=sac` also brings "
    "its preset of `agent.*` values (ReDo's SAC setting). What it does: [algorithms](algorithms.md#sac).",
    TACOConfig: "TACO's temporal action-driven contrastive loss and its CURL and reward terms (`taco.*`, refused "
    "unless `agent=taco`; `agent=taco` also sets `agent.batch_size=1024`, the authors' DMC batch). "
    "What it does: [algorithms](algorithms.md#taco).",
    DQNConfig: "DQN and DrQ(ε) (`dqn.*`, refused unless `agent=dqn` or `agent=drq_eps`); each agent's preset "
    "brings ReDo's values. Formulas: [algorithms](algorithms.md#dqn-and-drq).",
    AtariConfig: "The Atari suite (`atari.*`, for `task=atari/<Game>`): sticky actions, no-op starts, life loss, "
    "the episode cap. Protocols: [suites](suites.md#atari).",
    PlasticityConfig: "Replay ratio and plasticity interventions for any agent (`plasticity.*`). "
    "What each does: [plasticity](plasticity.md#interventions-as-configuration-of-any-agent).",
    ContinualConfig: "Continual scenarios (`continual.*`): a task sequence or permuted observations, a new phase "
    "every `switch_every_frames`. What happens at a switch: "
    "[plasticity](plasticity.md#continual-scenarios).",
}

# The unit a field's name carries (its suffix), shown in its own column.
UNITS = (
    ("frames", "frames"),
    ("_steps", "agent steps"),
    ("_updates", "updates"),
    ("_episodes", "episodes"),
    ("_s", "seconds"),
)


def preset_comments() -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """The comment block written above each preset, and trailing comments of its entries,
    read from whichever ``dormant.config`` module assigns ``PRESETS``."""
    for name, module in sorted(sys.modules.items()):
        if not (name == "dormant.config" or name.startswith("dormant.config.")) or module is None:
            continue
        try:
            source = inspect.getsource(module)
        except (OSError, TypeError):
            continue
        lines = source.splitlines()
        comments = {
            tok.start[0]: tok.string.lstrip("#").strip()
            for tok in tokenize.generate_tokens(io.StringIO(source).readline)
            if tok.type == tokenize.COMMENT
        }
        for node in ast.parse(source).body:
            target = (
                node.target
                if isinstance(node, ast.AnnAssign)
                else (node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
            )
            if not (isinstance(target, ast.Name) and target.id == "PRESETS" and isinstance(node.value, ast.Dict)):
                continue
            above: dict[str, str] = {}
            entries: dict[tuple[str, str], str] = {}
            for key, value in zip(node.value.keys, node.value.values, strict=True):
                if not isinstance(key, ast.Constant):
                    continue
                block, line = [], key.lineno - 1
                while line >= 1 and lines[line - 1].strip().startswith("#"):
                    block.insert(0, comments.get(line, ""))
                    line -= 1
                above[key.value] = " ".join(block)
                if isinstance(value, ast.Dict):
                    for entry in value.keys:
                        if isinstance(entry, ast.Constant) and entry.lineno in comments:
                            # the comment closes the line of the entry that ends the line
                            last = max(
                                (k for k in value.keys if isinstance(k, ast.Constant) and k.lineno == entry.lineno),
                                key=lambda k: k.col_offset,
                            )
                            entries[(key.value, last.value)] = comments[entry.lineno]
            return above, entries
    return {}, {}


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell (pipes, HTML-like brackets, stars)."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace("*", "\\*")


def show(value: Any) -> str:
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, str):
        return f"`{value}`" if value else "(empty)"
    return f"`{value}`"


def unit(name: str) -> str:
    leaf = name.rsplit(".", 1)[-1]
    return next((label for suffix, label in UNITS if leaf.endswith(suffix)), "")


def sections() -> list[tuple[str, type, Any]]:
    """(prefix, dataclass, default instance) for the top level and each nested section."""
    defaults = Config()
    found = [("", Config, defaults)]
    for f in dataclasses.fields(defaults):
        value = getattr(defaults, f.name)
        if dataclasses.is_dataclass(value):
            found.append((f"{f.name}.", type(value), value))
    order = list(SECTIONS)
    return sorted(found, key=lambda s: order.index(s[1]) if s[1] in order else len(order))


def render() -> str:
    paths = field_paths()
    out = [
        "<!-- Generated by scripts/gen_config_reference.py from dormant.config: do not edit by hand. -->",
        f"<!-- Regenerate after changing an option: {COMMAND} -->",
        "",
        "# Configuration reference",
        "",
        "Every option of `dormant train`, `dormant sweep` and `dormant config`, generated from the typed "
        "configuration schema (`dormant.config`). Give any of them as `key=value` (dotted for nested keys, "
        "e.g. `agent.lr=8e-5`); `dormant train --help` prints the same list and `dormant config ...` the "
        "fully resolved configuration of a command. Every run saves its resolved configuration as "
        "`config.yaml`.",
        "",
        "**Resolution order:** schema defaults (below) → task preset (per suite and task: budget, σ schedule "
        "and the published per-task settings, see [suites](suites.md#task-presets)) → named preset "
        "(`preset=`, below) → observation preset (`obs=states`) → your overrides. So a default below is what "
        "a task gets unless its preset says otherwise: `frames` and `agent.stddev_schedule`, for example, "
        "always come from the task preset.",
        "",
        "**Units are in the names:** `*frames` count simulator steps; `*_steps` count agent steps "
        "(one agent step = `env.action_repeat` frames); `*_updates` count gradient updates; "
        "`*_episodes` count episodes; `*_s` are seconds; `replay.capacity` counts transitions.",
        "",
        "Bad input fails before any work, naming the closest valid choice: an unknown key, task, agent or "
        "preset, a wrong type, an out-of-range value, a budget that ends before the first update, a replay "
        "smaller than a batch.",
        "",
    ]
    for prefix, cls, defaults in sections():
        title = f"`{prefix[:-1]}`" if prefix else "Top level"
        out += [f"## {title}", ""]
        if SECTIONS.get(cls):
            out += [SECTIONS[cls], ""]
        comments = field_docs(cls)
        out += ["| key | type | default | unit | meaning |", "|---|---|---|---|---|"]
        for f in dataclasses.fields(cls):
            value = getattr(defaults, f.name)
            if dataclasses.is_dataclass(value):
                continue
            key = prefix + f.name
            kind = paths[key]
            if f.name not in comments:
                raise SystemExit(
                    f"{key} has no `# comment` in the schema: document it there (one line after the field)"
                )
            meaning = comments[f.name]
            short = [s for s, full in SHORTHANDS.items() if full == key]
            if short:
                meaning = f"(shorthand `{short[0]}=`) {meaning}".rstrip()
            out.append(
                f"| `{key}` | {getattr(kind, '__name__', str(kind))} | {show(value)} | {unit(key)} | {cell(meaning)} |"
            )
        out.append("")
    out += [
        "## Shorthands",
        "",
        "Short spellings accepted wherever a key is (`dormant train`, `config`, `sweep`).",
        "",
        "| shorthand | full key |",
        "|---|---|",
    ]
    out += [f"| `{short}` | `{full}` |" for short, full in SHORTHANDS.items()]
    out += [""]
    state_preset = getattr(config, "STATE_PRESET", None)
    out += [
        "## Presets",
        "",
        "A named preset (`preset=NAME`) is a bundle of overrides applied after the task preset and before "
        "your own overrides, which still win. Presets reproduce code paths of the reference repositories "
        "that differ from the paper and from the defaults, so they are opt-in.",
        "",
    ]
    if state_preset:
        overrides = ", ".join(f"`{k}={show(v).strip('`')}`" for k, v in state_preset.items())
        out += [f"`obs=states` also applies {overrides} (after the named preset, before your overrides).", ""]
    above, entries = preset_comments()
    for name, overrides in PRESETS.items():
        out += [f"### `{name}`", ""]
        if above.get(name):
            out += [above[name], ""]
        out += ["| key | value | note |", "|---|---|---|"]
        for key, value in overrides.items():
            out.append(f"| `{key}` | {show(value)} | {cell(entries.get((name, key), ''))} |")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file is out of date")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write (default {OUT.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not args.out.exists() or args.out.read_text() != text:
            print(f"{args.out} is out of date; regenerate it with: {COMMAND}", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
