"""LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998): one model class, its variants in a registry.

A variant is a named set of layers C1 … OUTPUT plus what the rest of the code needs to know
about it (how its inputs are scaled, whether OUTPUT gives distances). The three registered are
combinations of ``lenet.models.architecture``'s options:

- ``classic``: the common re-implementation (tanh, average pooling, dense C3, linear output);
  61,706 parameters. The seed repository's network.
- ``modern``: the same shapes with ReLU and max-pooling, as most people would build it today.
- ``paper``: the 1998 network itself (scaled tanh, trainable subsampling, Table I's sparse C3,
  Euclidean RBF output); see ``lenet.models.paper``.

Any other combination is a variant too, named by a registered one and the options it changes:
``LeNet5("paper,output=linear")``, or ``LeNet5(activation="relu")`` (options on top of the
classic network). Its name is canonical (``variant_name``), so runs and checkpoints record it.

Layer attributes carry the paper's names (``C1``, ``S2``, ... ``OUTPUT``) instead of PEP 8's
lowercase so that checkpoints, ``activations()`` keys and the UI all read like the paper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from lenet.models import paper
from lenet.models.architecture import Architecture, kinds_of, layers_of, parse_options
from lenet.models.blocks import init_tanh_xavier

__all__ = [
    "LAYERS",
    "Variant",
    "register_variant",
    "get_variant",
    "variant_name",
    "architecture_of",
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
    """One LeNet-5: its layers and the facts other modules need about it."""

    name: str
    layers: Callable[[], dict[str, nn.Module]]  # fresh C1 … OUTPUT modules, in order
    kinds: dict[str, str]  # what each layer does, in a few words (``summary``'s "kind")
    about: str = ""  # the variant in one sentence, for listings
    normalization: str = "mnist"  # how its input pixels are scaled (``lenet.data``)
    distance_output: bool = False  # OUTPUT gives distances: the logits are their negatives
    architecture: Architecture | None = None  # its options, when it is built from them

    @classmethod
    def of(cls, name: str, arch: Architecture, about: str = "") -> Variant:
        """The variant ``arch`` describes, called ``name``."""
        return cls(name, partial(layers_of, arch), kinds_of(arch), about, arch.inputs,
                   arch.output == "rbf", arch)  # fmt: skip


_REGISTRY: dict[str, Variant] = {}
_COMPOSED: dict[str, Variant] = {}  # combinations met so far, by canonical name


def register_variant(variant: Variant) -> Variant:
    """Add a variant (its name must be new); ``LeNet5(name)`` builds it from then on."""
    if variant.name in _REGISTRY:
        raise ValueError(f"variant {variant.name!r} is already registered")
    if "," in variant.name or "=" in variant.name:
        raise ValueError(f"a variant's name has no ',' or '=': {variant.name!r}")
    _REGISTRY[variant.name] = variant
    VARIANTS[:] = list(_REGISTRY)
    _COMPOSED.clear()  # a new name may be the shorter name of a combination
    return variant


def _built_from_options() -> list[Variant]:
    return [v for v in _REGISTRY.values() if v.architecture is not None]


def variant_name(arch: Architecture) -> str:
    """The canonical name of ``arch``: a registered variant's name when it is one, else the
    registered variant it differs from least (the first one on a tie) and those options, in
    option order: ``"paper,c3=dense,output=linear"``."""
    named = _built_from_options()
    if not named:
        raise ValueError("no variant built from options is registered")
    base = min(named, key=lambda v: len(v.architecture.changes(arch)))
    changes = base.architecture.changes(arch)
    return ",".join([base.name, *(f"{k}={v}" for k, v in changes.items())])


def architecture_of(name: str) -> Architecture:
    """The options of variant ``name`` (a registered one, or "base,option=choice,…");
    ValueError naming what is wrong, e.g. an unknown base, option or choice."""
    base, _, rest = name.partition(",")
    base = base.strip()
    if base not in _REGISTRY:
        raise ValueError(f"unknown variant {base!r}; choose one of {', '.join(_REGISTRY)}, "
                         "optionally with options: e.g. paper,output=linear")  # fmt: skip
    arch = _REGISTRY[base].architecture
    if arch is None:
        raise ValueError(f"variant {base!r} is not built from options; it takes none")
    return arch.with_options(**parse_options(rest))


def get_variant(name: str) -> Variant:
    """The variant called ``name``: a registered one, or a registered one with options on top
    ("classic,subsampling=max"); ValueError naming the choices otherwise."""
    if not isinstance(name, str):
        raise ValueError(f"a variant is named by text, not {name!r:.40}")
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name in _COMPOSED:
        return _COMPOSED[name]
    arch = architecture_of(name)
    canonical = variant_name(arch)
    if canonical in _REGISTRY:
        return _REGISTRY[canonical]
    if canonical not in _COMPOSED:
        base = canonical.split(",", 1)[0]
        about = f"The {base} network with {canonical.split(',', 1)[1].replace(',', ', ')}."
        _COMPOSED[canonical] = Variant.of(canonical, arch, about)
    _COMPOSED[name] = _COMPOSED[canonical]
    return _COMPOSED[name]


VARIANTS: list[str] = []  # the registered names, in registration order


def normalization_of(variant: str) -> str:
    """How the inputs of ``variant`` are scaled: "mnist" (mean 0, std 1) or "paper"."""
    return get_variant(variant).normalization


register_variant(
    Variant.of(
        "classic",
        Architecture(),  # dense 6->16 C3: the common simplification of Table I
        "The common re-implementation: tanh, average pooling, every C3 map reads all six S2 maps.",
    )
)
register_variant(
    Variant.of(
        "modern",
        Architecture(activation="relu", subsampling="max"),
        "The same shapes built the way most people would today: ReLU and max-pooling.",
    )
)
register_variant(
    Variant.of(
        "paper",
        Architecture("scaled-tanh", "trainable", "table-i", "rbf", "paper"),
        "The 1998 network itself: scaled tanh, trainable subsampling, Table I's sparse C3, RBF "
        "output.",
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

    def __init__(self, variant: str = "classic", **options: str):
        super().__init__()
        if options:  # LeNet5(activation="relu") or LeNet5("paper", output="linear")
            variant = variant_name(architecture_of(variant).with_options(**options))
        self.spec = get_variant(variant)
        self.variant = self.spec.name
        for name, layer in self.spec.layers().items():
            setattr(self, name, layer)
        self._register_load_state_dict_pre_hook(_rename_old_keys, with_module=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convolve_and_subsample(self.C1, self.S2, x)  # (N, 6, 28, 28) -> (N, 6, 14, 14)
        x = self.convolve_and_subsample(self.C3, self.S4, x)  # (N, 16, 10, 10) -> (N, 16, 5, 5)
        x = self.C5(x).flatten(1)  # (N, 120, 1, 1) -> (N, 120)
        x = self.F6(x)  # (N, 84)
        return self.logits(self.OUTPUT(x))  # (N, 10)

    def convolve_and_subsample(
        self, conv: nn.Module, subsample: nn.Module, x: torch.Tensor
    ) -> torch.Tensor:
        """C1 then S2, or C3 then S4 (``lenet.models.fast`` computes some pairs faster)."""
        return subsample(conv(x))

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
