"""Network health figures: saturated or dead units per layer while training and epoch by epoch,
and each layer's activation and weight histograms over the epochs (``lenet.analysis.health``).
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lenet.analysis.health import HEALTH_LAYERS
from lenet.plots.style import COLORS, SEQUENTIAL, base_layout
from lenet.plots.training import _line, _live_figure, _step_to_epoch

__all__ = [
    "MEASURE_WORDS",
    "live_health_figure",
    "health_shares_figure",
    "health_histograms_figure",
    "common_bins",
]

MEASURE_WORDS = {"saturated": "Saturated units", "dead": "Dead units"}
_LOG_FLOOR = -4  # the histograms' colour scale starts at 0.01 % of a layer's values


def _layer_color(name: str) -> str:
    return COLORS["cycle"][HEALTH_LAYERS.index(name) % len(COLORS["cycle"])]


def _title(measures) -> str:
    words = [MEASURE_WORDS.get(m, m) for m in measures]
    return (" / ".join(words) or "Saturated or dead units") + " (%)"


def _share_axis(peaks: list[float]) -> dict:
    """A 0 … % axis that shows a few percent as clearly as 100 %."""
    peak = max(peaks, default=0.0) * 100
    return dict(range=[0, max(10.0, peak * 1.08)], title=dict(text="% of the layer"))


def live_health_figure(
    batches: list[dict],
    steps_per_epoch: int,
    lr_changes: list[dict] = (),
    height: int = 260,
    x_max: float | None = None,
    start: dict | None = None,
) -> go.Figure:
    """The saturated (tanh) or dead (ReLU) share of each layer while training: one line per
    layer from the "batch" events that carry ``health``, against epochs, like the loss curve
    (fixed epoch axis ``x_max``, rate changes marked). ``start``: the untrained network's
    shares (epoch 0's record, measured on the same digits), drawn at step 0. Built
    unvalidated: the Train page redraws it every second."""
    measured = [b for b in batches if b.get("health")]
    if start:
        measured = [{"step": 0, "health": start}, *measured]
    x = _step_to_epoch([b["step"] for b in measured], steps_per_epoch)
    measures = list(dict.fromkeys(m for b in measured for m in b["health"]))
    traces, peaks = [], []
    for measure in measures:
        for name in HEALTH_LAYERS:
            ys = [b["health"].get(measure, {}).get(name) for b in measured]
            if all(y is None for y in ys):
                continue
            values = [None if y is None else 100 * y for y in ys]
            peaks += [y for y in ys if y is not None]
            label = name if len(measures) == 1 else f"{name} {measure}"
            hover = f"{label}<br>epoch %{{x:.2f}}<br>%{{y:.1f}} % {measure}"
            dots = {"mode": "lines+markers", "marker": dict(size=6)} if len(x) <= 20 else {}
            traces.append(_line(x, values, label, _layer_color(name), 2, hover, **dots))
    return _live_figure(
        traces, _title(measures), height, list(lr_changes), steps_per_epoch, x_max,
        _share_axis(peaks),
    )  # fmt: skip


def health_shares_figure(
    records: dict[int, dict], mark: int | None = None, height: int = 320
) -> go.Figure:
    """Each layer's saturated or dead share at every recorded epoch (``Run.health()``), lines
    with markers; ``mark`` draws a dotted line at one epoch (the one chosen)."""
    epochs = sorted(records)
    measures = list(dict.fromkeys(m for e in epochs for m in records[e].get("shares", {})))
    fig = go.Figure()
    peaks = []
    for measure in measures:
        for name in HEALTH_LAYERS:
            points = [(e, records[e]["shares"].get(measure, {}).get(name)) for e in epochs]
            points = [(e, y) for e, y in points if y is not None]
            if not points:
                continue
            peaks += [y for _, y in points]
            label = name if len(measures) == 1 else f"{name} {measure}"
            fig.add_scatter(
                x=[e for e, _ in points],
                y=[100 * y for _, y in points],
                name=label,
                mode="lines+markers",
                line=dict(color=_layer_color(name), width=2.5),
                marker=dict(size=7),
                hovertemplate=f"{label}<br>epoch %{{x}}<br>%{{y:.2f}} % {measure}<extra></extra>",
            )
    fig.update_layout(**base_layout(height, _title(measures)))
    fig.update_xaxes(title_text="epoch", rangemode="tozero", dtick=_epoch_tick(epochs))
    fig.update_yaxes(**_share_axis(peaks))
    if mark is not None:
        fig.add_vline(x=mark, line=dict(color=COLORS["muted"], dash="dot", width=1.5))
    return fig


def _epoch_tick(epochs: list[int]) -> int | None:
    """Whole epochs on the axis: a tick every epoch for short runs, plotly's choice for long."""
    return 1 if epochs and max(epochs) <= 12 else None


def common_bins(histograms: list[dict], bins: int | None = None) -> np.ndarray:
    """Edges spanning every histogram in ``histograms`` (each with ``edges``), as many bins as
    the first: one grid for the epochs of one layer."""
    spans = [(h["edges"][0], h["edges"][-1]) for h in histograms if h and h["edges"]]
    if not spans:
        return np.array([])
    n = bins or len(next(h for h in histograms if h and h["edges"])["edges"]) - 1
    return np.linspace(min(s[0] for s in spans), max(s[1] for s in spans), n + 1)


def _rebin(histogram: dict, edges: np.ndarray) -> np.ndarray:
    """The counts of ``histogram`` on other ``edges``, spreading each bin's count evenly over
    its width (as TensorBoard's histograms do); the same counts where the edges are its own."""
    if not histogram or not histogram["edges"]:
        return np.zeros(len(edges) - 1)
    own = np.asarray(histogram["edges"], dtype=float)
    cumulative = np.concatenate([[0.0], np.cumsum(histogram["counts"], dtype=float)])
    return np.diff(np.interp(edges, own, cumulative))


def health_histograms_figure(
    records: dict[int, dict], which: str = "activations", width: int = 1150, cols: int = 3
) -> go.Figure:
    """Per layer, its ``which`` ("activations" or "weights") histogram at every recorded epoch
    as a heatmap: epochs across, values up, colour the share of the layer's values in each bin
    (a log scale, so a few saturated units show beside the bulk). Dotted lines mark where a
    tanh layer's units count as saturated. Layers without weights are left out of "weights"."""
    epochs = sorted(records)
    grids = {}  # layer: the edges its epochs are drawn on
    for name in HEALTH_LAYERS:
        edges = common_bins([(records[e]["layers"].get(name) or {}).get(which) for e in epochs])
        if edges.size:
            grids[name] = edges
    cols = len(grids) if len(grids) <= 4 else cols  # four weighted layers read best in a row
    rows = max(1, math.ceil(len(grids) / max(cols, 1)))
    titles = [_subplot_title(records[epochs[-1]]["layers"][n], n, which) for n in grids]
    fig = make_subplots(
        rows=rows, cols=max(cols, 1), subplot_titles=titles, horizontal_spacing=0.06,
        vertical_spacing=0.16 if rows > 1 else 0.1,
    )  # fmt: skip
    for i, (name, edges) in enumerate(grids.items()):
        row, col = i // cols + 1, i % cols + 1
        layer = [records[e]["layers"][name] for e in epochs]
        hists = [rec.get(which) for rec in layer]
        counts = np.stack([_rebin(h, edges) for h in hists], axis=1)  # (bins, epochs)
        totals = counts.sum(axis=0, keepdims=True)
        share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        with np.errstate(divide="ignore"):
            z = np.where(share > 0, np.log10(share), np.nan)
        centres = (edges[:-1] + edges[1:]) / 2
        fig.add_heatmap(
            x=epochs,
            y=centres,
            z=z,
            customdata=100 * share,
            coloraxis="coloraxis",
            hovertemplate=(
                f"{name}<br>epoch %{{x}}<br>value %{{y:.3g}}<br>%{{customdata:.3g}} % of its "
                f"{which}<extra></extra>"
            ),
            row=row,
            col=col,
        )
        bound = layer[-1].get("bound")
        if which == "activations" and layer[-1].get("measure") == "saturated" and bound:
            at = records[epochs[-1]].get("saturated_at", 0.97) * bound
            for y in (-at, at):
                fig.add_hline(
                    y=y, line=dict(color="white", dash="dot", width=1.2), row=row, col=col
                )
        fig.update_xaxes(dtick=_epoch_tick(epochs), row=row, col=col)
    ticks = list(range(_LOG_FLOOR, 1))
    fig.update_layout(
        **base_layout(230 * rows + 70, margin=dict(t=50, r=10), axes=False),
        width=width,
        coloraxis=dict(
            colorscale=SEQUENTIAL,
            cmin=_LOG_FLOOR,
            cmax=0,
            colorbar=dict(
                title=dict(text="share of<br>the values", side="top"),
                tickvals=ticks,
                ticktext=[f"{100 * 10**t:g} %" for t in ticks],
                thickness=14,
                len=1.0,
            ),
        ),
    )
    fig.update_xaxes(title_text="epoch", row=rows)
    return fig


def _subplot_title(layer: dict, name: str, which: str) -> str:
    if which == "weights":
        n = sum(layer["weights"]["counts"]) if layer.get("weights") else 0
        return f"{name} · {n:,} weights"
    return f"{name} · {layer['units']:,} units"
