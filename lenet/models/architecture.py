"""LeNet-5 as five choices: what each layer computes, from the 1998 network to today's.

``Architecture`` names one network by its options; ``layers_of`` builds its C1 … OUTPUT. The
registered variants are three of these combinations (``lenet.models.lenet5``), and any other
can be named as a variant string: a registered name with options on top, e.g.
``"paper,output=linear"`` (the 1998 network with a linear softmax output instead of the RBF)
or ``"classic,subsampling=max"``.

| option        | choices                      | the 1998 network          | today's (modern)   |
|---------------|------------------------------|---------------------------|--------------------|
| activation    | scaled-tanh, tanh, relu      | A·tanh(S·a) (appendix A)  | ReLU               |
| subsampling   | trainable, average, max      | 2×2 sum × coef + bias     | 2×2 max-pool       |
| c3            | table-i, dense               | Table I's 60 kernels      | all 96             |
| output        | rbf, linear                  | Euclidean RBF, fixed codes| linear + softmax   |
| inputs        | paper, mnist                 | white −0.1, black 1.175   | mean 0, std 1      |
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from torch import nn

from lenet.models import paper
from lenet.models.blocks import ConvAct, LinearAct, SubsampleAvgPool

__all__ = ["OPTIONS", "Architecture", "layers_of", "kinds_of", "parse_options"]

OPTIONS: dict[str, tuple[str, ...]] = {
    "activation": ("scaled-tanh", "tanh", "relu"),
    "subsampling": ("trainable", "average", "max"),
    "c3": ("table-i", "dense"),
    "output": ("rbf", "linear"),
    "inputs": ("paper", "mnist"),
}
_WORDS = {"scaled-tanh": "squash", "tanh": "tanh", "relu": "ReLU"}  # in the layers' "kind"


@dataclass(frozen=True)
class Architecture:
    """One LeNet-5, option by option (the defaults are the classic network's)."""

    activation: str = "tanh"
    subsampling: str = "average"
    c3: str = "dense"
    output: str = "linear"
    inputs: str = "mnist"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value not in OPTIONS[f.name]:
                raise ValueError(
                    f"{f.name}={value!r} is not an option; choose one of "
                    f"{', '.join(OPTIONS[f.name])}"
                )

    def changes(self, other: Architecture) -> dict[str, str]:
        """The options ``other`` sets differently, with ``other``'s values, in option order."""
        return {
            f.name: getattr(other, f.name)
            for f in fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        }

    def with_options(self, **options: str) -> Architecture:
        """This network with some options changed (ValueError naming an unknown one)."""
        unknown = [k for k in options if k not in OPTIONS]
        if unknown:
            raise ValueError(f"unknown option {unknown[0]!r}; the options are {', '.join(OPTIONS)}")
        return replace(self, **options)


def parse_options(text: str) -> dict[str, str]:
    """``"output=linear,c3=dense"`` → ``{"output": "linear", "c3": "dense"}``; ValueError for
    a part that is not ``option=choice``. The choices are checked by ``Architecture``."""
    options: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key or not value:
            raise ValueError(f"{part!r} is not option=choice (e.g. output=linear)")
        if key in options:
            raise ValueError(f"option {key!r} is given twice")
        options[key] = value
    return options


def _activation(arch: Architecture) -> nn.Module:
    return {"scaled-tanh": paper.Squash, "tanh": nn.Tanh, "relu": nn.ReLU}[arch.activation]()


def _subsampling(arch: Architecture, channels: int) -> nn.Module:
    if arch.subsampling == "trainable":
        return paper.TrainableSubsample(channels, _activation(arch))
    if arch.subsampling == "average":
        return SubsampleAvgPool(act=_activation(arch))
    return nn.MaxPool2d(2)  # the maps it pools are already activated


def layers_of(arch: Architecture) -> dict[str, nn.Module]:
    """Fresh C1 … OUTPUT modules for ``arch``, under the paper's layer names."""
    act = lambda: _activation(arch)  # noqa: E731 - a fresh module for every layer
    c3 = lambda: paper.PartialConv2d() if arch.c3 == "table-i" else nn.Conv2d(6, 16, 5)  # noqa: E731
    return {  # made in this order, so a seed gives the weights it always gave
        "C1": ConvAct(nn.Conv2d(1, 6, 5), act()),
        "S2": _subsampling(arch, 6),
        "C3": ConvAct(c3(), act()),
        "S4": _subsampling(arch, 16),
        "C5": ConvAct(nn.Conv2d(16, 120, 5), act()),
        "F6": LinearAct(120, 84, act()),
        "OUTPUT": paper.RBFOutput() if arch.output == "rbf" else nn.Linear(84, 10),
    }


def kinds_of(arch: Architecture) -> dict[str, str]:
    """What each layer does, in a few words (``summary``'s "kind" column)."""
    word = _WORDS[arch.activation]
    sub = {
        "trainable": f"trainable subsample + {word}",
        "average": f"avg-pool 2x2 + {word}",
        "max": "max-pool 2x2",
    }[arch.subsampling]
    c3 = "sparse conv 5x5 (Table I)" if arch.c3 == "table-i" else "conv 5x5"
    return {
        "C1": f"conv 5x5 + {word}",
        "S2": sub,
        "C3": f"{c3} + {word}",
        "S4": sub,
        "C5": f"conv 5x5 + {word}",
        "F6": f"linear + {word}",
        "OUTPUT": "Euclidean RBF" if arch.output == "rbf" else "linear",
    }
