"""Stochastic diagonal Levenberg-Marquardt (LeCun et al. 1998, appendix C): the optimizer and
its curvature estimate, for the 1998 network (`lenet.models.paper`)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
from torch import Tensor

from lenet.models.paper import paper_parameters
from lenet.training.backprop import explicit_backward, explicit_forward

__all__ = ["MU", "SDLM", "gauss_newton_diagonal"]


@torch.no_grad()
def gauss_newton_diagonal(model: nn.Module, images: Tensor) -> list[Tensor]:
    """Appendix C's estimate of the diagonal d²E/dθ_k², averaged over `images` in one
    vectorised pass, in `paper_parameters` order. The recursion starts from the MLE
    criterion's exact d²E/dx_j² = 2 at F6's output (whatever the class); with `map_loss` the
    curvature of its second term is left out. Drops f'' and off-diagonal terms, as the paper."""
    params = [p.detach() for p in paper_parameters(model)]
    c3_idx = (model.C3.conv.out_idx, model.C3.conv.in_idx)
    cache, out = explicit_forward(params, images, c3_idx)
    h = explicit_backward(cache, torch.full_like(out, 2.0), square=True, c3_idx=c3_idx)
    return [hk.reshape(p.shape) / len(images) for hk, p in zip(h, params, strict=True)]


MU = 0.02  # appendix C / sec. III.C: keeps η/(μ + h) bounded where h is tiny


class SDLM(torch.optim.Optimizer):
    """Stochastic diagonal Levenberg-Marquardt (appendix C): θ_k -= η/(μ + h_kk) · g_k.
    `estimate_hessian` stores h_kk (state "hessian"); before it is called h = 0."""

    def __init__(self, params, lr: float = 5e-4, mu: float = MU) -> None:
        super().__init__(params, {"lr": lr, "mu": mu})

    def step_sizes(self) -> dict[Tensor, Tensor]:
        """η/(μ + h) per parameter; the fast loops compute it once per pass."""
        return {
            p: g["lr"] / (g["mu"] + self.state[p].get("hessian", torch.zeros_like(p)))
            for g in self.param_groups
            for p in g["params"]
        }

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for p, eps in self.step_sizes().items():
            if p.grad is not None:
                p.addcmul_(p.grad, eps, value=-1.0)
        return loss

    def estimate_hessian(self, model: nn.Module, images: Tensor) -> None:
        """Re-estimate h_kk on `images` (the paper: 500 patterns before each pass)."""
        for p, h in zip(paper_parameters(model), gauss_newton_diagonal(model, images), strict=True):
            self.state[p]["hessian"] = h
