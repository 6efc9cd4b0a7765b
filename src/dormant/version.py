"""dormant's version: the release number, plus the git commit when run from a checkout.

A figure is only as reproducible as the code that made it, and a checkout between releases
is not the release: there ``__version__`` carries the commit as a PEP 440 local label
(``0.1.0+g1a2b3c4``, ``.dirty`` when the tree has uncommitted changes). An installed wheel
reports the release alone.
"""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

RELEASE = "0.1.0"  # keep equal to [project].version in pyproject.toml (a test checks)


@lru_cache(maxsize=1)
def checkout_commit() -> tuple[str, bool]:
    """``(short sha, modified)`` when this package runs from a git checkout of dormant (the
    tracked files differ from the commit: modified), else ``("", False)``. An installed copy
    inside some other repository (a venv in a project) is not a checkout of dormant."""
    root = Path(__file__).resolve().parents[2]  # src/dormant/version.py → the checkout's root
    if not (root / ".git").exists() or not (root / "pyproject.toml").exists():
        return "", False
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "", False
    return sha, bool(sha and dirty)


def version() -> str:
    """The release, with ``+g<sha>`` (``.dirty``) from a checkout: a PEP 440 local version label."""
    sha, modified = checkout_commit()
    return f"{RELEASE}+g{sha}" + (".dirty" if modified else "") if sha else RELEASE
