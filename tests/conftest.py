import pytest
import torch

# One intra-op thread per test process: the suite runs under pytest-xdist (-n 2) on 2 cores,
# and two OpenMP pools spinning against each other make small tensor ops 100x slower.
torch.set_num_threads(1)


@pytest.fixture
def one_thread(monkeypatch):
    """Training runs in this test use one torch thread (MEMHIL_THREADS=1, read by the trainer
    and the sweep workers); the process's thread count is restored afterwards."""
    n = torch.get_num_threads()
    monkeypatch.setenv("MEMHIL_THREADS", "1")
    yield
    torch.set_num_threads(n)
