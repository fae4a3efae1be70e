"""The 1998 network's forward and backward written out by hand, for its SDLM recipe.

One pass, two uses: the gradient dE/dθ (``square=False``) for the compiled one-pattern update,
and appendix C's Gauss-Newton recursion d²E/dθ² (``square=True``: weights², inputs², f'(a)²)
for the step sizes. Parameters come as `lenet.models.paper.paper_parameters` lists them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lenet.models.paper import A, S

__all__ = ["explicit_forward", "explicit_backward"]


def _layer(h: Tensor, W: Tensor, b: Tensor, conv: bool, first: bool = False) -> tuple:
    cols = F.unfold(h, 5) if conv else h[:, :, None]  # (N, K, L): a convolution as a matmul
    t = torch.tanh(S * (W @ cols + b[:, None]))  # (N, maps, L)
    return ("mm", W, cols, t, None if first else h.shape), t


def _subsample(h: Tensor, coef: Tensor, bias: Tensor) -> tuple:
    s = F.avg_pool2d(h, 2, divisor_override=1)  # 2×2 sums
    t = torch.tanh(S * (s * coef[:, None, None] + bias[:, None, None]))
    return ("sub", coef, s, t, h.shape), t


def explicit_forward(
    P: list[Tensor], x: Tensor, c3_idx: tuple[Tensor, Tensor]
) -> tuple[list, Tensor]:
    """C1 … F6 on x (N, 1, 32, 32) with explicit pre-activations kept for `explicit_backward`."""
    W1, b1, c2, b2, K3, b3, c4, b4, W5, b5, W6, b6 = P
    n = x.shape[0]
    c1, t = _layer(x, W1.view(6, 25), b1, conv=True, first=True)
    s2, t = _subsample((A * t).view(n, 6, 28, 28), c2, b2)
    W3 = K3.new_zeros(16, 6, 5, 5).index_put(c3_idx, K3)  # as PartialConv2d.weight
    c3, t = _layer(A * t, W3.view(16, 150), b3, conv=True)
    s4, t = _subsample((A * t).view(n, 16, 10, 10), c4, b4)
    c5, t = _layer((A * t).view(n, 400), W5.view(120, 400), b5, conv=False)  # 5×5 on 5×5
    f6, t = _layer(A * t[:, :, 0], W6, b6, conv=False)
    return [c1, s2, c3, s4, c5, f6], A * t[:, :, 0]  # F6 output (N, 84)


def explicit_backward(
    cache: list, dx: Tensor, square: bool, c3_idx: tuple[Tensor, Tensor]
) -> list[Tensor]:
    """Backpropagate dE/dx of F6's output into dE/dθ, or, with square=True, d²E/dx² into
    appendix C's Gauss-Newton diagonal d²E/dθ² (weights², inputs², f'(a)², no cross terms;
    shared weights sum over their connections). Both are summed over the batch."""
    grads: list[Tensor] = []
    for kind, w, inp, t, in_shape in reversed(cache):
        fprime = A * S * (1 - t * t)
        da = dx.reshape(t.shape) * (fprime * fprime if square else fprime)
        w2, inp2 = (w * w, inp * inp) if square else (w, inp)
        if kind == "sub":  # a = coef · s + bias; each input feeds one unit through coef
            grads[:0] = [(da * inp2).sum((0, 2, 3)), da.sum((0, 2, 3))]
            up = (da * w2[:, None, None])[:, :, :, None, :, None].expand(-1, -1, -1, 2, -1, 2)
            dx = up.reshape(in_shape)
        else:  # a = W @ cols + b
            gw = (
                da[:, :, 0].T @ inp2[:, :, 0]
                if da.shape[2] == 1  # Σ over batch, positions
                else torch.bmm(da, inp2.transpose(1, 2)).sum(0)
            )
            if w.shape == (16, 150):  # C3: only the 60 connected kernels are parameters
                gw = gw.view(16, 6, 25)[c3_idx].view(-1, 5, 5)
            grads[:0] = [gw, da.sum((0, 2))]
            if in_shape is not None:  # C1 needs no input gradient
                dcols = w2.T @ da  # (N, K, L)
                dx = F.fold(dcols, in_shape[2:], 5) if len(in_shape) == 4 else dcols
    return grads
