"""The 1998 LeNet-5's own pieces: squashing function, trainable subsampling, Table I's sparse C3,
the RBF output with its hand-drawn bitmaps, appendix A's initialisation and sec. II.B's counts.

LeCun, Bottou, Bengio, Haffner, "Gradient-Based Learning Applied to Document Recognition",
Proc. IEEE 86(11), 1998. `lenet.models.architecture` composes them under the paper's layer
names (variant "paper"); `lenet.training.sdlm` trains them with the paper's recipe.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from lenet.models.blocks import fan_in

__all__ = [
    "A", "S", "BACKGROUND", "FOREGROUND", "squash", "Squash", "TrainableSubsample", "C3_TABLE",
    "c3_connections", "PartialConv2d", "DIGIT_BITMAPS", "rbf_centers", "closest_bitmaps",
    "RBFOutput", "paper_init_", "paper_parameters", "PAPER_TABLE",
]  # fmt: skip

A, S = 1.7159, 2.0 / 3.0  # appendix A: f(±1) = ±1, and f'' is extremal there
BACKGROUND, FOREGROUND = -0.1, 1.175  # sec. II.B: input pixel values for white and black


def squash(a: Tensor) -> Tensor:
    """The squashing function f(a) = A·tanh(S·a) (sec. II.B, appendix A)."""
    return A * torch.tanh(S * a)


class Squash(nn.Module):
    """`squash` as a module, the activation of every paper layer but OUTPUT."""

    def forward(self, a: Tensor) -> Tensor:
        return squash(a)


class TrainableSubsample(nn.Module):
    """S2/S4: each unit sums its 2×2 inputs, × one coefficient and + one bias per map, then
    squashes (sec. II.B; ``act`` for another activation)."""

    def __init__(self, channels: int, act: nn.Module | None = None) -> None:
        super().__init__()
        self.coef = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.act = Squash() if act is None else act

    def fan_in(self) -> float:
        return 4.0

    def forward(self, x: Tensor) -> Tensor:
        # A sum, not a mean: (N, C, H/2, W/2). The mean times 4 is the same bits as
        # divisor_override=1, which ONNX's AveragePool cannot express: exporters dropped it and
        # the exported S2 and S4 took means.
        s = F.avg_pool2d(x, 2) * 4.0
        return self.act(s * self.coef[:, None, None] + self.bias[:, None, None])


# Table I: the S2 maps feeding each C3 map, "to break the symmetry in the network".
# fmt: off
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5), (0, 1, 2, 3, 4, 5),
)
# fmt: on


def c3_connections(table: tuple[tuple[int, ...], ...] = C3_TABLE) -> Tensor:
    """Table I as a bool tensor (16 C3 maps, 6 S2 maps), True where a kernel exists."""
    mask = torch.zeros(len(table), 6, dtype=torch.bool)
    for out, ins in enumerate(table):
        mask[out, list(ins)] = True
    return mask


class PartialConv2d(nn.Module):
    """C3's convolution: only the 60 kernels Table I allows are parameters (`kernels`,
    (60, 5, 5)), so it counts the paper's 1,516 parameters without a mask. `weight` scatters
    them into a dense (16, 6, 5, 5) tensor whose unconnected cells are zeros no update reaches."""

    def __init__(self, table: tuple[tuple[int, ...], ...] = C3_TABLE) -> None:
        super().__init__()
        self.table = table
        out_idx, in_idx = c3_connections(table).nonzero(as_tuple=True)  # map by map
        self.register_buffer("out_idx", out_idx, persistent=False)
        self.register_buffer("in_idx", in_idx, persistent=False)
        self.kernels = nn.Parameter(torch.zeros(len(out_idx), 5, 5))
        self.bias = nn.Parameter(torch.zeros(len(table)))

    @property
    def weight(self) -> Tensor:
        dense = self.kernels.new_zeros(len(self.table), 6, 5, 5)
        return dense.index_put((self.out_idx, self.in_idx), self.kernels)  # differentiable

    def fan_in(self) -> Tensor:
        """Per C3 map: maps with 3 inputs have 75, with 4 inputs 100, the last one 150."""
        return c3_connections(self.table).sum(1).float() * 25

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias)


# The ten 7×12 output bitmaps, digits 0-9 side by side ('#' = +1, '.' = -1). The paper's are
# stylised one-pixel strokes (its Fig. 3); these are drawn two pixels wide, which keeps even the
# closest pair further apart (`closest_bitmaps`; docs/paper-experiments.md has the comparison).
_GLYPHS = """\
..###.. ...##.. .#####. ######. ....##. ####### ...###. ####### .#####. .#####.
.##.##. ..###.. ##...## .....## ...###. ##..... ..##... .....## ##...## ##...##
##...## .####.. .....## .....## ..####. ##..... .##.... .....## ##...## ##...##
##...## ##.##.. .....## .....## .##.##. ##..... ##..... ....##. ##...## ##...##
##...## ...##.. ....##. ....##. ##..##. ######. ##..... ....##. .##.##. ##...##
##...## ...##.. ...##.. ..###.. ##..##. .....## ######. ...##.. ..###.. .######
##...## ...##.. ..##... ....##. ####### .....## ##...## ...##.. .##.##. .....##
##...## ...##.. .##.... .....## ####### .....## ##...## ..##... ##...## .....##
##...## ...##.. ##..... .....## ....##. .....## ##...## ..##... ##...## .....##
##...## ...##.. ##..... .....## ....##. .....## ##...## .##.... ##...## ....##.
.##.##. ...##.. ##..... .....## ....##. ##..##. .##.##. .##.... ##...## ...##..
..###.. .###### ####### ######. ....##. .####.. ..###.. .##.... .#####. .###...
"""
DIGIT_BITMAPS: tuple[str, ...] = tuple(  # one 12-line string per digit
    "\n".join(row.split()[d] for row in _GLYPHS.splitlines()) for d in range(10)
)


def rbf_centers() -> Tensor:
    """The fixed RBF centres w_i (10, 84) of ±1: each bitmap read row by row."""
    return torch.tensor(
        [[1.0 if ch == "#" else -1.0 for ch in b if ch != "\n"] for b in DIGIT_BITMAPS]
    )


def closest_bitmaps(centers: Tensor | None = None) -> tuple[int, int, int]:
    """The two digits whose bitmaps differ in the fewest of their 84 values: (a, b, bits)."""
    c = rbf_centers() if centers is None else centers
    bits = (c[:, None] != c[None]).sum(-1) + c.shape[1] * torch.eye(len(c), dtype=torch.long)
    flat = int(bits.argmin())
    a, b = divmod(flat, len(c))
    return a, b, int(bits[a, b])


class RBFOutput(nn.Module):
    """OUTPUT: Euclidean RBF units y_i = Σ_j (x_j - w_ij)² (eq. 7), centres fixed by hand.

    The class is the smallest y_i. The model returns logits = -y, so argmax picks it and
    softmax(-y) is a confidence; cross-entropy on -y is the MAP criterion in the limit j → ∞."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("centers", rbf_centers())  # a buffer: never trained

    def fan_in(self) -> float:
        return float(self.centers.shape[1])

    def forward(self, x: Tensor) -> Tensor:
        return ((x[:, None, :] - self.centers) ** 2).sum(-1)  # (N, 10)


@torch.no_grad()
def paper_init_(model: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """Appendix A: every weight and bias uniform in ±2.4/F_i, F_i the fan-in of its unit."""
    for m in model.modules():
        if not list(m.parameters(recurse=False)) or (fan := fan_in(m)) is None:
            continue
        for name, p in m.named_parameters(recurse=False):
            bound = 2.4 / fan
            if torch.is_tensor(bound) and name == "kernels":
                bound = bound[m.out_idx][:, None, None]  # each kernel takes its map's F
            p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) * bound)
    return model


def paper_parameters(model: nn.Module) -> list[Tensor]:
    """The 12 trainable tensors in forward order (C1 weight, bias, S2 coef, bias, … F6)."""
    return [
        model.C1.conv.weight, model.C1.conv.bias, model.S2.coef, model.S2.bias,
        model.C3.conv.kernels, model.C3.conv.bias, model.S4.coef, model.S4.bias,
        model.C5.conv.weight, model.C5.conv.bias, model.F6.fc.weight, model.F6.fc.bias,
    ]  # fmt: skip


# Sec. II.B: trainable parameters and connections per layer (C1 … F6 sum to 60,000 params).
PAPER_TABLE: dict[str, dict[str, int]] = {
    "C1": {"parameters": 156, "connections": 122_304},
    "S2": {"parameters": 12, "connections": 5_880},
    "C3": {"parameters": 1_516, "connections": 151_600},
    "S4": {"parameters": 32, "connections": 2_000},
    "C5": {"parameters": 48_120, "connections": 48_120},
    "F6": {"parameters": 10_164, "connections": 10_164},
}
