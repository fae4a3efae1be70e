"""How long the Predictions page takes, server side, to answer a filter change.

A filter change reruns: ``filter_predictions`` over the 10,000-row table, one page of rows,
``prediction_grid`` (compose the digits, PNG-encode, build the figure) and what
``st.plotly_chart`` then does with the figure (validate it again and serialise it to JSON).
The table comes from a real model on the real test split; which model does not matter for the
timing, so an untrained one (seeded) is used unless a table is given.
"""

from __future__ import annotations

import itertools
import statistics
import time

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from lenet.analysis.predictions import filter_predictions, predict
from lenet.data import load_split
from lenet.models import build_model
from lenet.plots.images import prediction_grid

__all__ = ["FILTERS", "bench_predictions_grid"]

# the kinds of change a class makes: mistakes hardest first, everything, one class, unsure ones
FILTERS = [
    dict(which="misclassified", sort="loss"),
    dict(which="all", sort="index"),
    dict(which="correct", true=[4], sort="confidence"),
    dict(which="all", confidence=(0.0, 0.9)),
    dict(which="all", pred=[3, 5, 8], sort="loss"),
]


def _table_and_images() -> tuple[pd.DataFrame, np.ndarray]:
    split = load_split("test")
    return predict(build_model("classic", "xavier", seed=0), split), split.raw.numpy()


def bench_predictions_grid(
    table: pd.DataFrame | None = None,
    raw: np.ndarray | None = None,
    n: int = 100,
    repeats: int = 30,
) -> dict:
    """p50/p95 (ms) of filter + one ``n``-digit page as a figure, with and without serialisation.

    ``filter_grid_*``: ``filter_predictions`` and ``prediction_grid`` (the figure object);
    ``total_*``: that plus Streamlit's re-validation and JSON encoding of the figure (what
    the server does before anything is sent). Each repeat cycles to the next of ``FILTERS``.
    """
    if table is None or raw is None:
        table, raw = _table_and_images()
    build, total, sizes = [], [], []
    filters = itertools.cycle(FILTERS)
    for i in range(repeats + 3):  # 3 warm-up rounds: first calls import and allocate
        t0 = time.perf_counter()
        rows = filter_predictions(table, **next(filters))
        fig = prediction_grid(rows.iloc[:n], raw)
        t1 = time.perf_counter()
        spec = pio.to_json(go.Figure(fig.to_dict()), validate=False)
        t2 = time.perf_counter()
        if i >= 3:
            build.append(1000 * (t1 - t0))
            total.append(1000 * (t2 - t0))
            sizes.append(len(spec))

    def pct(xs: list[float], q: float) -> float:
        return round(sorted(xs)[min(len(xs) - 1, int(q * len(xs)))], 1)

    return {
        "digits": n,
        "repeats": repeats,
        "rows": len(table),
        "filter_grid_p50_ms": round(statistics.median(build), 1),
        "filter_grid_p95_ms": pct(build, 0.95),
        "total_p50_ms": round(statistics.median(total), 1),
        "total_p95_ms": pct(total, 0.95),
        "figure_kb": round(statistics.median(sizes) / 1024, 1),
    }
