"""The faithful 1998 LeNet-5: layers, RBF output, losses, initialisation, layer accounting.

LeCun, Bottou, Bengio, Haffner, "Gradient-Based Learning Applied to Document Recognition",
Proc. IEEE 86(11), 1998: sec. II.B (architecture, Table I), sec. III.C (schedule), appendix A
(squashing function, initialisation), appendix C (stochastic diagonal Levenberg-Marquardt).
`lenet.model` composes these blocks under the paper's layer names (see `paper_layers`);
`lenet.sdlm` trains them with the paper's recipe, on the explicit forward/backward at the end.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

A, S = 1.7159, 2.0 / 3.0  # appendix A: f(±1) = ±1, and f'' is extremal there
BACKGROUND, FOREGROUND = -0.1, 1.175  # sec. II.B: input pixel values for white and black


def squash(a: Tensor) -> Tensor:
    """The squashing function f(a) = A·tanh(S·a) (sec. II.B, appendix A)."""
    return A * torch.tanh(S * a)


class Squash(nn.Module):
    """`squash` as a module, so a layer reads `Sequential(op, Squash())`."""

    def forward(self, a: Tensor) -> Tensor:
        return squash(a)


class TrainableSubsample(nn.Module):
    """S2/S4: each unit sums its 2×2 inputs, × one coefficient and + one bias per map, then
    squashes (sec. II.B)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.coef = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        s = F.avg_pool2d(x, 2, divisor_override=1)  # a sum, not a mean: (N, C, H/2, W/2)
        return squash(s * self.coef[:, None, None] + self.bias[:, None, None])


# Table I: the S2 maps feeding each C3 map, "to break the symmetry in the network".
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2),
    (1, 2, 3),
    (2, 3, 4),
    (3, 4, 5),
    (0, 4, 5),
    (0, 1, 5),
    (0, 1, 2, 3),
    (1, 2, 3, 4),
    (2, 3, 4, 5),
    (0, 3, 4, 5),
    (0, 1, 4, 5),
    (0, 1, 2, 5),
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


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

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias)


# The ten 7×12 output bitmaps, digits 0-9 side by side ('#' = +1, '.' = -1). The paper's are
# stylised one-pixel strokes (its Fig. 3); ours are drawn two pixels wide, which puts the
# closest pair ('0' and '6') 18 bits apart instead of 11 with one-pixel strokes (mean over
# pairs 37 bits, against 28). Measured test error after 20 passes, one pattern per update /
# paper-fast: seed 0, 0.94 / 0.91 % (one-pixel strokes: 1.16 / 1.04 %); seed 1, 0.97 / 0.92 %
# (one-pixel: 1.01 / 1.05 %).
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
    softmax(-y) is a confidence; cross-entropy on -y is `map_loss` in the limit j → ∞."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("centers", rbf_centers())  # a buffer: never trained

    def forward(self, x: Tensor) -> Tensor:
        return ((x[:, None, :] - self.centers) ** 2).sum(-1)  # (N, 10)


def paper_layers() -> dict[str, nn.Module]:
    """Fresh C1 … OUTPUT modules under the paper's names, for `lenet.model` to assign."""
    return {
        "C1": nn.Sequential(nn.Conv2d(1, 6, 5), Squash()),
        "S2": TrainableSubsample(6),
        "C3": nn.Sequential(PartialConv2d(), Squash()),
        "S4": TrainableSubsample(16),
        "C5": nn.Sequential(nn.Conv2d(16, 120, 5), Squash()),
        "F6": nn.Sequential(nn.Linear(120, 84), Squash()),
        "OUTPUT": RBFOutput(),
    }


# The paper leaves j open. Halfway between the two closest centres ('0' and '6', 18 bits
# apart) both penalties are 18; with j = 10 the competitive term pushes wrong classes up only
# while a pattern sits nearer than that to some centre, and ignores far-away penalties.
MAP_J = 10.0


def mle_loss(y: Tensor, targets: Tensor) -> Tensor:
    """Eq. 8: the mean penalty of the correct class, E = mean_p y_{D_p}."""
    return y.gather(1, targets[:, None]).mean()


def map_loss(y: Tensor, targets: Tensor, j: float = MAP_J) -> Tensor:
    """Eq. 9: mean of y_{D_p} + log(e^{-j} + Σ_i e^{-y_i}). j, not given in the paper, is
    the penalty of a "rubbish" class: penalties well above j are not pushed further up."""
    rubbish = y.new_full((y.shape[0], 1), -j)
    return mle_loss(y, targets) + torch.logsumexp(torch.cat([-y, rubbish], 1), 1).mean()


def _fan_in(m: nn.Module) -> Tensor | float | None:
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        return float(m.weight[0].numel())
    if isinstance(m, PartialConv2d):  # per map: C3 maps with 3 inputs have F = 75, etc.
        return c3_connections(m.table).sum(1).float() * 25
    return 4.0 if isinstance(m, TrainableSubsample) else None


@torch.no_grad()
def paper_init_(model: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """Appendix A: every weight and bias uniform in ±2.4/F_i, F_i the fan-in of its unit."""
    for m in model.modules():
        if (fan := _fan_in(m)) is None:
            continue
        for name, p in m.named_parameters(recurse=False):
            bound = 2.4 / fan
            if torch.is_tensor(bound) and name == "kernels":
                bound = bound[m.out_idx][:, None, None]  # each kernel takes its map's F
            p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) * bound)
    return model


# Sec. II.B: trainable parameters and connections per layer (C1 … F6 sum to 60,000 params).
PAPER_TABLE: dict[str, dict[str, int]] = {
    "C1": {"parameters": 156, "connections": 122_304},
    "S2": {"parameters": 12, "connections": 5_880},
    "C3": {"parameters": 1_516, "connections": 151_600},
    "S4": {"parameters": 32, "connections": 2_000},
    "C5": {"parameters": 48_120, "connections": 48_120},
    "F6": {"parameters": 10_164, "connections": 10_164},
}


def count_connections(layer: nn.Module, output_shape: tuple[int, ...]) -> int:
    """Connections of a layer from its structure: Σ over output units of (inputs + bias).
    OUTPUT counts 84 per RBF unit (no bias); the paper gives no number for it."""
    op = layer[0] if isinstance(layer, nn.Sequential) else layer
    maps, per_map = output_shape[0], int(torch.Size(output_shape[1:]).numel())
    if isinstance(op, RBFOutput):
        return op.centers.numel()
    fan = _fan_in(op)
    if fan is None:
        raise TypeError(f"no connection rule for {type(op).__name__}")
    return int((torch.as_tensor(fan) + 1).expand(maps).sum()) * per_map


@torch.no_grad()
def measure_layers(
    layers: dict[str, nn.Module], input_shape: tuple[int, ...] = (1, 32, 32)
) -> dict[str, dict]:
    """Push a dummy input through `layers` in order and report, per layer, the output shape,
    parameters and connections, computed (not copied) so they can be checked against
    `PAPER_TABLE`."""
    x, table = torch.zeros(1, *input_shape), {}
    for name, layer in layers.items():
        first = layer[0] if isinstance(layer, nn.Sequential) else layer
        x = layer(x.flatten(1) if isinstance(first, (nn.Linear, RBFOutput)) else x)
        shape = tuple(x.shape[1:])
        table[name] = {
            "output_shape": shape,
            "connections": count_connections(layer, shape),
            "parameters": sum(p.numel() for p in layer.parameters()),
        }
    return table


def paper_parameters(model: nn.Module) -> list[Tensor]:
    """The 12 trainable tensors in forward order (C1 weight, bias, S2 coef, bias, … F6)."""
    return [
        model.C1[0].weight,
        model.C1[0].bias,
        model.S2.coef,
        model.S2.bias,
        model.C3[0].kernels,
        model.C3[0].bias,
        model.S4.coef,
        model.S4.bias,
        model.C5[0].weight,
        model.C5[0].bias,
        model.F6[0].weight,
        model.F6[0].bias,
    ]


# An explicit forward/backward, written once for two uses: the gradient (square=False), and
# appendix C's Gauss-Newton recursion (square=True: weights², inputs², f'(a)²).
def _layer(h: Tensor, W: Tensor, b: Tensor, conv: bool, first: bool = False) -> tuple:
    cols = F.unfold(h, 5) if conv else h[:, :, None]  # (N, K, L): a convolution as a matmul
    t = torch.tanh(S * (W @ cols + b[:, None]))  # (N, maps, L)
    return ("mm", W, cols, t, None if first else h.shape), t


def _subsample(h: Tensor, coef: Tensor, bias: Tensor) -> tuple:
    s = F.avg_pool2d(h, 2, divisor_override=1)  # 2×2 sums
    t = torch.tanh(S * (s * coef[:, None, None] + bias[:, None, None]))
    return ("sub", coef, s, t, h.shape), t


def explicit_forward(
    P: list[Tensor], x: Tensor, c3_idx: tuple[Tensor, Tensor]
) -> tuple[list, Tensor]:
    """C1 … F6 on x (N, 1, 32, 32) with explicit pre-activations kept for `explicit_backward`."""
    W1, b1, c2, b2, K3, b3, c4, b4, W5, b5, W6, b6 = P
    n = x.shape[0]
    c1, t = _layer(x, W1.view(6, 25), b1, conv=True, first=True)
    s2, t = _subsample((A * t).view(n, 6, 28, 28), c2, b2)
    W3 = K3.new_zeros(16, 6, 5, 5).index_put(c3_idx, K3)  # as PartialConv2d.weight
    c3, t = _layer(A * t, W3.view(16, 150), b3, conv=True)
    s4, t = _subsample((A * t).view(n, 16, 10, 10), c4, b4)
    c5, t = _layer((A * t).view(n, 400), W5.view(120, 400), b5, conv=False)  # 5×5 on 5×5
    f6, t = _layer(A * t[:, :, 0], W6, b6, conv=False)
    return [c1, s2, c3, s4, c5, f6], A * t[:, :, 0]  # F6 output (N, 84)


def explicit_backward(
    cache: list, dx: Tensor, square: bool, c3_idx: tuple[Tensor, Tensor]
) -> list[Tensor]:
    """Backpropagate dE/dx of F6's output into dE/dθ, or, with square=True, d²E/dx² into
    appendix C's Gauss-Newton diagonal d²E/dθ² (weights², inputs², f'(a)², no cross terms;
    shared weights sum over their connections). Both are summed over the batch."""
    grads: list[Tensor] = []
    for kind, w, inp, t, in_shape in reversed(cache):
        fprime = A * S * (1 - t * t)
        da = dx.reshape(t.shape) * (fprime * fprime if square else fprime)
        w2, inp2 = (w * w, inp * inp) if square else (w, inp)
        if kind == "sub":  # a = coef · s + bias; each input feeds one unit through coef
            grads[:0] = [(da * inp2).sum((0, 2, 3)), da.sum((0, 2, 3))]
            up = (da * w2[:, None, None])[:, :, :, None, :, None].expand(-1, -1, -1, 2, -1, 2)
            dx = up.reshape(in_shape)
        else:  # a = W @ cols + b
            gw = (
                da[:, :, 0].T @ inp2[:, :, 0]
                if da.shape[2] == 1  # Σ over batch, positions
                else torch.bmm(da, inp2.transpose(1, 2)).sum(0)
            )
            if w.shape == (16, 150):  # C3: only the 60 connected kernels are parameters
                gw = gw.view(16, 6, 25)[c3_idx].view(-1, 5, 5)
            grads[:0] = [gw, da.sum((0, 2))]
            if in_shape is not None:  # C1 needs no input gradient
                dcols = w2.T @ da  # (N, K, L)
                dx = F.fold(dcols, in_shape[2:], 5) if len(in_shape) == 4 else dcols
    return grads


# --- Against the paper: the comparisons the dashboard's Paper page shows ----------------------
PAPER_TEST_ERROR = 0.95  # % on MNIST's test set, sec. III.C, no distortions
PAPER_TEST_ERROR_DISTORTED = 0.8  # % with the training set distorted at random each pass

# What each variant does, stage by stage (the paper column is the 1998 design, sec. II.B-III.C).
CHANGES: dict[str, dict[str, str]] = {
    "activation": {"paper": "1.7159·tanh(2/3·a)", "classic": "tanh", "modern": "ReLU"},
    "pooling": {
        "paper": "2×2 sum × trainable coef + bias, squashed",
        "classic": "2×2 average + tanh",
        "modern": "2×2 max",
    },
    "C3": {
        "paper": "60 of 96 kernels (Table I)",
        "classic": "all 96 kernels",
        "modern": "all 96 kernels",
    },
    "output": {
        "paper": "Euclidean RBF, fixed 7×12 bitmaps",
        "classic": "linear (logits)",
        "modern": "linear (logits)",
    },
    "loss": {
        "paper": "right class's RBF penalty + competition (MAP, eq. 9)",
        "classic": "cross-entropy",
        "modern": "cross-entropy",
    },
    "optimizer": {
        "paper": "SDLM, η per pass, one pattern per update",
        "classic": "Adam, one-cycle schedule",
        "modern": "Adam, one-cycle schedule",
    },
}


def compare_with_paper(rows: list[dict]) -> list[dict]:
    """`lenet.model.summary` rows of the paper variant beside `PAPER_TABLE`, one row per layer:
    our and the paper's parameters and connections, and "✓"/"✗" ("—" where the paper gives
    no number)."""
    out = []
    for r in rows:
        ref = PAPER_TABLE.get(r["layer"], {})
        same = [ref[k] == r[k] for k in ("parameters", "connections") if k in ref]
        out.append(
            {
                "layer": r["layer"],
                "kind": r["kind"],
                "output": "×".join(map(str, r["output_shape"])),
                "paper parameters": ref.get("parameters"),
                "our parameters": r["parameters"],
                "paper connections": ref.get("connections"),
                "our connections": r["connections"],
                "match": "—" if not same else ("✓" if all(same) else "✗"),
            }
        )
    return out


def best_runs(
    infos: list, variants: tuple[str, ...] = ("paper", "classic", "modern"), distorted: bool = False
) -> dict[str, object | None]:
    """The stored run with the best test accuracy per variant (`RunInfo`s), None if none;
    only runs trained on distorted patterns if `distorted`, else only runs without."""
    best: dict[str, object | None] = dict.fromkeys(variants)
    for info in infos:
        acc = getattr(info, "best_test_acc", None)
        if bool((getattr(info, "config", None) or {}).get("distort")) != distorted:
            continue
        if (
            info.variant in best
            and acc is not None
            and (best[info.variant] is None or acc > best[info.variant].best_test_acc)
        ):
            best[info.variant] = info
    return best
