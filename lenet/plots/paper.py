"""Figures for the 1998 paper beside this reproduction: the RBF centres and the test errors."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from lenet.plots.style import COLORS, base_layout, mosaic, square_axes

__all__ = ["rbf_bitmaps_figure", "error_vs_paper_figure"]


def rbf_bitmaps_figure(bitmaps: tuple[str, ...], height: int = 210) -> go.Figure:
    """The ten fixed RBF centres as crisp 7×12 bitmaps ('#' = +1 dark, '.' = −1 light), in one
    heatmap with gutters, the digit above each and the ±1 value on hover."""
    tiles = np.array(
        [[[1.0 if ch == "#" else -1.0 for ch in row] for row in b.splitlines()] for b in bitmaps]
    )
    grid, origins = mosaic(tiles, cols=len(tiles), gap=2, row_gap=2)
    fig = go.Figure(
        go.Heatmap(
            z=grid,
            colorscale=[[0, "#f1f5f9"], [1, COLORS["text"]]],
            zmin=-1,
            zmax=1,
            showscale=False,
            hoverongaps=False,
            xgap=1,
            ygap=1,
            hovertemplate="value %{z:+.0f}<extra></extra>",
        )
    )
    h, w = tiles.shape[1:]
    for digit, (r0, c0) in enumerate(origins):
        fig.add_annotation(
            x=c0 + (w - 1) / 2,
            y=r0 - 0.6,
            text=f"<b>{digit}</b>",
            showarrow=False,
            yanchor="bottom",
            font=dict(size=15, color=COLORS["text"]),
        )
    fig.update_layout(**base_layout(height, margin=dict(l=10, r=10, t=34, b=10), axes=False))
    square_axes(fig)
    return fig


def error_vs_paper_figure(
    runs: list[tuple[str, float]], paper_error: float, height: int = 150
) -> go.Figure:
    """Horizontal bars of test error (%): the paper's first, then each (label, error) run."""
    labels = ["paper (1998)"] + [label for label, _ in runs]
    errors = [paper_error] + [err for _, err in runs]
    colors = [COLORS["muted"]] + [COLORS["test"]] * len(runs)
    fig = go.Figure(
        go.Bar(
            x=errors,
            y=labels,
            orientation="h",
            marker_color=colors,
            text=[f"{e:.2f} %" for e in errors],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:.2f} %<extra></extra>",
        )
    )
    height = max(height, 70 + 45 * len(labels))
    fig.update_layout(**base_layout(height, margin=dict(l=10, r=30, t=10, b=45), axes="x"))
    fig.update_xaxes(
        title_text="test error (%), lower is better", ticksuffix=" %", range=[0, max(errors) * 1.25]
    )
    fig.update_yaxes(autorange="reversed", type="category")
    return fig
