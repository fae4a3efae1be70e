"""What a LeNet-5 is made of, measured from the model itself: per layer its output shape,
trainable parameters and connections (the paper's way of counting, sec. II.B)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from lenet.models.blocks import fan_in, op_of

__all__ = ["summary", "layer_table", "count_parameters", "count_connections"]


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters (buffers such as the fixed RBF bitmaps are not parameters)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def count_connections(layer: nn.Module, output_shape: tuple[int, ...]) -> int:
    """Connections into a layer's outputs: Σ over output units of (inputs + 1 for a bias).

    A unit's inputs are its operation's fan-in (per map for Table I's C3); poolings and the
    RBF output have no bias, so the paper's OUTPUT counts 84 per unit.
    """
    op = op_of(layer)
    fan = fan_in(op)
    if fan is None:
        raise TypeError(f"no connection rule for {type(op).__name__}")
    has_bias = isinstance(getattr(op, "bias", None), torch.Tensor)
    maps, per_map = output_shape[0], int(torch.Size(output_shape[1:]).numel())
    return int((torch.as_tensor(fan) + has_bias).expand(maps).sum()) * per_map


@torch.no_grad()
def layer_table(layers: Mapping[str, nn.Module], input_shape=(1, 32, 32)) -> list[dict]:
    """Push a blank input through ``layers`` in order (C5's 1×1 maps flattened into F6's
    inputs, as ``LeNet5.forward`` does); one row per layer: name, output shape, trainable
    parameters and connections, all computed, none typed in."""
    x, rows = torch.zeros(1, *input_shape), []
    for name, layer in layers.items():
        x = layer(x)
        if name == "C5":
            x = x.flatten(1)  # (1, 120, 1, 1) -> (1, 120)
        shape = tuple(x.shape[1:])
        rows.append(
            {
                "layer": name,
                "output_shape": shape,
                "parameters": count_parameters(layer),
                "connections": count_connections(layer, shape),
            }
        )
    return rows


def summary(model: nn.Module) -> list[dict]:
    """One row per layer of a ``LeNet5``: name, kind, output shape, parameters, connections.

    Shapes come from a real forward pass on a blank 32x32 input, so the table can't drift
    from the code.
    """
    from_model = {name: getattr(model, name) for name in model.spec.kinds}
    return [{**row, "kind": model.spec.kinds[row["layer"]]} for row in layer_table(from_model)]
