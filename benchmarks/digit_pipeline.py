"""Server-side latency of a drawn digit on the Feature maps page: preprocessing, prediction and
every layer's maps, and separately the explanation (gradient saliency and occlusion)."""

from __future__ import annotations

import time

import numpy as np
from PIL import Image, ImageDraw
from torch import nn

from lenet.analysis.introspection import occlusion, predict_one, saliency
from lenet.data import preprocess_digit
from lenet.models import build_model, normalization_of

__all__ = ["time_digit_pipeline"]


def _canvas_stroke(size: int = 280, width: int = 22) -> np.ndarray:
    """A canvas-like RGBA picture of a hand-drawn 7: white strokes on black, as the pad sends."""
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
    if model is None:
        model = build_model("classic", seed=0).eval()
    image = _canvas_stroke() if image is None else image
    norm = normalization or normalization_of(model.variant)
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
