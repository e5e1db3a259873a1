"""Learn-stage tests: one torch thread (the CI machine has 2 cores shared by the suite).
Only applied when a test module already imported torch (importing it costs seconds)."""

import sys

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
