"""Reading run directories: plots (and, later, sweeps and reports)."""
