"""Choose the headless GL backend once, before any test imports dm_control.

Under pytest-xdist (``-n 2``, what CI runs) each worker gets one torch thread: the
workers share the machine's cores, and two workers each asking for every core would
slow both down.
"""

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"

import pytest

from dormant.envs.rendering import configure_rendering

configure_rendering(need_rendering=True)
os.environ.setdefault("DORMANT_TEST", "1")


@pytest.fixture
def one_thread():
    """Small networks on one torch thread (many threads on a busy machine slow tiny updates
    tenfold); a module opts in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
