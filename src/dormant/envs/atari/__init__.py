"""The Atari suite (``task=atari/<Game>``), for the discrete-action agents.

- ``ale.py``: `AtariEnv`, one game on ale-py with Dopamine's preprocessing, and the suite's
  tasks, presets and checks (`SUITE`);
- ``envpool.py``: the same games stepped by EnvPool's C++ engine (``atari.backend=envpool``);
- ``resize.py``: OpenCV's ``INTER_AREA`` downscale in numpy, which ``ale.py`` applies;
- ``scores.py``: the published random and human scores, for human-normalised scores.
"""

from __future__ import annotations

from dormant.envs.atari.ale import BACKENDS, GAMES, SUITE, AtariEnv

__all__ = ["BACKENDS", "GAMES", "SUITE", "AtariEnv"]
