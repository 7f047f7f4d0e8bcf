"""The training loss of :mod:`memhil.nn`: :class:`CrossEntropyLoss`, torch's
``nn.CrossEntropyLoss()`` (mean softmax cross-entropy) computed by
:func:`memhil.hostmath.softmax_cross_entropy`.

The numpy training path (:mod:`memhil.npnn`, for a board without torch) calls the same function,
so both paths have the same loss values and the same gradients bit for bit (torch's own float32
cross-entropy cannot be reproduced outside torch). The gradient is float64 there and cast to the
logits' dtype here.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from memhil import hostmath

_NP_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


class _HostCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, labels):
        loss, grad = hostmath.softmax_cross_entropy(logits.detach().cpu().numpy(),
                                                    labels.detach().cpu().numpy())
        ctx.grad = grad                                    # float64 (B, C)
        ctx.dtype, ctx.device = logits.dtype, logits.device
        return torch.tensor(loss, dtype=torch.float64)

    @staticmethod
    def backward(ctx, g):
        grad = ctx.grad
        scale = float(g)
        if scale != 1.0:                                   # (loss.backward(): exactly 1)
            grad = grad * scale
        np_dtype = _NP_DTYPES.get(ctx.dtype)
        if np_dtype is not None:                           # the cast in numpy: IEEE rounding
            return torch.from_numpy(grad.astype(np_dtype)).to(ctx.device), None
        return torch.from_numpy(grad).to(device=ctx.device, dtype=ctx.dtype), None


class CrossEntropyLoss(nn.Module):
    """``loss = CrossEntropyLoss()(logits, labels)``: the mean softmax cross-entropy as a
    float64 scalar tensor; ``loss.backward()`` gives ``logits`` the gradient of
    :func:`memhil.hostmath.softmax_cross_entropy` cast to their dtype."""

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return _HostCrossEntropy.apply(logits, labels)
