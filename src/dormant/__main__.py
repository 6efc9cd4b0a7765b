"""`python -m dormant` is the `dormant` command."""

import sys

from dormant.cli import main

sys.exit(main())
