"""Looking inside LeNet-5: activations per layer, kernels, saliency and occlusion.

Everything takes a model and a (N, 1, 32, 32) input already normalised like its training data
(``lenet.data.preprocess_digit`` and ``load_split`` produce that). Functions never change the
model (no hooks, no ``.grad``), so one cached model can serve many viewers at once.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from lenet.models import LAYERS
from lenet.models.blocks import op_of
from lenet.models.paper import c3_connections

__all__ = [
    "LAYERS",
    "activations",
    "kernels",
    "connection_table",
    "predict_one",
    "saliency",
    "occlusion",
    "analyse_digit",
]


@torch.no_grad()
def activations(model: nn.Module, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
    """Every layer's output for input ``x``, in order: C1 (N,6,28,28) ... OUTPUT (N,10).

    C5's (N,120,1,1) is flattened to (N,120); OUTPUT is the logits the model returns (for the
    paper variant, the negated RBF distances).
    """
    model.eval()
    # The layers are called in turn, as LeNet5.forward does, rather than through forward hooks:
    # hooks live on the shared model, so two viewers' passes at once would record each other's maps.
    acts: OrderedDict[str, torch.Tensor] = OrderedDict()
    for name in LAYERS:
        x = getattr(model, name)(x)
        if name == "C5":
            x = x.flatten(1)  # (N, 120, 1, 1) -> (N, 120)
        acts[name] = x
    acts["OUTPUT"] = model.logits(acts["OUTPUT"])  # forward()'s logits (-RBF distance, paper)
    return acts


@torch.no_grad()
def kernels(model: nn.Module, layer: str = "C1") -> torch.Tensor:
    """Convolution kernels: C1 (6, 1, 5, 5), C3 (16, 6, 5, 5) (zeros where unconnected)."""
    if layer not in ("C1", "C3", "C5"):
        raise ValueError(f"layer {layer!r} has no kernels; choose C1, C3 or C5")
    return op_of(getattr(model, layer)).weight.detach().clone()


def connection_table(model: nn.Module) -> torch.Tensor:
    """Bool (16, 6): which S2 maps feed each C3 map (Table I for the paper's sparse C3)."""
    table = getattr(op_of(model.C3), "table", None)
    return c3_connections(table) if table is not None else torch.ones(16, 6, dtype=torch.bool)


@torch.no_grad()
def predict_one(model: nn.Module, x: torch.Tensor) -> dict:
    """Prediction for one image (1, 1, 32, 32): probabilities, top-3 and every layer's maps."""
    acts = activations(model, x)
    probs = acts["OUTPUT"][0].softmax(0)
    p, c = probs.topk(3)
    return {
        "probs": probs,
        "prediction": int(c[0]),
        "top3": [(int(ci), float(pi)) for ci, pi in zip(c, p, strict=True)],
        "activations": acts,
    }


def saliency(model: nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    """|d logit_target / d input| (32, 32): which pixels would change this class's score most."""
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    # autograd.grad, not backward(): a model shared between viewers must not collect .grad
    (grad,) = torch.autograd.grad(model(x)[0, target], x)
    return grad[0, 0].abs().numpy()


@torch.no_grad()
def occlusion(
    model: nn.Module,
    x: torch.Tensor,
    target: int,
    patch: int = 6,
    stride: int = 2,
    fill: float | None = None,
) -> np.ndarray:
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
        batch[i, 0, r : r + patch, c : c + patch] = fill
    base = model(x).softmax(1)[0, target]
    drops = base - model(batch).softmax(1)[:, target]  # (P,)
    heat = torch.zeros(size, size)
    count = torch.zeros(size, size)
    for d, (r, c) in zip(drops, coords, strict=True):
        heat[r : r + patch, c : c + patch] += d
        count[r : r + patch, c : c + patch] += 1
    return (heat / count.clamp(min=1)).numpy()


def analyse_digit(
    model: nn.Module, x: torch.Tensor, target: int | None = None, patch: int = 6
) -> dict:
    """Everything the feature-map view shows for one image (1, 1, 32, 32), in one call.

    ``predict_one``'s keys plus ``target`` (default: the predicted class) and its gradient
    ``saliency`` and ``occlusion`` maps, both (32, 32).
    """
    result = predict_one(model, x)
    target = result["prediction"] if target is None else int(target)
    return {
        **result,
        "target": target,
        "saliency": saliency(model, x, target),
        "occlusion": occlusion(model, x, target, patch=patch),
    }
