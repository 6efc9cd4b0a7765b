"""The errors a user can fix, and the closest-name helper their messages use.

A leaf module (standard library only), so that the configuration, the task registry,
the plasticity metrics and the sweep backends can all raise them without importing
each other.
"""

from __future__ import annotations

import difflib
from typing import Iterable


class ConfigError(ValueError):
    """A configuration problem the user can fix; the message says how."""


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the pip extra that installs it."""

    def __init__(self, what: str, extra: str, cause: BaseException | None = None):
        because = f" ({cause})" if cause is not None else ""
        super().__init__(
            f"{what} needs the optional '{extra}' dependencies, which are not installed{because}. "
            f"Install them with `pip install -c constraints.txt -e '.[{extra}]'` (or '.[all]' for every "
            "extra; scripts/setup.sh installs all of them)")
        self.extra = extra


class MissingSuiteError(MissingExtraError):
    """An optional suite's package is not installed; its pip extra has the suite's name."""

    def __init__(self, suite: str, cause: BaseException | None = None):
        super().__init__(f"the {suite} suite", suite, cause)
        self.suite = suite


def closest(name: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the most similar choice, or an empty string."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""
