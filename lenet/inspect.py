"""Looking inside LeNet-5: activations per layer, kernels, saliency and occlusion.

Everything takes a model and a (N, 1, 32, 32) input already normalised like its training data
(``lenet.data.preprocess_digit`` and ``load_split`` produce that).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

__all__ = ["LAYERS", "activations", "kernels", "connection_table", "predict_one", "saliency",
           "occlusion"]

LAYERS = ("C1", "S2", "C3", "S4", "C5", "F6", "OUTPUT")


@torch.no_grad()
def activations(model: nn.Module, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
    """Every layer's output for input ``x``, in order: C1 (N,6,28,28) ... OUTPUT (N,10).

    C5's (N,120,1,1) is flattened to (N,120); OUTPUT is the logits the model returns (for the
    paper variant, the negated RBF distances).
    """
    model.eval()
    acts: OrderedDict[str, torch.Tensor] = OrderedDict()
    hooks = [getattr(model, name).register_forward_hook(
        lambda _m, _i, out, name=name: acts.__setitem__(name, out)) for name in LAYERS]
    try:
        logits = model(x)
    finally:
        for h in hooks:
            h.remove()
    acts["C5"] = acts["C5"].flatten(1)
    acts["OUTPUT"] = logits
    return acts


def _conv_weight(layer: nn.Module) -> torch.Tensor:
    if hasattr(layer, "weight") and torch.is_tensor(layer.weight):
        return layer.weight
    for m in layer.modules():  # ConvTanh / Sequential(PartialConv2d, Squash) / ...
        if m is not layer and hasattr(m, "weight") and torch.is_tensor(m.weight) and m.weight.dim() == 4:
            return m.weight
    raise ValueError(f"{type(layer).__name__} has no convolution kernels")


@torch.no_grad()
def kernels(model: nn.Module, layer: str = "C1") -> torch.Tensor:
    """Convolution kernels: C1 (6, 1, 5, 5), C3 (16, 6, 5, 5) (zeros where unconnected)."""
    if layer not in ("C1", "C3", "C5"):
        raise ValueError(f"layer {layer!r} has no kernels; choose C1, C3 or C5")
    return _conv_weight(getattr(model, layer)).detach().clone()


def connection_table(model: nn.Module) -> torch.Tensor:
    """Bool (16, 6): which S2 maps feed each C3 map (all True for classic/modern)."""
    if getattr(model, "variant", None) == "paper":
        from lenet.paper import c3_connections
        return c3_connections()
    return torch.ones(16, 6, dtype=torch.bool)


@torch.no_grad()
def predict_one(model: nn.Module, x: torch.Tensor) -> dict:
    """Prediction for one image (1, 1, 32, 32): probabilities, top-3 and every layer's maps."""
    acts = activations(model, x)
    probs = acts["OUTPUT"][0].softmax(0)
    p, c = probs.topk(3)
    return {"probs": probs, "prediction": int(c[0]),
            "top3": [(int(ci), float(pi)) for ci, pi in zip(c, p)], "activations": acts}


def saliency(model: nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    """|d logit_target / d input| (32, 32): which pixels would change this class's score most."""
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    model(x)[0, target].backward()
    return x.grad[0, 0].abs().numpy()


@torch.no_grad()
def occlusion(model: nn.Module, x: torch.Tensor, target: int, patch: int = 6, stride: int = 2,
              fill: float | None = None) -> np.ndarray:
    """Drop in the target's probability when a ``patch``-sized square is blanked, per position.

    One batched forward pass over all positions; the map is (32, 32), each pixel averaging the
    drops of the patches covering it. ``fill`` defaults to the image's background value.
    """
    model.eval()
    fill = float(x.min()) if fill is None else fill
    size = x.shape[-1]
    starts = range(0, size - patch + 1, stride)
    coords = [(r, c) for r in starts for c in starts]
    batch = x.repeat(len(coords), 1, 1, 1)
    for i, (r, c) in enumerate(coords):
        batch[i, 0, r:r + patch, c:c + patch] = fill
    base = model(x).softmax(1)[0, target]
    drops = base - model(batch).softmax(1)[:, target]  # (P,)
    heat = torch.zeros(size, size)
    count = torch.zeros(size, size)
    for d, (r, c) in zip(drops, coords):
        heat[r:r + patch, c:c + patch] += d
        count[r:r + patch, c:c + patch] += 1
    return (heat / count.clamp(min=1)).numpy()
