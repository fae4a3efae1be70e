"""LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998) in three variants.

- ``classic``: the common re-implementation (tanh, average pooling, dense C3, linear output);
  61,706 parameters. The seed repository's network.
- ``modern``: the same shapes with ReLU and max-pooling, as most people would build it today.
- ``paper``: the 1998 network itself (scaled tanh, trainable subsampling, Table I's sparse C3,
  Euclidean RBF output); see ``lenet.paper``.

Layer attributes carry the paper's names (``C1``, ``S2``, ... ``OUTPUT``) instead of PEP 8's
lowercase so that checkpoints, ``activations()`` keys and the UI all read like the paper.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "VARIANTS",
    "INITS",
    "ConvTanh",
    "SubsampleAvgPool",
    "LeNet5",
    "init_tanh_xavier",
    "build_model",
    "summary",
    "count_parameters",
]

VARIANTS = ("classic", "modern", "paper")
INITS = ("default", "xavier", "paper")


class ConvTanh(nn.Module):
    """A 2-D convolution followed by tanh (the seed's building block for C1, C3 and C5)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(x))


class SubsampleAvgPool(nn.Module):
    """2x2 average pooling, stride 2, then tanh: the seed's stand-in for the paper's S2/S4."""

    def __init__(self, kernel_size: int = 2):
        super().__init__()
        self.pool = nn.AvgPool2d(kernel_size, stride=kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.pool(x))


class ConvReLU(nn.Module):
    """Convolution then ReLU, the modern variant's block (same shapes as ``ConvTanh``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


class LinearAct(nn.Module):
    """A fully connected layer followed by an activation (F6)."""

    def __init__(self, in_features: int, out_features: int, act: nn.Module):
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(x))


class LeNet5(nn.Module):
    """LeNet-5 on 32x32 single-channel input; returns logits of shape (N, 10).

    For the ``paper`` variant the logits are the negated RBF distances, so that argmax, softmax
    and top-k mean the same thing for every variant (the paper's class is the smallest distance).
    """

    def __init__(self, variant: str = "classic"):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        self.variant = variant
        if variant == "classic":
            self.C1 = ConvTanh(1, 6)
            self.S2 = SubsampleAvgPool()
            self.C3 = ConvTanh(6, 16)  # dense 6->16: the common simplification of Table I
            self.S4 = SubsampleAvgPool()
            self.C5 = ConvTanh(16, 120)
            self.F6 = LinearAct(120, 84, nn.Tanh())
            self.OUTPUT = nn.Linear(84, 10)
        elif variant == "modern":
            self.C1 = ConvReLU(1, 6)
            self.S2 = nn.MaxPool2d(2)
            self.C3 = ConvReLU(6, 16)
            self.S4 = nn.MaxPool2d(2)
            self.C5 = ConvReLU(16, 120)
            self.F6 = LinearAct(120, 84, nn.ReLU())
            self.OUTPUT = nn.Linear(84, 10)
        else:
            from lenet.paper import paper_layers  # deferred: only this variant needs it

            for name, layer in paper_layers().items():
                setattr(self, name, layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.C1(x)  # (N, 6, 28, 28)
        x = self.S2(x)  # (N, 6, 14, 14)
        x = self.C3(x)  # (N, 16, 10, 10)
        x = self.S4(x)  # (N, 16, 5, 5)
        x = self.C5(x).flatten(1)  # (N, 120, 1, 1) -> (N, 120)
        x = self.F6(x)  # (N, 84)
        x = self.OUTPUT(x)  # (N, 10)
        return -x if self.variant == "paper" else x


@torch.no_grad()
def init_tanh_xavier(module: nn.Module) -> None:
    """Xavier/Glorot-uniform weights with tanh's gain and zero biases (apply with ``model.apply``).

    tanh saturates for large inputs; Glorot's scaling keeps each layer's activations in its
    linear range at the start, which is what lets the classic variant learn fast.
    """
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(module.weight, gain=nn.init.calculate_gain("tanh"))
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def build_model(variant: str = "classic", init: str = "default", seed: int | None = None) -> LeNet5:
    """A fresh ``LeNet5`` with the chosen initialisation (``default`` is PyTorch's own)."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
    if seed is not None:
        torch.manual_seed(seed)
    model = LeNet5(variant)
    if init == "xavier":
        model.apply(init_tanh_xavier)
    elif init == "paper":
        from lenet.paper import paper_init_

        paper_init_(model)
    return model


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters (buffers such as the fixed RBF bitmaps are not parameters)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


LAYER_KINDS = {
    "classic": {
        "C1": "conv 5x5 + tanh",
        "S2": "avg-pool 2x2 + tanh",
        "C3": "conv 5x5 + tanh",
        "S4": "avg-pool 2x2 + tanh",
        "C5": "conv 5x5 + tanh",
        "F6": "linear + tanh",
        "OUTPUT": "linear",
    },
    "modern": {
        "C1": "conv 5x5 + ReLU",
        "S2": "max-pool 2x2",
        "C3": "conv 5x5 + ReLU",
        "S4": "max-pool 2x2",
        "C5": "conv 5x5 + ReLU",
        "F6": "linear + ReLU",
        "OUTPUT": "linear",
    },
    "paper": {
        "C1": "conv 5x5 + squash",
        "S2": "trainable subsample + squash",
        "C3": "sparse conv 5x5 (Table I) + squash",
        "S4": "trainable subsample + squash",
        "C5": "conv 5x5 + squash",
        "F6": "linear + squash",
        "OUTPUT": "Euclidean RBF",
    },
}


def _connections(
    name: str, layer: nn.Module, out_shape: tuple[int, ...], in_shape: tuple[int, ...]
) -> int:
    """Multiply-accumulate connections into a layer's outputs, counting biases as the paper does."""
    if hasattr(layer, "connections"):
        return int(layer.connections(in_shape, out_shape))
    units = math.prod(out_shape)
    conv = next((m for m in layer.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is not None:
        k = conv.kernel_size[0] * conv.kernel_size[1]
        return units * (conv.in_channels * k + 1)
    lin = next((m for m in layer.modules() if isinstance(m, nn.Linear)), None)
    if lin is not None:
        return units * (lin.in_features + 1)
    if isinstance(layer, (nn.AvgPool2d, nn.MaxPool2d, SubsampleAvgPool)):
        return units * 4  # each output reads a 2x2 window
    return units


@torch.no_grad()
def summary(model: LeNet5) -> list[dict]:
    """One row per layer: name, kind, output shape, trainable parameters, connections.

    Shapes come from a real forward pass on a blank 32x32 input, so the table can't drift from
    the code; the paper variant's connection counts follow the paper's definition.
    """
    if model.variant == "paper":  # trainable subsampling and Table I: the paper's own rule
        from lenet.paper import count_connections
    rows = []
    x = torch.zeros(1, 1, 32, 32)
    for name in ("C1", "S2", "C3", "S4", "C5", "F6", "OUTPUT"):
        layer = getattr(model, name)
        in_shape = tuple(x.shape[1:])
        x = layer(x)
        if name == "C5":
            x = x.flatten(1)
        out_shape = tuple(x.shape[1:])
        rows.append(
            {
                "layer": name,
                "kind": LAYER_KINDS[model.variant][name],
                "output_shape": out_shape,
                "parameters": count_parameters(layer),
                "connections": _connections(name, layer, out_shape, in_shape)
                if model.variant != "paper"
                else count_connections(layer, out_shape),
            }
        )
    return rows
