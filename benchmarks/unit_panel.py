"""Server-side time of a click on a feature map: the unit's arithmetic (``explain_unit``) and the
panel's two figures, for every layer of the classic and the paper network."""

from __future__ import annotations

import time

import numpy as np
import torch

from lenet import explain_unit, plots
from lenet.models import LAYERS, build_model

__all__ = ["time_unit_panel", "GOAL_MS"]

GOAL_MS = 150.0
_UNITS = {"C1": (2, 14, 14), "S2": (2, 7, 7), "C3": (9, 5, 5), "S4": (9, 2, 2), "C5": 60,
          "F6": 40, "OUTPUT": 7}  # fmt: skip


def time_unit_panel(n: int = 20) -> dict:
    """Milliseconds per panel (the arithmetic and both figures, not the browser's drawing):
    p50 and p95 for each variant and layer, the slowest p95, and whether it is within 150 ms."""
    x = torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    per: dict[str, dict[str, float]] = {}
    for variant in ("classic", "paper"):
        model = build_model(variant, "paper" if variant == "paper" else "xavier", seed=0).eval()
        for layer in LAYERS:
            times = []
            for i in range(n + 2):  # two passes to warm up
                t0 = time.perf_counter()
                got = explain_unit(model, x, layer, _UNITS[layer])
                plots.unit_figure(x[0, 0].numpy(), got)
                name, pre, value = got["activation_name"], got["pre_activation"], got["activation"]
                plots.activation_figure(name, pre, value)
                if i >= 2:
                    times.append((time.perf_counter() - t0) * 1e3)
            p50, p95 = (round(float(np.percentile(times, q)), 2) for q in (50, 95))
            per[f"{variant}_{layer}"] = {"p50_ms": p50, "p95_ms": p95}
    slowest = max(v["p95_ms"] for v in per.values())
    return {"n": n, "layers": per, "slowest_p95_ms": slowest, "goal_ms": GOAL_MS,
            "meets_goal": slowest <= GOAL_MS}  # fmt: skip
