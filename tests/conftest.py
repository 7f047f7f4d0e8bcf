import torch

# One intra-op thread per test process: the suite runs under pytest-xdist (-n 2) on 2 cores,
# and two OpenMP pools spinning against each other make small tensor ops 100x slower.
torch.set_num_threads(1)
