"""Training loop, logging, checkpoints."""
