"""Figures of one digit's path through LeNet-5, layer by layer: the feature maps of a
convolution or subsampling layer as one mosaic heatmap (map numbers above the tiles, the map,
pixel and value under the pointer), the 1-D layers as coloured strips, OUTPUT's ten scores as
bars, and the gradient and occlusion explanations of a class beside the input.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lenet.plots.style import (
    COLORS,
    DIVERGING,
    GRAY,
    base_layout,
    mosaic,
    signed_scale,
    square_axes,
    tile_index,
)

__all__ = ["feature_maps_figure", "vector_figure", "output_figure", "saliency_figure"]


def feature_maps_figure(
    maps: np.ndarray,
    layer: str,
    scale: str = "own",
    cols: int | None = None,
    width: int = 900,
    clickable: bool = False,
) -> go.Figure:
    """A layer's maps (C, H, W) as a grid of square heatmaps with map numbers and hover values.

    ``clickable``: an invisible marker on every unit (a second trace, whose ``customdata`` is
    (map, row, col, value)), so a click selects that unit: heatmap cells can't be selected.

    ``scale="own"``: each map stretched to its own ±max (shape of every map visible);
    ``"shared"``: one range for the layer (which maps respond strongest). Diverging colours
    centred at 0 when values go negative (tanh), sequential from 0 otherwise (ReLU).
    ``width`` is the figure's width in pixels; the height follows from it.
    """
    maps = np.asarray(maps, dtype=np.float64)
    n, h, w = maps.shape
    cols = cols or (n if n <= 8 else math.ceil(n / 2))
    gap = max(1, h // 7)
    row_gap = max(1, h // 7, round(h * 0.3))  # room for the map numbers
    if scale == "own":
        peak = np.abs(maps).reshape(n, -1).max(1)
        z = maps / np.where(peak > 0, peak, 1.0)[:, None, None]
        colorscale, zmin, zmax = signed_scale(maps, 1.0)
        colorbar = dict(
            tickvals=[zmin, 0, zmax] if zmin < 0 else [0, 1],
            ticktext=["−max", "0", "+max"] if zmin < 0 else ["0", "max"],
            thickness=12,
        )
    else:
        z = maps
        colorscale, zmin, zmax = signed_scale(maps)
        colorbar = dict(title=dict(text="value", side="top"), thickness=12)
    grid, origins = mosaic(z, cols, gap, row_gap)
    custom = np.concatenate(
        [tile_index(n, h, w, cols, gap, row_gap), mosaic(maps, cols, gap, row_gap)[0][..., None]],
        axis=-1,
    )
    fig = go.Figure(
        go.Heatmap(
            z=grid,
            customdata=custom,
            colorscale=colorscale,
            zmin=zmin,
            zmax=zmax,
            hoverongaps=False,
            colorbar=colorbar,
            hovertemplate=f"{layer} map %{{customdata[0]}}<br>row %{{customdata[1]}}, "
            "col %{customdata[2]}<br>value %{customdata[3]:.3f}<extra></extra>",
        )
    )
    cell = (width - 90) / grid.shape[1]  # 90 px: colour bar and margins
    if clickable:
        fig.data[0].hoverinfo, fig.data[0].hovertemplate = "skip", None
        rows, cols_ = np.nonzero(~np.isnan(grid))
        fig.add_trace(
            go.Scatter(
                x=cols_, y=rows, mode="markers", customdata=custom[rows, cols_],
                marker=dict(size=max(cell, 3), symbol="square", opacity=0),
                hovertemplate=f"{layer} map %{{customdata[0]}}<br>row %{{customdata[1]}}, col "
                "%{customdata[2]}<br>value %{customdata[3]:.3f}<br>click: its arithmetic"
                "<extra></extra>", showlegend=False,
            )
        )  # fmt: skip
    for i, (r0, c0) in enumerate(origins):
        fig.add_annotation(
            x=c0 + (w - 1) / 2,
            y=r0 - 0.5,
            text=str(i),
            showarrow=False,
            yanchor="bottom",
            font=dict(size=11, color=COLORS["muted"]),
        )
    height = int(grid.shape[0] * cell) + 40
    fig.update_layout(**base_layout(height, margin=dict(l=10, r=10, t=28, b=10), axes=False))
    square_axes(fig)
    return fig


def vector_figure(vectors: dict[str, np.ndarray], height_per: int = 115) -> go.Figure:
    """1-D layers (C5's 120 units, F6's 84) as coloured strips, one per layer, values on hover."""
    names = list(vectors)
    fig = make_subplots(
        rows=len(names),
        cols=1,
        vertical_spacing=0.8 / len(names),
        subplot_titles=[f"{n} · {len(vectors[n])} units" for n in names],
    )
    height = height_per * len(names) + 40
    fig.update_layout(**base_layout(height, margin=dict(l=15, r=15, t=30, b=25)))
    for i, name in enumerate(names, start=1):
        v = np.asarray(vectors[name], dtype=np.float64)
        colorscale, zmin, zmax = signed_scale(v)
        fig.add_trace(
            go.Heatmap(
                z=v[None, :],
                colorscale=colorscale,
                zmin=zmin,
                zmax=zmax,
                showscale=False,
                hovertemplate=f"{name} unit %{{x}}<br>value %{{z:.3f}}<extra></extra>",
            ),
            row=i,
            col=1,
        )
        fig.update_yaxes(visible=False, row=i, col=1)
        fig.update_xaxes(showgrid=False, ticks="outside", dtick=10, row=i, col=1)
    return fig


def output_figure(
    logits: np.ndarray, probs: np.ndarray, paper: bool = False, height: int = 260
) -> go.Figure:
    """OUTPUT's ten scores as bars (the predicted class highlighted), probabilities on hover and
    on top of the bars. ``paper``: the scores are the 1998 RBF layer's negated distances."""
    logits, probs = np.asarray(logits, dtype=np.float64), np.asarray(probs, dtype=np.float64)
    best = int(np.argmax(logits))
    colors = [COLORS["train"] if k == best else COLORS["muted"] for k in range(10)]
    fig = go.Figure(
        go.Bar(
            x=[str(k) for k in range(10)],
            y=logits,
            marker_color=colors,
            text=[f"{100 * p:.1f} %" for p in probs],
            textposition="outside",
            cliponaxis=False,
            customdata=100 * probs,
            hovertemplate="class %{x}<br>score %{y:.3f}<br>probability %{customdata:.2f} %"
            "<extra></extra>",
        )
    )
    fig.update_layout(**base_layout(height, margin=dict(l=60, r=15, t=30, b=45), axes="y"))
    fig.update_xaxes(type="category", title_text="class", tickfont=dict(size=15))
    fig.update_yaxes(
        title_text="−RBF distance" if paper else "score (logit)",
        zeroline=True,
        zerolinecolor=COLORS["muted"],
    )
    return fig


def saliency_figure(
    model_input: np.ndarray, grad: np.ndarray, occl: np.ndarray, target: int, height: int = 330
) -> go.Figure:
    """The input beside the two explanations of class ``target``: gradient saliency (how much
    each pixel moves the class score) and occlusion (what hiding a patch costs the class)."""
    fig = make_subplots(
        rows=1,
        cols=3,
        horizontal_spacing=0.09,
        subplot_titles=[
            "input (32×32)",
            f"gradient: pixels that move the {target}-score",
            "occlusion: hiding a patch costs",
        ],
    )
    fig.add_trace(
        go.Heatmap(
            z=np.asarray(model_input, dtype=np.float64),
            colorscale=GRAY,
            showscale=False,
            hovertemplate="row %{y}, col %{x}<br>input %{z:.2f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Heatmap(
            z=np.asarray(grad, dtype=np.float64),
            colorscale="Hot",
            zmin=0,
            hovertemplate="row %{y}, col %{x}<br>|gradient| %{z:.4f}<extra></extra>",
            colorbar=dict(x=0.635, len=0.85, thickness=10),
        ),
        row=1,
        col=2,
    )
    occl = np.asarray(occl, dtype=np.float64)
    peak = float(np.abs(occl).max()) or 1.0
    fig.add_trace(
        go.Heatmap(
            z=100 * occl,
            colorscale=DIVERGING,
            zmin=-100 * peak,
            zmax=100 * peak,
            hovertemplate="row %{y}, col %{x}<br>probability drop %{z:.1f} points<extra></extra>",
            colorbar=dict(x=1.0, len=0.85, thickness=10, ticksuffix=" pt"),
        ),
        row=1,
        col=3,
    )
    for i in (1, 2, 3):
        square_axes(fig, row=1, col=i, xref=f"x{i if i > 1 else ''}")
    fig.update_annotations(font_size=13)
    fig.update_layout(**base_layout(height, margin=dict(l=10, r=10, t=30, b=10), axes=False))
    return fig
