"""LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998): one model class, its variants in a registry.

A variant is a named set of layers C1 … OUTPUT plus what the rest of the code needs to know
about it (how its inputs are scaled, whether OUTPUT gives distances). The three registered:

- ``classic``: the common re-implementation (tanh, average pooling, dense C3, linear output);
  61,706 parameters. The seed repository's network.
- ``modern``: the same shapes with ReLU and max-pooling, as most people would build it today.
- ``paper``: the 1998 network itself (scaled tanh, trainable subsampling, Table I's sparse C3,
  Euclidean RBF output); see ``lenet.models.paper``.

Layer attributes carry the paper's names (``C1``, ``S2``, ... ``OUTPUT``) instead of PEP 8's
lowercase so that checkpoints, ``activations()`` keys and the UI all read like the paper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from lenet.models import paper
from lenet.models.blocks import ConvAct, ConvTanh, LinearAct, SubsampleAvgPool, init_tanh_xavier

__all__ = [
    "LAYERS",
    "Variant",
    "register_variant",
    "get_variant",
    "VARIANTS",
    "INITS",
    "LeNet5",
    "build_model",
    "normalization_of",
]

LAYERS = ("C1", "S2", "C3", "S4", "C5", "F6", "OUTPUT")
INITS = ("default", "xavier", "paper", "zero")


@dataclass(frozen=True)
class Variant:
    """One registered LeNet-5: its layers and the facts other modules need about it."""

    name: str
    layers: Callable[[], dict[str, nn.Module]]  # fresh C1 … OUTPUT modules, in order
    kinds: dict[str, str]  # what each layer does, in a few words (``summary``'s "kind")
    about: str = ""  # the variant in one sentence, for listings
    normalization: str = "mnist"  # how its input pixels are scaled (``lenet.data``)
    distance_output: bool = False  # OUTPUT gives distances: the logits are their negatives


_REGISTRY: dict[str, Variant] = {}


def register_variant(variant: Variant) -> Variant:
    """Add a variant (its name must be new); ``LeNet5(name)`` builds it from then on."""
    if variant.name in _REGISTRY:
        raise ValueError(f"variant {variant.name!r} is already registered")
    _REGISTRY[variant.name] = variant
    VARIANTS[:] = list(_REGISTRY)
    return variant


def get_variant(name: str) -> Variant:
    """The registered variant called ``name``; ValueError naming the choices otherwise."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown variant {name!r}; choose one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


VARIANTS: list[str] = []  # the registered names, in registration order


def normalization_of(variant: str) -> str:
    """How the inputs of ``variant`` are scaled: "mnist" (mean 0, std 1) or "paper"."""
    return get_variant(variant).normalization


register_variant(
    Variant(
        "classic",
        lambda: {
            "C1": ConvTanh(1, 6),
            "S2": SubsampleAvgPool(),
            "C3": ConvTanh(6, 16),  # dense 6->16: the common simplification of Table I
            "S4": SubsampleAvgPool(),
            "C5": ConvTanh(16, 120),
            "F6": LinearAct(120, 84, nn.Tanh()),
            "OUTPUT": nn.Linear(84, 10),
        },
        {
            "C1": "conv 5x5 + tanh",
            "S2": "avg-pool 2x2 + tanh",
            "C3": "conv 5x5 + tanh",
            "S4": "avg-pool 2x2 + tanh",
            "C5": "conv 5x5 + tanh",
            "F6": "linear + tanh",
            "OUTPUT": "linear",
        },  # fmt: skip
        "The common re-implementation: tanh, average pooling, every C3 map reads all six S2 maps.",
    )
)
register_variant(
    Variant(
        "modern",
        lambda: {
            "C1": ConvAct(nn.Conv2d(1, 6, 5), nn.ReLU()),
            "S2": nn.MaxPool2d(2),
            "C3": ConvAct(nn.Conv2d(6, 16, 5), nn.ReLU()),
            "S4": nn.MaxPool2d(2),
            "C5": ConvAct(nn.Conv2d(16, 120, 5), nn.ReLU()),
            "F6": LinearAct(120, 84, nn.ReLU()),
            "OUTPUT": nn.Linear(84, 10),
        },
        {
            "C1": "conv 5x5 + ReLU",
            "S2": "max-pool 2x2",
            "C3": "conv 5x5 + ReLU",
            "S4": "max-pool 2x2",
            "C5": "conv 5x5 + ReLU",
            "F6": "linear + ReLU",
            "OUTPUT": "linear",
        },  # fmt: skip
        "The same shapes built the way most people would today: ReLU and max-pooling.",
    )
)
register_variant(
    Variant(
        "paper",
        paper.paper_layers,
        {
            "C1": "conv 5x5 + squash",
            "S2": "trainable subsample + squash",
            "C3": "sparse conv 5x5 (Table I) + squash",
            "S4": "trainable subsample + squash",
            "C5": "conv 5x5 + squash",
            "F6": "linear + squash",
            "OUTPUT": "Euclidean RBF",
        },  # fmt: skip
        "The 1998 network itself: scaled tanh, trainable subsampling, Table I's sparse C3, RBF "
        "output.",
        normalization="paper",
        distance_output=True,
    )
)

# Checkpoints of the paper variant written before its layers were ConvAct / LinearAct named
# their operation by position ("C1.0.weight"); they load under the current names.
_RENAMED = {"C1.0.": "C1.conv.", "C3.0.": "C3.conv.", "C5.0.": "C5.conv.", "F6.0.": "F6.fc."}


class LeNet5(nn.Module):
    """LeNet-5 on 32x32 single-channel input; returns logits of shape (N, 10).

    For the ``paper`` variant the logits are the negated RBF distances, so that argmax, softmax
    and top-k mean the same thing for every variant (the paper's class is the smallest distance).
    """

    def __init__(self, variant: str = "classic"):
        super().__init__()
        self.spec = get_variant(variant)
        self.variant = variant
        for name, layer in self.spec.layers().items():
            setattr(self, name, layer)
        self._register_load_state_dict_pre_hook(_rename_old_keys, with_module=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.C1(x)  # (N, 6, 28, 28)
        x = self.S2(x)  # (N, 6, 14, 14)
        x = self.C3(x)  # (N, 16, 10, 10)
        x = self.S4(x)  # (N, 16, 5, 5)
        x = self.C5(x).flatten(1)  # (N, 120, 1, 1) -> (N, 120)
        x = self.F6(x)  # (N, 84)
        return self.logits(self.OUTPUT(x))  # (N, 10)

    def logits(self, output: torch.Tensor) -> torch.Tensor:
        """OUTPUT's values as logits: distances (the paper's RBF) are negated."""
        return -output if self.spec.distance_output else output

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}"


def _rename_old_keys(module, state_dict, prefix, *args) -> None:
    for key in [k for k in state_dict if k.startswith(prefix)]:
        rest = key[len(prefix) :]
        for old, new in _RENAMED.items():
            if rest.startswith(old):
                state_dict[prefix + new + rest[len(old) :]] = state_dict.pop(key)


def build_model(variant: str = "classic", init: str = "default", seed: int | None = None) -> LeNet5:
    """A fresh ``LeNet5`` with the chosen initialisation (``default`` is PyTorch's own;
    ``zero`` sets every weight and bias to 0, the classic way not to initialise)."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
    if seed is not None:
        torch.manual_seed(seed)
    model = LeNet5(variant)
    if init == "xavier":
        model.apply(init_tanh_xavier)
    elif init == "paper":
        paper.paper_init_(model)
    elif init == "zero":  # the symmetry lesson: every unit of a layer starts out the same
        with torch.no_grad():  # (the paper's RBF bitmaps are a buffer, fixed codes: kept)
            for p in model.parameters():
                p.zero_()
    return model
