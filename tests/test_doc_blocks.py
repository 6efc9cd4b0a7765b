"""Every fenced code block in README.md and docs/ runs, as written (docs/usage.md#testing-the-documentation).

What is collected: each fenced block of README.md and of every page under docs/, the
generated reports (``docs/evidence/**/report.md``) excepted. One test per block, named
``<page>:<line of its opening fence>``.

How a block runs:

- ``python``: the block's code in a fresh interpreter (``OMP_NUM_THREADS=1``), in a working
  folder of its own page (blocks of one page share it, in the page's order). A block that
  uses names defined elsewhere on its page gets the explicit snippet in ``SETUP`` first; a
  block that reads a run or sweep directory gets it from ``NEEDS`` (made by a small states
  command when an earlier block did not make it).
- ``bash``: every command line (continuations joined, comments stripped, ``&&`` chains
  split) that calls ``dormant``, ``.venv/bin/dormant``, ``python``/``.venv/bin/python``
  (``python -m dormant`` included) runs in ``bash`` with the virtualenv's ``bin`` first on
  PATH and ``.venv`` linked into the working folder. Not run, by rule: ``bash
  scripts/setup.sh`` (the tests already run in the environment it makes), ``python -m
  pytest`` (the test suite itself) and lines with a literal ``...`` argument (an
  abbreviation of the line above). A ``dormant sweep`` line of more than ``MAX_SWEEP_RUNS``
  runs is resolved (every run's configuration built and checked, as the sweep does before
  any work) but not trained; each such line is reported as a warning. Any other command
  fails the test: mark its block instead.
- ``toml``: parsed; an entry-point table must name the group dormant reads.
- Blocks without a language (a directory tree) are text: skipped with that reason.
- A block preceded by ``<!-- doc-test: skip (why) -->`` is skipped with that reason; one
  preceded by ``<!-- doc-test: resolve (why) -->`` (variants of one training) runs its
  ``dormant train`` lines as ``dormant config`` with the same arguments: every option is
  resolved and checked, nothing is trained (a warning names each such line).

Budgets: the trainings in the docs ask for hundreds of thousands of frames. The test sets
``DORMANT_MAX_FRAMES`` (``dormant.config.budget``): frames are capped at that number and
everything that must stay below it is scaled down with them; to finish on a 2-core CPU the
cap ALSO shrinks the networks, batch and images (hidden 64, feature 32, batch 32, 36×36
pixels, ``env.fast_render``) and prints every changed value on one line. The commands
themselves run exactly as written, with no option appended; the numbers they produce are a
smoke test's, not the documented ones. Runs that change nothing but their arguments are
fast; pixel trainings are marked ``slow`` (``SLOW``).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
MAX_FRAMES = "2000"  # two DMC episodes: updates start once the first has ended
MAX_SWEEP_RUNS = 2
TIMEOUT_S = 600
MARKER = re.compile(r"<!--\s*doc-test:\s*(skip|resolve)\s*\((.*)\)\s*-->")
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    skip: str  # the skip marker's reason, "" if none
    resolve: str = ""  # the resolve marker's reason: its `dormant train` lines are resolved, not trained

    @property
    def first(self) -> str:
        return next((ln.strip() for ln in self.code.splitlines() if ln.strip()), "")

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[Path]:
    found = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [p for p in found if not (p.name == "report.md" and "evidence" in p.parts)]


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, lang = match.groups()
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        body = "\n".join(ln[len(indent) :] if ln.startswith(indent) else ln.lstrip() for ln in lines[i + 1 : j])
        before = next((ln for ln in reversed(lines[:i]) if ln.strip()), "")
        marker = MARKER.search(before)
        kind, why = marker.groups() if marker else ("", "")
        found.append(
            Block(
                path.relative_to(ROOT).as_posix(),
                i + 1,
                lang,
                body,
                why if kind == "skip" else "",
                why if kind == "resolve" else "",
            )
        )
        i = j + 1
    return found


BLOCKS = [block for page in pages() for block in blocks_of(page)]

# Names a block uses that its page defines in prose or in another block: (page, the block's
# first line) → code run before it.
_NETS = """\
import torch
from dormant.nets import Actor, Critic
actor, critic = Actor(24, 6, 50, 256), Critic(24, 6, 50, 256)
critic_opt = torch.optim.Adam(critic.parameters(), lr=1e-4)
features, actions = torch.randn(256, 24), torch.rand(256, 6) * 2 - 1
"""
_CFG = 'import dormant\ncfg = dormant.make_config(agent="drm", task="dmc/walker_walk")\n'
SETUP = {
    ("README.md", "from dormant.plasticity import dormant_ratio"): _NETS,
    ("docs/api.md", "result = dormant.train(cfg"): _CFG,
    ("docs/api.md", "class LogBeta"): _CFG,
    ("docs/api.md", "logs = dormant.load_logs"): "import dormant\n",
    (
        "docs/plasticity.md",
        "from dormant.plasticity import ReplayRatio",
    ): "step, critic_fau, episode, frame = 10, 0.6, 50, 100_000\n",
    ("docs/suites.md", "from dormant.envs import register_suite"): "make_env = lambda task, cfg, seed: None\n",
}
# Run and sweep directories a block reads: (page, first line) → {directory: a command making one}.
_STATES = "agent=drm task=dmc/cartpole_balance obs=states"
_SWEEP = f"dormant sweep {_STATES} seeds=1"
NEEDS = {
    ("docs/api.md", "logs = dormant.load_logs"): {"runs/walker": f"dormant train {_STATES} out=runs/walker"},
    ("docs/report.md", "dormant report sweeps/s1"): {
        "sweeps/s1": f"{_SWEEP} out=sweeps/s1",
        "sweeps/s2-redo": f"{_SWEEP} plasticity.redo=true out=sweeps/s2-redo",
        "runs/x": f"dormant train {_STATES} out=runs/x",
    },
}
# Blocks that train from pixels or run several trainings: (page, first line).
SLOW = {
    ("README.md", "dormant train agent=drqv2 task=dmc/cartpole_swingup"),
    ("docs/api.md", "result = dormant.train(cfg"),
    ("docs/api.md", "class LogBeta"),
    ("docs/api.md", "logs = dormant.load_logs"),
    ("docs/report.md", "dormant report sweeps/s1"),
    ("docs/usage.md", "dormant train agent=drqv2 task=dmc/cartpole_swingup"),
    ("docs/evidence/README.md", "dormant train agent=drm task=dmc/cartpole_swingup"),
    ("docs/evidence/atari100k/README.md", "dormant sweep agent=drq_eps"),
}


def _lookup(table, block: Block):
    return next(
        (
            value
            for (page, first), value in (table.items() if isinstance(table, dict) else ((k, True) for k in table))
            if page == block.page and block.first.startswith(first)
        ),
        None,
    )


def _params():
    for block in BLOCKS:
        marks = [pytest.mark.slow] if _lookup(SLOW, block) else []
        yield pytest.param(block, id=str(block), marks=marks)


def _env() -> dict[str, str]:
    src = str(ROOT / "src")
    path = os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")])
    python_path = os.pathsep.join(p for p in [src, os.environ.get("PYTHONPATH", "")] if p)
    return {
        **os.environ,
        "PATH": path,
        "PYTHONPATH": python_path,
        "DORMANT_MAX_FRAMES": MAX_FRAMES,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


@pytest.fixture(scope="session")
def workdirs(tmp_path_factory):
    """One working folder per page, shared by its blocks (a page is read top to bottom)."""
    made: dict[str, Path] = {}

    def get(page: str) -> Path:
        if page not in made:
            folder = tmp_path_factory.mktemp(page.replace("/", "_").replace(".md", ""))
            (folder / ".venv").symlink_to(VENV_BIN.parent)
            (folder / "scripts").symlink_to(ROOT / "scripts")  # commands that name scripts/ run from the root
            made[page] = folder
        return made[page]

    return get


def _run(argv_or_cmd, cwd: Path, block: Block, what: str, *, shell: bool = False) -> subprocess.CompletedProcess:
    done = subprocess.run(
        argv_or_cmd if not shell else ["bash", "-c", argv_or_cmd],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    if done.returncode != 0:
        tail = (done.stderr.strip() or done.stdout.strip())[-3000:]
        pytest.fail(
            f"{block} ({block.first!r}): {what} exited with {done.returncode}\n--- stderr tail ---\n{tail}",
            pytrace=False,
        )
    return done


def _make_needed(block: Block, cwd: Path) -> None:
    for folder, command in (_lookup(NEEDS, block) or {}).items():
        if not (cwd / folder).exists():
            _run(command, cwd, block, f"making {folder} with `{command}`", shell=True)


def strip_comment(line: str) -> str:
    """``line`` without its ``#`` comment (a ``#`` outside quotes, at the start or after a blank)."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def command_lines(code: str) -> list[tuple[int, str]]:
    """(line offset in the block, command) for each logical line: continuations joined, comments gone."""
    out, pending, start = [], "", 0
    for offset, raw in enumerate(code.splitlines()):
        if not pending:
            start = offset
        text = strip_comment(raw).strip()
        if text.endswith("\\"):
            pending += text[:-1].rstrip() + " "
            continue
        line, pending = (pending + text).strip(), ""
        if line:
            out.append((start, line))
    return out


def classify(segment: str) -> str:
    """run | sweep | setup | pytest | elided | unknown."""
    words = shlex.split(segment)
    head = words[0] if words else ""
    if head in ("dormant", ".venv/bin/dormant") or words[:3] in (
        ["python", "-m", "dormant"],
        [".venv/bin/python", "-m", "dormant"],
    ):
        if "..." in words:
            return "elided"
        return "sweep" if "sweep" in words[1:3] or "sweep" in words[3:4] else "run"
    if head in ("python", ".venv/bin/python"):
        return "pytest" if words[1:3] == ["-m", "pytest"] else "run"
    if head == "bash" and words[1:2] == ["scripts/setup.sh"]:
        return "setup"
    return "unknown"


def _sweep_size(segment: str, cwd: Path) -> int:
    """The number of runs ``segment`` (a ``dormant sweep`` line) makes, every one's
    configuration resolved and checked as the sweep does first (no training)."""
    from dormant.experiments.sweep import parse_sweep

    words = shlex.split(segment)
    before = Path.cwd()
    os.chdir(cwd)  # out= is relative to where the command runs
    try:
        return len(parse_sweep(words[words.index("sweep") + 1 :])[0])
    finally:
        os.chdir(before)


def _out(segment: str) -> str:
    return next((w[4:] for w in shlex.split(segment) if w.startswith("out=")), "")


def run_bash(block: Block, cwd: Path) -> None:
    untrained: set[str] = set()  # the sweeps resolved only: a report of one cannot run
    for offset, line in command_lines(block.code):
        for segment in (part.strip() for part in line.split("&&")):
            kind = classify(segment)
            where = f"line {block.line + 1 + offset}"
            if kind == "unknown":
                pytest.fail(
                    f"{block}, {where}: {segment!r} is not a command this test runs; mark the block "
                    "`<!-- doc-test: skip (why) -->` or teach tests/test_doc_blocks.py",
                    pytrace=False,
                )
            if kind == "sweep":
                try:
                    runs = _sweep_size(segment, cwd)
                except Exception as err:
                    pytest.fail(f"{block}, {where}: `{segment}` is refused: {err}", pytrace=False)
                if runs > MAX_SWEEP_RUNS:
                    warnings.warn(f"{block}, {where}: a sweep of {runs} runs, resolved but not trained", stacklevel=1)
                    untrained.add(_out(segment))
                    continue
            words = shlex.split(segment)
            if block.resolve and kind == "run" and words[1:2] == ["train"] and "--resume" not in words:
                segment = segment.replace(" train ", " config ", 1)  # the configuration it trains, built and checked
                warnings.warn(
                    f"{block}, {where}: resolved with `dormant config`, not trained ({block.resolve})", stacklevel=1
                )
            if kind == "run" and "report" in words[1:2] and untrained & set(words[2:]):
                warnings.warn(
                    f"{block}, {where}: `{segment}` not run (its sweep was resolved, not trained)", stacklevel=1
                )
                continue
            if kind in ("run", "sweep"):
                _run(segment, cwd, block, f"`{segment}` ({where})", shell=True)


def run_python(block: Block, cwd: Path) -> None:
    code = (_lookup(SETUP, block) or "") + block.code
    _run([sys.executable, "-c", code], cwd, block, "the block's Python code")


def run_toml(block: Block) -> None:
    data = tomllib.loads(block.code)
    groups = data.get("project", {}).get("entry-points", {})
    from dormant.envs.registry import ENTRY_POINT_GROUP

    assert ENTRY_POINT_GROUP in groups, f"{block}: entry points of {list(groups)}; dormant reads {ENTRY_POINT_GROUP!r}"
    for name, target in groups[ENTRY_POINT_GROUP].items():
        assert re.fullmatch(r"[\w.]+:[\w.]+", target), f"{block}: {name} = {target!r} is not module:attribute"


@pytest.mark.parametrize("block", list(_params()))
def test_doc_block(block: Block, workdirs):
    if block.skip:
        pytest.skip(f"{block}: {block.skip}")
    if not block.lang or block.lang == "text":
        pytest.skip(f"{block}: text, not code")
    cwd = workdirs(block.page)
    _make_needed(block, cwd)
    if block.lang == "python":
        run_python(block, cwd)
    elif block.lang in ("bash", "sh", "shell", "console"):
        run_bash(block, cwd)
    elif block.lang == "toml":
        run_toml(block)
    else:
        pytest.fail(f"{block}: no rule to run a {block.lang!r} block", pytrace=False)


def test_blocks_are_found():
    """The collector sees the fences (a fence in a list item included) and every marker names a reason."""
    assert len(BLOCKS) >= 30
    assert any(b.page == "docs/dormant-ratio.md" and b.lang == "python" for b in BLOCKS)
    for path in pages():
        text = path.read_text()
        assert text.count("doc-test:") == len(MARKER.findall(text)), f"{path}: a doc-test marker without (reason)"
    for page, first in [*SETUP, *NEEDS, *SLOW]:  # a block edited away leaves no stale entry behind
        matches = [b for b in BLOCKS if b.page == page and b.first.startswith(first)]
        assert len(matches) == 1, f"({page!r}, {first!r}) names {len(matches)} blocks; it must name one"


def test_the_budget_cap_is_announced_and_only_with_the_variable(monkeypatch, capsys):
    from dormant.config import ConfigError, resolve
    from dormant.config.budget import cap_budget

    args = {"agent": "drqv2", "task": "dmc/cartpole_swingup", "frames": "100000"}
    monkeypatch.delenv("DORMANT_MAX_FRAMES", raising=False)
    plain = resolve(args)
    assert plain.frames == 100_000 and plain.env.image_size == 84 and capsys.readouterr().out == ""
    monkeypatch.setenv("DORMANT_MAX_FRAMES", "2000")
    capped = resolve(args)
    line = capsys.readouterr().out
    assert (capped.frames, capped.num_seed_frames, capped.eval.every_frames, capped.eval.episodes) == (
        2000,
        500,
        2000,
        1,
    )
    assert (capped.agent.hidden_dim, capped.agent.batch_size, capped.env.image_size, capped.env.fast_render) == (
        64,
        32,
        36,
        True,
    )
    assert line.startswith("DORMANT_MAX_FRAMES=2000: a capped smoke run") and "frames 100000 → 2000" in line
    assert "env.image_size 84 → 36" in line and "agent.hidden_dim 1024 → 64" in line
    cap_budget(plain, done_frames=5000)  # a resume: N more frames, nothing else changes
    assert plain.frames == 7000 and plain.env.image_size == 84 and plain.agent.hidden_dim == 1024
    monkeypatch.setenv("DORMANT_MAX_FRAMES", "10")
    with pytest.raises(ConfigError, match="DORMANT_MAX_FRAMES='10'"):
        resolve(args)


def test_a_broken_block_names_its_page_line_and_stderr(tmp_path):
    broken = Block("docs/x.md", 12, "bash", "dormant train agent=drqv2 frames=oops\n", "")
    with pytest.raises(pytest.fail.Exception) as failed:
        run_bash(broken, tmp_path)
    message = str(failed.value)
    assert message.startswith("docs/x.md:12 ") and "(line 13)" in message and "frames='oops': expected int" in message
    assert command_lines("a \\\n  b  # note\n# only a comment\nc '#not' # x\n") == [(0, "a b"), (3, "c '#not'")]
    assert [
        classify(s)
        for s in (
            "dormant sweep ... out=s",
            "bash scripts/setup.sh",
            "python -m pytest -q",
            ".venv/bin/python -m dormant train",
            "source x",
        )
    ] == ["elided", "setup", "pytest", "run", "unknown"]
