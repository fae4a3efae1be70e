"""Looking inside LeNet-5: activations per layer, kernels, saliency and occlusion.

Everything takes a model and a (N, 1, 32, 32) input already normalised like its training data
(``lenet.digits.preprocess_digit`` and ``load_split`` produce that). Functions never change the
model (no hooks, no ``.grad``), so one cached model can serve many viewers at once.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

__all__ = [
    "LAYERS",
    "activations",
    "kernels",
    "connection_table",
    "predict_one",
    "saliency",
    "occlusion",
    "analyse_digit",
    "pick_epochs",
    "evolution",
    "time_digit_pipeline",
]

LAYERS = ("C1", "S2", "C3", "S4", "C5", "F6", "OUTPUT")


@torch.no_grad()
def activations(model: nn.Module, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
    """Every layer's output for input ``x``, in order: C1 (N,6,28,28) ... OUTPUT (N,10).

    C5's (N,120,1,1) is flattened to (N,120); OUTPUT is the logits the model returns (for the
    paper variant, the negated RBF distances).
    """
    model.eval()
    # The layers are called in turn, as LeNet5.forward does, rather than through forward hooks:
    # hooks live on the shared model, so two viewers' passes at once would record each other's maps.
    acts: OrderedDict[str, torch.Tensor] = OrderedDict()
    for name in LAYERS:
        x = getattr(model, name)(x)
        if name == "C5":
            x = x.flatten(1)  # (N, 120, 1, 1) -> (N, 120)
        acts[name] = x
    if getattr(model, "variant", None) == "paper":
        acts["OUTPUT"] = -acts["OUTPUT"]  # forward()'s convention: logits = -RBF distance
    return acts


def _conv_weight(layer: nn.Module) -> torch.Tensor:
    if hasattr(layer, "weight") and torch.is_tensor(layer.weight):
        return layer.weight
    for m in layer.modules():  # ConvTanh / Sequential(PartialConv2d, Squash) / ...
        if (
            m is not layer
            and hasattr(m, "weight")
            and torch.is_tensor(m.weight)
            and m.weight.dim() == 4
        ):
            return m.weight
    raise ValueError(f"{type(layer).__name__} has no convolution kernels")


@torch.no_grad()
def kernels(model: nn.Module, layer: str = "C1") -> torch.Tensor:
    """Convolution kernels: C1 (6, 1, 5, 5), C3 (16, 6, 5, 5) (zeros where unconnected)."""
    if layer not in ("C1", "C3", "C5"):
        raise ValueError(f"layer {layer!r} has no kernels; choose C1, C3 or C5")
    return _conv_weight(getattr(model, layer)).detach().clone()


def connection_table(model: nn.Module) -> torch.Tensor:
    """Bool (16, 6): which S2 maps feed each C3 map (all True for classic/modern)."""
    if getattr(model, "variant", None) == "paper":
        from lenet.paper import c3_connections

        return c3_connections()
    return torch.ones(16, 6, dtype=torch.bool)


@torch.no_grad()
def predict_one(model: nn.Module, x: torch.Tensor) -> dict:
    """Prediction for one image (1, 1, 32, 32): probabilities, top-3 and every layer's maps."""
    acts = activations(model, x)
    probs = acts["OUTPUT"][0].softmax(0)
    p, c = probs.topk(3)
    return {
        "probs": probs,
        "prediction": int(c[0]),
        "top3": [(int(ci), float(pi)) for ci, pi in zip(c, p)],
        "activations": acts,
    }


def saliency(model: nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    """|d logit_target / d input| (32, 32): which pixels would change this class's score most."""
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    # autograd.grad, not backward(): a model shared between viewers must not collect .grad
    (grad,) = torch.autograd.grad(model(x)[0, target], x)
    return grad[0, 0].abs().numpy()


@torch.no_grad()
def occlusion(
    model: nn.Module,
    x: torch.Tensor,
    target: int,
    patch: int = 6,
    stride: int = 2,
    fill: float | None = None,
) -> np.ndarray:
    """Drop in the target's probability when a ``patch``-sized square is blanked, per position.

    One batched forward pass over all positions; the map is (32, 32), each pixel averaging the
    drops of the patches covering it. ``fill`` defaults to the image's background value.
    """
    model.eval()
    fill = float(x.min()) if fill is None else fill
    size = x.shape[-1]
    starts = range(0, size - patch + 1, stride)
    coords = [(r, c) for r in starts for c in starts]
    batch = x.repeat(len(coords), 1, 1, 1)
    for i, (r, c) in enumerate(coords):
        batch[i, 0, r : r + patch, c : c + patch] = fill
    base = model(x).softmax(1)[0, target]
    drops = base - model(batch).softmax(1)[:, target]  # (P,)
    heat = torch.zeros(size, size)
    count = torch.zeros(size, size)
    for d, (r, c) in zip(drops, coords):
        heat[r : r + patch, c : c + patch] += d
        count[r : r + patch, c : c + patch] += 1
    return (heat / count.clamp(min=1)).numpy()


def analyse_digit(
    model: nn.Module, x: torch.Tensor, target: int | None = None, patch: int = 6
) -> dict:
    """Everything the feature-map view shows for one image (1, 1, 32, 32), in one call.

    ``predict_one``'s keys plus ``target`` (default: the predicted class) and its gradient
    ``saliency`` and ``occlusion`` maps, both (32, 32).
    """
    result = predict_one(model, x)
    target = result["prediction"] if target is None else int(target)
    return {
        **result,
        "target": target,
        "saliency": saliency(model, x, target),
        "occlusion": occlusion(model, x, target, patch=patch),
    }


def pick_epochs(epochs: list[int], max_frames: int = 30) -> list[int]:
    """At most ``max_frames`` epochs, evenly spread, always keeping the first and the last."""
    epochs = sorted(epochs)
    if len(epochs) <= max_frames:
        return epochs
    idx = np.linspace(0, len(epochs) - 1, max_frames).round().astype(int)
    return [epochs[i] for i in sorted(set(idx.tolist()))]


@torch.no_grad()
def evolution(run, x: torch.Tensor, epochs: list[int] | None = None, max_frames: int = 30) -> dict:
    """How C1 and C3 changed while the network learned: per stored epoch, kernels and maps of ``x``.

    ``run`` is a ``lenet.runs.Run``; each epoch's checkpoint is loaded in turn (epoch 0 is the
    untrained network). Returns ``epochs`` (list), ``skipped`` (epochs whose checkpoint could not
    be read), ``connections`` (16, 6) and, for "C1" and "C3", ``kernels`` (E, out, in, 5, 5) and
    ``maps`` (E, out, H, W) as numpy arrays.
    """
    from lenet.runs import CheckpointError

    wanted = pick_epochs(run.epochs() if epochs is None else list(epochs), max_frames)
    kept, skipped, table = [], [], None
    kern: dict[str, list] = {"C1": [], "C3": []}
    maps: dict[str, list] = {"C1": [], "C3": []}
    for epoch in wanted:
        try:
            model = run.load_model(epoch)
        except CheckpointError:
            skipped.append(epoch)
            continue
        acts = activations(model, x)
        for layer in ("C1", "C3"):
            kern[layer].append(kernels(model, layer).numpy())
            maps[layer].append(acts[layer][0].numpy())
        table = connection_table(model).numpy() if table is None else table
        kept.append(epoch)
    out = {
        "epochs": kept,
        "skipped": skipped,
        "connections": table if table is not None else np.ones((16, 6), bool),
    }
    for layer in ("C1", "C3"):
        out[layer] = {
            "kernels": np.stack(kern[layer]) if kept else np.zeros((0,)),
            "maps": np.stack(maps[layer]) if kept else np.zeros((0,)),
        }
    return out


def _canvas_stroke(size: int = 280, width: int = 22) -> np.ndarray:
    """A canvas-like RGBA picture of a hand-drawn 7: white strokes on black, as the drawing pad sends."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (size, size), (0, 0, 0, 255))
    s = size / 280
    ImageDraw.Draw(image).line(
        [(70 * s, 60 * s), (200 * s, 62 * s), (120 * s, 230 * s)],
        fill=(255, 255, 255, 255),
        width=round(width * s),
        joint="curve",
    )
    return np.asarray(image)


def time_digit_pipeline(
    model: nn.Module | None = None,
    n: int = 50,
    image: np.ndarray | None = None,
    normalization: str | None = None,
) -> dict:
    """Server-side latency of one drawn digit: preprocessing, prediction and every layer's maps.

    ``model`` defaults to a classic LeNet-5 (the cost does not depend on the weights); ``image`` to
    a 280×280 RGBA drawing like the dashboard's canvas sends. The explanation (gradient saliency
    + occlusion) is timed separately. Returns milliseconds: ``p50_ms``, ``p95_ms``, ``max_ms``,
    ``explain_p50_ms``, ``explain_p95_ms``, and ``n``.
    """
    from lenet.digits import preprocess_digit

    if model is None:
        from lenet.model import build_model

        model = build_model("classic", seed=0).eval()
    image = _canvas_stroke() if image is None else image
    norm = normalization or ("paper" if getattr(model, "variant", None) == "paper" else "mnist")
    pipeline, explain = [], []
    for i in range(n + 3):  # the first passes warm up allocators and caches
        t0 = time.perf_counter()
        digit = preprocess_digit(image, norm)
        result = predict_one(model, digit.tensor)
        t1 = time.perf_counter()
        saliency(model, digit.tensor, result["prediction"])
        occlusion(model, digit.tensor, result["prediction"])
        t2 = time.perf_counter()
        if i >= 3:
            pipeline.append((t1 - t0) * 1e3)
            explain.append((t2 - t1) * 1e3)
    return {
        "n": n,
        "p50_ms": float(np.percentile(pipeline, 50)),
        "p95_ms": float(np.percentile(pipeline, 95)),
        "max_ms": float(max(pipeline)),
        "explain_p50_ms": float(np.percentile(explain, 50)),
        "explain_p95_ms": float(np.percentile(explain, 95)),
    }
