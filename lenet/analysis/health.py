"""Network health: how each layer's units and weights are doing, measured on fixed test digits.

A tanh unit whose output sits near the ends of its range is *saturated*: the curve is flat
there, so almost no gradient flows back through it and its weights barely learn. A ReLU unit
that is zero for every input is *dead*: no gradient flows through it at all, and nothing brings
it back. ``health`` measures both per layer (C1 … F6), with histograms of the layer's
activations and weights, on ``probe_batch``: the first 256 digits of the test split. They are
a fixed set rather than a random choice, so every epoch of every run is measured on the same
digits, and every class is among them (14 to 35 of each).

What the numbers count (a *value* is one unit's output for one probe digit):

- a **unit** is one output position of one map in C1, S2, C3 and S4 (map × row × column: C1
  has 6 × 28 × 28 = 4,704) and one output in C5 and F6 (120 and 84);
- **saturated** (tanh, and the paper's scaled tanh 1.7159·tanh(2/3·a)): the share of all values
  with ``|a| > 0.97 ×`` the activation's bound (1 for tanh, 1.7159 for the paper's squash);
- **dead** (ReLU): the share of units that are exactly zero for every probe digit. The modern
  variant's S2 and S4 max-pool a ReLU layer, so a pooled unit is dead when all four of its
  inputs are: they report a dead share too.

The trainer writes one record with each checkpoint (``Run.save_epoch``) and adds
``live_health`` (the shares alone, on the same digits) to a "batch" event every two seconds,
so the Train page shows them live.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from lenet.analysis.introspection import activations
from lenet.data import Split, load_split
from lenet.models.paper import A, Squash

__all__ = [
    "HEALTH_LAYERS",
    "PROBE_SIZE",
    "SATURATED_AT",
    "BINS",
    "HEALTH_VERSION",
    "probe_batch",
    "activation_kind",
    "health",
    "live_health",
]

HEALTH_LAYERS = ("C1", "S2", "C3", "S4", "C5", "F6")  # OUTPUT has no activation to saturate
PROBE_SIZE = 256  # digits: every class 14+ times, and a forward pass of 5-20 ms on 2 cores
SATURATED_AT = 0.97  # of the bound: tanh's slope there is 6 % of its slope at zero
BINS = 40  # per histogram: 6 layers x 2 histograms stay a few KB of JSON
HEALTH_VERSION = 1  # a record of another version is made again from its checkpoint

# The bound of each tanh-family activation: the module types whose output is bound·tanh(·).
# The seed's subsampling applies a plain tanh, the paper's a squash, after pooling.
_BOUNDS: dict[type, float] = {nn.Tanh: 1.0, Squash: A}
# Layers that only pool: their units take the kind of the layer they pool.
_POOLS = (nn.MaxPool2d, nn.AvgPool2d)


def probe_batch(
    test: Split | None = None, normalization: str = "mnist", n: int = PROBE_SIZE
) -> Tensor:
    """The probe digits (n, 1, 32, 32): the first ``n`` of ``test``, or of the test split
    loaded with ``normalization`` (the model's: ``lenet.models.normalization_of``)."""
    split = test if test is not None else load_split("test", normalization)
    return split.images[:n]


def activation_kind(model: nn.Module) -> dict[str, tuple[str | None, float | None]]:
    """Per layer of ``HEALTH_LAYERS``: ("saturated", bound) for a tanh family activation,
    ("dead", None) for ReLU, (None, None) for anything else."""
    kinds: dict[str, tuple[str | None, float | None]] = {}
    previous: tuple[str | None, float | None] = (None, None)
    for name in HEALTH_LAYERS:
        layer = getattr(model, name)
        act = getattr(layer, "act", layer)
        bound = next((b for cls, b in _BOUNDS.items() if isinstance(act, cls)), None)
        if bound is not None:  # the trainer's faster tanh (``lenet.models.fast``) is a Tanh
            kind = ("saturated", bound)
        elif isinstance(act, nn.ReLU):
            kind = ("dead", None)
        elif isinstance(act, _POOLS):
            kind = previous
        else:
            kind = (None, None)
        kinds[name] = previous = kind
    return kinds


def _per_digit(values: Tensor) -> Tensor:
    """``values`` (N, ...) as (N, units), the units in memory order (no count here depends on
    their order), so the trainer's channels_last maps give a view rather than a copy."""
    if values.dim() == 4 and values.is_contiguous(memory_format=torch.channels_last):
        values = values.permute(0, 2, 3, 1)
    return values.reshape(len(values), -1)


def _finite(values: Tensor) -> Tensor:
    """The finite ones of ``values``, flattened; no copy when all are (the usual case, which
    a finite sum shows in one pass)."""
    flat = values.reshape(-1)
    return flat if flat.sum().isfinite() else flat[flat.isfinite()]


def _share(measure: str | None, bound: float | None, a: Tensor) -> float | None:
    """Saturated share of the values, or dead share of the units, of ``a`` (N, units...)."""
    a = _per_digit(a)
    if measure == "saturated":
        finite = _finite(a)  # a weight gone NaN makes NaN outputs: they are left out
        if finite.numel() == 0:
            return None
        saturated = torch.count_nonzero(finite.abs() > SATURATED_AT * bound).item()
        return round(saturated / finite.numel(), 6)
    if measure == "dead":
        # Rectified outputs are >= 0: a unit is zero for every digit when its largest output
        # is (NaN, from weights gone NaN, is not zero).
        dead = a.amax(dim=0) == 0  # (units,)
        return round(dead.float().mean().item(), 6)
    return None


def _signif(v: float) -> float:
    return float(f"{v:.6g}")


def _outward(v: float, up: bool) -> float:
    """``v`` to 6 significant digits, rounded away from the inside of a range (a range end
    kept that way still holds every value)."""
    r = _signif(v)
    if (up and r < v) or (not up and r > v):
        r = _signif(v + (1e-5 if up else -1e-5) * abs(v))  # at least one unit of the 6th digit
    return r


def _histogram(values: Tensor, low: float | None = None, high: float | None = None) -> dict:
    """Counts of the finite ``values`` in ``BINS`` equal bins from ``low`` to ``high`` (default:
    their range, symmetric about 0 when they have both signs), with their mean and std. The
    range always covers every value: a tanh family layer's bound, or the values' own range."""
    finite = _finite(_per_digit(values.detach().float()) if values.dim() > 1 else values.float())
    nonfinite = values.numel() - finite.numel()
    if finite.numel() == 0:
        return {"edges": [], "counts": [], "mean": None, "std": None, "nonfinite": nonfinite}
    if low is None or high is None:
        lo, hi = (v.item() for v in torch.aminmax(finite))
        peak = max(abs(lo), abs(hi))
        low, high = (-peak, peak) if lo < 0 < hi else (min(lo, 0.0), max(hi, 0.0))
        if high - low < 1e-12:  # all one value (zero weights): a bin around it
            low, high = low - 0.5, high + 0.5
        low, high = _outward(low, up=False), _outward(high, up=True)  # the edges as stored
    # Bin numbers by arithmetic, then one bincount: 4x faster than histc on C1's 1.2 million
    # values. The top edge (and float rounding past it) belongs to the last bin, as in histc.
    index = ((finite - low) * (BINS / (high - low))).to(torch.int32).clamp_(0, BINS - 1)
    counts = torch.bincount(index, minlength=BINS)
    edges = torch.linspace(low, high, BINS + 1)
    return {
        "edges": [_signif(e) for e in edges.tolist()],
        "counts": counts.tolist(),
        "mean": _signif(finite.mean().item()),
        "std": _signif(finite.std(unbiased=False).item()),
        "nonfinite": nonfinite,
    }


def _weights(layer: nn.Module) -> Tensor | None:
    """The layer's weights without its biases (the paper's C3: its 60 kernels; S2, S4: the
    subsampling coefficients), flattened; None for a layer without any."""
    found = [p.detach().flatten() for n, p in layer.named_parameters() if not n.endswith("bias")]
    return torch.cat(found).cpu() if found else None


def _layer_outputs(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """``activations`` of C1 … F6, leaving the model in the mode it was in (the trainer's)."""
    training = model.training
    try:
        acts = activations(model, x)
    finally:
        model.train(training)
    return {name: acts[name] for name in HEALTH_LAYERS}


@torch.no_grad()
def live_health(model: nn.Module, x: Tensor) -> dict[str, dict[str, float]]:
    """The shares alone, {measure: {layer: share}} (e.g. {"saturated": {"C1": 0.012, …}}):
    what a "batch" event carries. Layers whose values are all NaN are left out."""
    kinds = activation_kind(model)
    out: dict[str, dict[str, float]] = {}
    for name, a in _layer_outputs(model, x).items():
        measure, bound = kinds[name]
        share = _share(measure, bound, a)
        if share is not None:
            out.setdefault(measure, {})[name] = share
    return out


@torch.no_grad()
def health(model: nn.Module, x: Tensor) -> dict:
    """One health record of ``model`` on probe digits ``x`` (``probe_batch``), JSON-able.

    ``shares`` is ``live_health``'s {measure: {layer: share}}; ``layers`` has per layer its
    ``measure`` ("saturated", "dead" or None), the activation's ``bound`` (tanh family), its
    ``share``, ``units`` per digit, and ``activations`` and ``weights`` histograms (``edges``,
    ``counts``, ``mean``, ``std``, ``nonfinite``; ``weights`` None where the layer has none).
    A tanh family layer's activation bins span its whole range, ±bound, in every record.
    """
    kinds = activation_kind(model)
    layers, shares = {}, {}
    for name, a in _layer_outputs(model, x).items():
        measure, bound = kinds[name]
        share = _share(measure, bound, a)
        if share is not None:
            shares.setdefault(measure, {})[name] = share
        span = (-bound, bound) if bound is not None else (None, None)
        w = _weights(getattr(model, name))
        layers[name] = {
            "measure": measure,
            "bound": bound,
            "share": share,
            "units": math.prod(a.shape[1:]),
            "activations": _histogram(a, *span),
            "weights": _histogram(w) if w is not None else None,
        }
    return {
        "version": HEALTH_VERSION,
        "probe": {"split": "test", "first": int(x.shape[0])},
        "saturated_at": SATURATED_AT,
        "shares": shares,
        "layers": layers,
    }
