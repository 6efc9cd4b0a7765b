"""The lint and type checks stay wired as docs/architecture.md#checks-on-the-code says: the
pre-commit hooks run the ruff that constraints.txt pins, and CI checks before it tests."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pinned(package: str) -> str:
    found = re.search(rf"^{re.escape(package)}==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M)
    assert found, f"{package} is not pinned in constraints.txt"
    return found.group(1)


def test_pre_commit_runs_the_pinned_ruff():
    repos = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"]
    ruff = next(r for r in repos if r["repo"].endswith("/ruff-pre-commit"))
    assert ruff["rev"] == f"v{pinned('ruff')}"
    assert {hook["id"] for hook in ruff["hooks"]} == {"ruff-check", "ruff-format"}
    assert any(hook["id"] == "mypy" for r in repos for hook in r["hooks"])


def test_ci_lints_and_type_checks_before_the_tests():
    commands = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    where = {
        name: next(i for i, c in enumerate(commands) if c.startswith(f".venv/bin/{name}"))
        for name in ("ruff check", "mypy", "python -m pytest")
    }
    assert where["ruff check"] < where["python -m pytest"] and where["mypy"] < where["python -m pytest"]
