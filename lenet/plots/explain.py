"""One unit's arithmetic (``lenet.analysis.explain.explain_unit``) as figures: where it looks on
the digit, what it reads, its weights and their products; and its activation function with the
unit's point on it."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

from lenet.models.paper import squash
from lenet.plots.style import COLORS, GRAY, base_layout, mosaic, signed_scale

__all__ = ["unit_figure", "activation_figure"]


def _tiles(a) -> np.ndarray:
    """(maps, h, w) side by side with one-cell gutters, as one grid."""
    a = np.asarray(a, dtype=np.float64)
    a = a[None] if a.ndim == 2 else a
    return mosaic(a, cols=len(a), gap=1)[0]


def unit_figure(digit: np.ndarray, explained: dict, height: int = 240) -> go.Figure:
    """The digit (32×32) with the unit's receptive field outlined, then what the unit reads,
    its weights and their products (a convolution), or its 2×2 window (a subsampling), or
    its largest contributions (F6, OUTPUT)."""
    if "patch" in explained:
        panels = [("digit", np.asarray(digit)), ("input it reads", _tiles(explained["patch"])),
                  ("kernel", _tiles(explained["kernel"])),
                  ("products", _tiles(explained["products"]))]  # fmt: skip
    elif "window" in explained:
        panels = [("digit", np.asarray(digit)), ("2×2 window", _tiles(explained["window"]))]
    else:
        return _contributions(explained, height)
    # One figure built in one go (make_subplots and per-axis updates cost ~50 ms a click)
    n, gap = len(panels), 0.03
    layout = base_layout(height, None, dict(l=10, r=10, t=30, b=10), axes=False)
    traces, notes = [], []
    for i, (name, z) in enumerate(panels):
        suffix = "" if i == 0 else str(i + 1)
        scale, zmin, zmax = (GRAY, None, None) if name == "digit" else signed_scale(z)
        traces.append(go.Heatmap(
            z=z, colorscale=scale, zmin=zmin, zmax=zmax, showscale=False,
            xaxis=f"x{suffix}", yaxis=f"y{suffix}",
            hovertemplate=f"{name}<br>row %{{y}}, col %{{x}}<br>%{{z:.3f}}<extra></extra>",
        ))  # fmt: skip
        left, right = i / n + gap / 2, (i + 1) / n - gap / 2
        layout[f"xaxis{suffix}"] = dict(domain=[left, right], visible=False, constrain="domain")
        layout[f"yaxis{suffix}"] = dict(anchor=f"x{suffix}", visible=False, autorange="reversed",
                                        scaleanchor=f"x{suffix}", scaleratio=1,
                                        constrain="domain")  # fmt: skip
        notes.append(dict(text=name, x=(left + right) / 2, y=1.0, xref="paper", yref="paper",
                          yanchor="bottom", showarrow=False, font=dict(size=14)))  # fmt: skip
    top, left, size = explained["receptive_field"]
    edge = dict(color=COLORS["test"], width=2)
    rect = dict(type="rect", xref="x", yref="y", x0=left - 0.5, x1=left + size - 0.5,
                y0=top - 0.5, y1=top + size - 0.5, line=edge)  # fmt: skip
    return go.Figure(data=traces, layout={**layout, "annotations": notes, "shapes": [rect]})


def _contributions(explained: dict, height: int) -> go.Figure:
    """F6 / OUTPUT: the inputs that moved the sum most (signed products), or for the paper's
    RBF output the distance to every class bitmap."""
    if "distances" in explained:
        d = np.asarray(explained["distances"], dtype=np.float64)
        unit = explained["index"][0]
        colors = [COLORS["train"] if k == unit else COLORS["muted"] for k in range(len(d))]
        fig = go.Figure(
            go.Bar(
                x=[str(k) for k in range(len(d))],
                y=d,
                marker_color=colors,
                hovertemplate="bitmap %{x}<br>distance %{y:.2f}<extra></extra>",
            )
        )
        fig.update_layout(**base_layout(height, "Squared distance to each class's bitmap",
                                        axes="y"))  # fmt: skip
        fig.update_xaxes(title="class")
        return fig
    source = "C5" if explained["layer"] == "F6" else "F6"
    top = explained["top"]
    fig = go.Figure(go.Bar(
        x=[p for _, p in top], y=[f"{source} {i}" for i, _ in top], orientation="h",
        marker_color=[COLORS["test"] if p > 0 else COLORS["train"] for _, p in top],
        hovertemplate="%{y}: weight × value = %{x:.3f}<extra></extra>",
    ))  # fmt: skip
    fig.update_layout(**base_layout(height, "The largest contributions (weight × value)",
                                    axes="x"))  # fmt: skip
    fig.update_yaxes(autorange="reversed")
    return fig


_CURVES = {"tanh": np.tanh, "relu": lambda a: np.maximum(a, 0.0), "identity": lambda a: a,
           "squash": lambda a: squash(torch.as_tensor(a)).numpy()}  # fmt: skip


def activation_figure(name: str, pre: float, value: float, height: int = 240) -> go.Figure:
    """The activation function ``name`` (tanh, squash, relu, identity) with the unit's
    (pre-activation, activation) point on it."""
    reach = max(3.0, abs(pre) * 1.2)
    a = np.linspace(-reach, reach, 241)
    curve = go.Scatter(x=a, y=_CURVES[name](a), mode="lines", name=name,
                       line=dict(color=COLORS["muted"]), hoverinfo="skip")  # fmt: skip
    point = go.Scatter(x=[pre], y=[value], mode="markers", name="this unit",
                       marker=dict(size=11, color=COLORS["test"]),
                       hovertemplate="sum %{x:.3f} → %{y:.3f}<extra></extra>")  # fmt: skip
    layout = base_layout(height, f"{name}: sum → activation")
    layout["xaxis"]["title"] = dict(text="sum + bias")
    return go.Figure(data=[curve, point], layout={**layout, "showlegend": False})
