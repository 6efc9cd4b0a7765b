"""dormant: visual RL that keeps its networks alive (DrQ-v2, DrM, plasticity tools)."""

__version__ = "0.1.0"
