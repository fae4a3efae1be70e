"""How one unit of LeNet-5 got its value: the numbers it read, the weights it used, the sum and
the activation, for any layer of any variant (``explain_unit``).

The arithmetic is done again here, term by term, from the layer's own parameters, so that a
page can write it out; the result's ``activation`` is the forward pass's value (tested for every
variant and layer). Everything takes an input normalised like the model's training data, as
``lenet.analysis.introspection`` does, and never changes the model.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lenet.analysis.introspection import activations, connection_table
from lenet.models import LAYERS
from lenet.models.blocks import op_of
from lenet.models.paper import RBFOutput, Squash, TrainableSubsample, squash

__all__ = ["explain_unit", "receptive_field"]

# (kernel, stride) of each spatial layer, from its input: how far a unit sees
_GEOMETRY = {"C1": (5, 1), "S2": (2, 2), "C3": (5, 1), "S4": (2, 2), "C5": (5, 1)}
_SPATIAL = ("C1", "S2", "C3", "S4", "C5")


def receptive_field(layer: str, row: int, col: int) -> tuple[int, int, int]:
    """(top, left, size) of the square of input pixels (32×32) the unit at (row, col) of a
    spatial layer depends on: 5 for C1, 6 for S2, 14 for C3, 16 for S4, 32 for C5."""
    top = bottom = row
    left = right = col
    for name in reversed(_SPATIAL[: _SPATIAL.index(layer) + 1]):
        k, s = _GEOMETRY[name]
        top, bottom = top * s, bottom * s + k - 1
        left, right = left * s, right * s + k - 1
    return top, left, bottom - top + 1


def _activation(layer: nn.Module) -> tuple[str, object]:
    """(its name, the function) of the activation a layer applies after its operation."""
    act = getattr(layer, "act", None)
    if isinstance(act, Squash):
        return "squash", squash
    if isinstance(act, nn.Tanh):
        return "tanh", torch.tanh
    if isinstance(act, nn.ReLU):
        return "relu", torch.relu
    return "identity", lambda a: a


def _index(layer: str, index, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The unit's index, checked against the layer's output ``shape`` (without the batch)."""
    idx = (index,) if isinstance(index, int) else tuple(index)
    if layer == "C5" and len(idx) == 1:
        idx = (idx[0], 0, 0)
    whole = all(isinstance(i, int) and not isinstance(i, bool) for i in idx)
    if len(idx) != len(shape) or not whole:
        form = "(map, row, col)" if len(shape) == 3 else "one number"
        raise ValueError(f"a unit of {layer} is named by {form}, got {index!r}")
    if not all(0 <= i < n for i, n in zip(idx, shape, strict=True)):
        raise ValueError(f"unit {index!r} is outside {layer}, whose shape is {shape}")
    return idx


@torch.no_grad()
def explain_unit(model: nn.Module, x: Tensor, layer: str, index) -> dict:
    """The arithmetic of one unit of ``layer`` for the digit ``x`` ((1, 1, 32, 32) or
    (1, 32, 32)), as a dict of tensors and numbers.

    ``index``: (map, row, col) for C1, S2, C3, S4 (C5: its map, or (map, 0, 0)); the unit's
    number for F6 and OUTPUT. Every answer has ``layer``, ``index``, ``pre_activation``,
    ``activation`` (the forward pass's value), ``activation_name`` and ``terms`` (the
    products summed). Besides:

    - C1, C3, C5: ``maps`` (the input maps read: for the paper's C3, the S2 maps Table I
      connects), ``patch`` and ``kernel`` (maps read, 5, 5), ``products`` (their elementwise
      product), ``bias``, ``receptive_field`` (top, left, size on the digit).
    - S2, S4: ``window`` (2, 2), ``pool`` ("mean", "max" or "sum"), ``pooled``, ``coefficient``
      and ``bias`` (the paper's trainable ones; None otherwise), ``receptive_field``.
    - F6, and OUTPUT of the classic and modern variants: ``inputs``, ``weights``,
      ``products``, ``bias`` and ``top`` (the largest contributions: (input, product) pairs).
    - OUTPUT of the paper's network: ``inputs``, ``center`` (the class's bitmap), ``products``
      (the squared differences), ``distances`` to every class bitmap (pre_activation is this
      class's; the model's logit, its negative, is ``activation``).
    """
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}; choose one of {', '.join(LAYERS)}")
    x = x if x.dim() == 4 else x.unsqueeze(0)
    if x.shape[0] != 1:
        raise ValueError(f"explain one digit at a time: got a batch of {x.shape[0]}")
    acts = activations(model, x)
    before = LAYERS.index(layer)
    inp = (x if before == 0 else acts[LAYERS[before - 1]])[0]
    out = acts[layer][0]
    if layer == "C5":
        out = out[:, None, None]
    idx = _index(layer, index, tuple(out.shape))
    module = getattr(model, layer)
    name, act = _activation(module)
    result: dict = {"layer": layer, "index": idx, "activation_name": name,
                    "activation": float(out[idx])}  # fmt: skip
    if layer in ("C1", "C3", "C5"):
        result.update(_convolution(model, module, inp, layer, idx))
    elif layer in ("S2", "S4"):
        result.update(_subsampling(module, inp, layer, idx))
    elif layer == "OUTPUT" and isinstance(module, RBFOutput):
        result.update(_rbf(module, inp, idx[0]))
        return result
    else:
        result.update(_weighted_sum(op_of(module), inp, idx[0]))
    # the activation function applied to the sum written out: equals the forward pass's value
    result["from_arithmetic"] = float(act(torch.tensor(result["pre_activation"])))
    return result


def _convolution(model, module, inp: Tensor, layer: str, idx) -> dict:
    m, r, c = idx
    conv = op_of(module)
    if layer == "C3":
        maps = connection_table(model)[m].nonzero().flatten().tolist()
    else:
        maps = list(range(inp.shape[0]))
    patch = inp[maps, r : r + 5, c : c + 5]
    kernel = conv.weight[m, maps].detach()
    products = patch * kernel
    bias = float(conv.bias[m])
    return {"maps": maps, "patch": patch, "kernel": kernel, "products": products, "bias": bias,
            "terms": products.numel(), "pre_activation": float(products.sum()) + bias,
            "receptive_field": receptive_field(layer, r, c)}  # fmt: skip


def _subsampling(module, inp: Tensor, layer: str, idx) -> dict:
    m, r, c = idx
    window = inp[m, 2 * r : 2 * r + 2, 2 * c : 2 * c + 2]
    coef = bias = None
    if isinstance(module, TrainableSubsample):
        pool, pooled = "sum", float(window.sum())
        coef, bias = float(module.coef[m]), float(module.bias[m])
        pre = pooled * coef + bias
    elif isinstance(module, nn.MaxPool2d):
        pool, pooled = "max", float(window.max())
        pre = pooled
    else:
        pool, pooled = "mean", float(window.mean())
        pre = pooled
    return {"window": window, "pool": pool, "pooled": pooled, "coefficient": coef, "bias": bias,
            "terms": 4, "pre_activation": pre,
            "receptive_field": receptive_field(layer, r, c)}  # fmt: skip


def _weighted_sum(linear: nn.Linear, inp: Tensor, unit: int, top: int = 8) -> dict:
    inputs = inp.flatten()
    weights = linear.weight[unit].detach()
    products = inputs * weights
    bias = float(linear.bias[unit])
    order = products.abs().argsort(descending=True)[:top].tolist()
    return {"inputs": inputs, "weights": weights, "products": products, "bias": bias,
            "terms": products.numel(), "pre_activation": float(products.sum()) + bias,
            "top": [(i, float(products[i])) for i in order]}  # fmt: skip


def _rbf(module: RBFOutput, inp: Tensor, unit: int) -> dict:
    inputs = inp.flatten()
    squares = (inputs[None, :] - module.centers) ** 2  # (10, 84)
    distances = squares.sum(1)
    return {"inputs": inputs, "center": module.centers[unit], "products": squares[unit],
            "terms": squares.shape[1], "distances": distances,
            "pre_activation": float(distances[unit]),
            "from_arithmetic": -float(distances[unit])}  # fmt: skip
