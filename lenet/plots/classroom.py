"""Figures of a whole class's runs: every test-accuracy curve in one chart (one's own and the
teacher's picked out), and the class as a hyperparameter sweep (parallel coordinates)."""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.colors import sequential

from lenet.plots.style import COLORS, base_layout

__all__ = ["class_curves_figure", "sweep_figure"]


def class_curves_figure(runs: list[dict], height: int = 380) -> go.Figure:
    """Test accuracy per epoch of many runs. Each of ``runs`` has ``label``, ``epochs`` (epoch
    events) and ``who``: "mine" (drawn in blue, on top), "teacher" (thick, dark) or "other"
    (thin, grey), so one's own run stands out of thirty."""
    style = {
        "other": dict(color="rgba(100,116,139,0.45)", width=1.5),
        "teacher": dict(color=COLORS["text"], width=4),
        "mine": dict(color=COLORS["train"], width=4),
    }
    fig = go.Figure()
    for who in ("other", "teacher", "mine"):  # drawn last is on top
        for r in (r for r in runs if r["who"] == who and r["epochs"]):
            fig.add_scatter(
                x=[e["epoch"] for e in r["epochs"]],
                y=[e["test_acc"] for e in r["epochs"]],
                mode="lines+markers",
                name=r["label"],
                line=style[who],
                marker=dict(size=6 if who == "other" else 9),
                showlegend=who != "other",
                hovertemplate="epoch %{x}<br>test %{y:.2f} %<extra>" + r["label"] + "</extra>",
            )
    values = [e["test_acc"] for r in runs for e in r["epochs"]]
    low = min(values) if values else 90.0
    layout = base_layout(height, "Test accuracy of every run (%)", margin=dict(b=20))
    layout["legend"] = dict(orientation="h", x=0, y=-0.2, xanchor="left", yanchor="top")
    fig.update_layout(**layout)
    epochs = max((e["epoch"] for r in runs for e in r["epochs"]), default=1)
    # whole epochs only: a class of one-epoch runs is not drawn against 0.2, 0.4, ...
    fig.update_xaxes(title_text="epoch", range=[0, epochs + 0.3], dtick=max(1, epochs // 10))
    fig.update_yaxes(range=[max(0.0, min(low, 95.0) - 2), 100.3])
    return fig


def sweep_figure(rows: list[dict], height: int = 420) -> go.Figure:
    """The class's finished runs as one hyperparameter sweep: one line per run across learning
    rate (log), batch size, epochs, training images, optimizer and variant, coloured by its
    best test accuracy ("which learning rates worked?"). Each row has those keys plus
    ``best_test_acc``."""

    def categories(key: str) -> list[str]:
        return sorted({str(r[key]) for r in rows})

    optimizers, variants = categories("optimizer"), categories("variant")
    acc = [r["best_test_acc"] for r in rows]

    def categorical(key: str, names: list[str]) -> dict:
        """An axis of named values (an optimizer, a variant) at 0, 1, 2, ..."""
        return dict(label=key, values=[names.index(str(r[key])) for r in rows],
                    tickvals=list(range(len(names))), ticktext=names)  # fmt: skip

    log_lr = [math.log10(r["lr"]) for r in rows]
    decades = range(math.floor(min(log_lr)), math.ceil(max(log_lr)) + 1)
    dimensions = [
        _numeric_axis("learning rate (log scale)", log_lr, lambda v: f"{10**v:g}", decades),
        _numeric_axis("batch size", [r["batch_size"] for r in rows], lambda v: f"{v:,.0f}"),
        _numeric_axis("epochs", [r["epochs"] for r in rows], lambda v: f"{v:,.0f}"),
        _numeric_axis("training images", [r["train_images"] for r in rows], lambda v: f"{v:,.0f}"),
        categorical("optimizer", optimizers),
        categorical("variant", variants),
        _accuracy_axis(acc),
    ]
    # Viridis without its palest yellows, which a thin line on white hides
    line = dict(color=acc, colorscale=_VISIBLE_VIRIDIS, showscale=True,
                colorbar=dict(title=dict(text="test %", side="top"), thickness=12))  # fmt: skip
    fig = go.Figure(go.Parcoords(line=line, dimensions=dimensions,
                                 labelfont=dict(size=13), tickfont=dict(size=11)))  # fmt: skip
    fig.update_layout(**base_layout(height, margin=dict(l=90, r=40, t=60, b=30), axes=False))
    return fig


_VISIBLE_VIRIDIS = sequential.Viridis[:8]


def _accuracy_axis(acc: list[float]) -> dict:
    """The accuracy axis, from a whole percent below the worst run to one above the best (at
    most 100): the axis' ends are labelled, and no line lies on them."""
    low, high = math.floor(min(acc) - 0.5), min(100, math.ceil(max(acc) + 0.5))
    return dict(label="best test accuracy (%)", values=acc, range=[low, high])


def _numeric_axis(label: str, values: list[float], shown, many=(), ticks: int = 8) -> dict:
    """A parallel-coordinates axis of settings: ticks at the values the runs used, written by
    ``shown`` (a learning rate as 0.003, not its log10; 6,000 images, not "6k"), or at
    ``many`` when there are more than ``ticks`` of them (whole numbers when there is no
    ``many``); and a range a little wider than the values, so a line at the lowest or highest
    is not hidden by the axis' end."""
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 or 1.0
    axis = dict(label=label, values=values, range=[low - pad, high + pad])
    distinct = sorted(set(values))
    at = distinct if len(distinct) <= ticks else [v for v in many if low <= v <= high]
    if at:
        axis.update(tickvals=list(at), ticktext=[shown(v) for v in at])
    else:
        axis.update(tickformat=",d")  # whole numbers, written out
    return axis
