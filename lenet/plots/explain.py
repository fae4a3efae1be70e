"""One unit's arithmetic (``lenet.analysis.explain.explain_unit``) as figures: where it looks on
the digit, what it reads, its weights and their products; and its activation function with the
unit's point on it."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from lenet.models.paper import squash
from lenet.plots.style import COLORS, GRAY, base_layout, mosaic, signed_scale, square_axes

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
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p[0] for p in panels],
                        horizontal_spacing=0.04)  # fmt: skip
    for col, (name, z) in enumerate(panels, start=1):
        scale, zmin, zmax = (GRAY, None, None) if name == "digit" else signed_scale(z)
        fig.add_trace(
            go.Heatmap(
                z=z,
                colorscale=scale,
                zmin=zmin,
                zmax=zmax,
                showscale=False,
                hovertemplate=f"{name}<br>row %{{y}}, col %{{x}}<br>%{{z:.3f}}<extra></extra>",
            ),  # fmt: skip
            row=1,
            col=col,
        )
        square_axes(fig, row=1, col=col, xref="x" if col == 1 else f"x{col}")
    top, left, size = explained["receptive_field"]
    fig.add_shape(type="rect", x0=left - 0.5, x1=left + size - 0.5, y0=top - 0.5,
                  y1=top + size - 0.5, line=dict(color=COLORS["test"], width=2),
                  row=1, col=1)  # fmt: skip
    fig.update_layout(**base_layout(height, None, dict(l=10, r=10, t=30, b=10), axes=False))
    return fig


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
    fig = go.Figure(go.Scatter(x=a, y=_CURVES[name](a), mode="lines", name=name,
                               line=dict(color=COLORS["muted"]), hoverinfo="skip"))  # fmt: skip
    fig.add_trace(go.Scatter(x=[pre], y=[value], mode="markers", name="this unit",
                             marker=dict(size=11, color=COLORS["test"]),
                             hovertemplate="sum %{x:.3f} → %{y:.3f}<extra></extra>"))  # fmt: skip
    fig.update_layout(**base_layout(height, f"{name}: sum → activation"), showlegend=False)
    fig.update_xaxes(title="sum + bias")
    return fig
