"""LeNet-5's building blocks: an operation followed by an activation, and the seed's names.

Every layer of every variant is one of these, so a layer always reads ``op`` then ``act``:
``ConvAct`` for C1, C3 and C5, ``LinearAct`` for F6, and the subsampling stand-ins for S2/S4.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "ConvAct",
    "LinearAct",
    "ConvTanh",
    "SubsampleAvgPool",
    "init_tanh_xavier",
    "op_of",
    "fan_in",
]


class ConvAct(nn.Module):
    """A convolution followed by an activation (C1, C3, C5)."""

    def __init__(self, conv: nn.Module, act: nn.Module):
        super().__init__()
        self.conv = conv
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class LinearAct(nn.Module):
    """A fully connected layer followed by an activation (F6)."""

    def __init__(self, in_features: int, out_features: int, act: nn.Module):
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(x))


class ConvTanh(ConvAct):
    """A 5×5 convolution followed by tanh: the seed's block for C1, C3 and C5."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5):
        super().__init__(nn.Conv2d(in_channels, out_channels, kernel_size), nn.Tanh())


class SubsampleAvgPool(nn.Module):
    """2×2 average pooling, stride 2, then tanh (or ``act``): the seed's stand-in for the
    paper's S2/S4."""

    def __init__(self, kernel_size: int = 2, act: nn.Module | None = None):
        super().__init__()
        self.pool = nn.AvgPool2d(kernel_size, stride=kernel_size)
        self.act = nn.Tanh() if act is None else act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.pool(x))


@torch.no_grad()
def init_tanh_xavier(module: nn.Module) -> None:
    """Xavier/Glorot-uniform weights with tanh's gain and zero biases (``model.apply(...)``).

    tanh saturates for large inputs; Glorot's scaling keeps each layer's activations in its
    linear range at the start, which is what lets the classic variant learn fast.
    """
    if isinstance(module, nn.Conv2d | nn.Linear):
        nn.init.xavier_uniform_(module.weight, gain=nn.init.calculate_gain("tanh"))
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def op_of(layer: nn.Module) -> nn.Module:
    """The operation inside a layer, without its activation (a layer that is one op: itself)."""
    for name in ("conv", "fc", "pool"):
        if isinstance(getattr(layer, name, None), nn.Module):
            return getattr(layer, name)
    return layer


def fan_in(op: nn.Module) -> torch.Tensor | float | None:
    """Inputs of one output unit of ``op`` (a tensor, one per map, where maps differ), or None
    for a module that is not a weighted or pooling operation."""
    if callable(getattr(op, "fan_in", None)):  # the paper's own ops know theirs
        return op.fan_in()
    if isinstance(op, nn.Conv2d | nn.Linear):
        return float(op.weight[0].numel())
    if isinstance(op, nn.AvgPool2d | nn.MaxPool2d):
        k = op.kernel_size
        return float(k * k if isinstance(k, int) else k[0] * k[1])
    return None
