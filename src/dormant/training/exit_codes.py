"""Exit codes of `dormant train` (and the status word it leaves in status.json).

| code | status.json | meaning | a sweep |
|---|---|---|---|
| 0 | finished | the budget was trained and the final checkpoint written | done |
| 1 | failed | an unexpected error (its traceback is printed) | retries, resuming |
| 2 | (none) | the configuration or a file was refused before training | never retries |
| 3 | nonfinite | an update gave NaN/inf; the last good state was saved | never retries (resume repeats it) |
| 4 | write_failed | a file of the run could not be written (disk full, permissions) | never retries |
| 75 | (unchanged) | the run directory is in use by another process | skips it |
| 130 | interrupted | Ctrl-C or SIGTERM: a resumable checkpoint was saved | stops |
"""

from dormant.training.lock import EXIT_LOCKED

EXIT_FINISHED = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_DIVERGED = 3
EXIT_WRITE_FAILED = 4
EXIT_INTERRUPTED = 130
NO_RETRY = frozenset({EXIT_CONFIG, EXIT_DIVERGED, EXIT_WRITE_FAILED})

__all__ = [
    "EXIT_CONFIG",
    "EXIT_DIVERGED",
    "EXIT_FAILED",
    "EXIT_FINISHED",
    "EXIT_INTERRUPTED",
    "EXIT_LOCKED",
    "EXIT_WRITE_FAILED",
    "NO_RETRY",
]
