"""The errors a user can fix, and the closest-name helpers their messages use (closest, check_choice).

A leaf module (standard library only), so that the configuration, the task registry,
the plasticity metrics and the sweep backends can all raise them without importing
each other.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


class ConfigError(ValueError):
    """A configuration problem the user can fix; the message says how."""


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the pip extra that installs it."""

    def __init__(self, what: str, extra: str, cause: BaseException | None = None):
        because = f" ({cause})" if cause is not None else ""
        super().__init__(
            f"{what} needs the optional '{extra}' dependencies, which are not installed{because}. "
            f"Install them with `pip install -c constraints.txt -e '.[{extra}]'` (or '.[all]' for every "
            "extra; scripts/setup.sh installs all of them)"
        )
        self.extra = extra


class MissingSuiteError(MissingExtraError):
    """A suite's package is not installed. A built-in suite's pip extra has the suite's name;
    a registered suite gives its own install hint (``pip``)."""

    def __init__(self, suite: str, cause: BaseException | None = None, *, pip: str | None = None):
        if pip is None:
            super().__init__(f"the {suite} suite", suite, cause)
        else:
            because = f" ({cause})" if cause is not None else ""
            ImportError.__init__(
                self, f"the {suite} suite needs a package that is not installed{because}. Install it with `{pip}`"
            )
            self.extra = ""
        self.suite = suite


def closest(name: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the most similar choice, or an empty string."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def check_choice(what: str, value: str, choices: Sequence[str]) -> None:
    """Refuse ``value`` unless it is one of ``choices``, naming the closest and the valid ones."""
    if value not in choices:
        shown = ", ".join(choices) if len(choices) <= 12 else f"{len(choices)} choices; see `dormant tasks`"
        raise ConfigError(f"unknown {what} {value!r}{closest(value, choices)}; valid: {shown}")
