"""The 1998 network's training criteria over its RBF penalties y (N, 10): eq. 8 and eq. 9."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["MAP_J", "mle_loss", "map_loss"]

# The paper leaves j open. Halfway between the two closest centres ('0' and '6', 18 bits
# apart) both penalties are 18; with j = 10 the competitive term pushes wrong classes up only
# while a pattern sits nearer than that to some centre, and ignores far-away penalties.
MAP_J = 10.0


def mle_loss(y: Tensor, targets: Tensor) -> Tensor:
    """Eq. 8: the mean penalty of the correct class, E = mean_p y_{D_p}."""
    return y.gather(1, targets[:, None]).mean()


def map_loss(y: Tensor, targets: Tensor, j: float = MAP_J) -> Tensor:
    """Eq. 9: mean of y_{D_p} + log(e^{-j} + Σ_i e^{-y_i}). j, not given in the paper, is
    the penalty of a "rubbish" class: penalties well above j are not pushed further up."""
    rubbish = y.new_full((y.shape[0], 1), -j)
    return mle_loss(y, targets) + torch.logsumexp(torch.cat([-y, rubbish], 1), 1).mean()
