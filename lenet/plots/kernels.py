"""Figures of what C1 and C3 learned: their 5×5 kernels as one mosaic heatmap on a diverging
scale centred at 0 (C3 laid out like the paper's Table I, a row per S2 map and a column per C3
map), the C3 connection table itself, and an animation of the kernels and of one digit's maps
over a run's stored epochs.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lenet.plots.style import (
    COLORS,
    DIVERGING,
    base_layout,
    mosaic,
    signed_scale,
    square_axes,
    tile_index,
)

__all__ = ["kernels_figure", "connection_table_figure", "evolution_figure"]


def _kernel_tiles(k: np.ndarray, table: np.ndarray | None) -> tuple[np.ndarray, int, str]:
    """Kernels (out, in, 5, 5) as (mosaic tiles, columns, layer): C1 in one row, C3 as in-maps
    (rows) × out-maps (columns), the pairs ``table`` leaves unconnected all NaN."""
    out_n, in_n = k.shape[:2]
    if in_n == 1:
        return k[:, 0], out_n, "C1"
    table = np.ones((out_n, in_n), bool) if table is None else np.asarray(table, bool)
    masked = np.where(table[:, :, None, None], k, np.nan)  # unconnected pairs stay empty
    tiles = masked.transpose(1, 0, 2, 3).reshape(in_n * out_n, *k.shape[2:])  # row: input map
    return tiles, out_n, "C3"


def kernels_figure(
    k: np.ndarray,
    table: np.ndarray | None = None,
    width: int = 900,
    peak: float | None = None,
) -> go.Figure:
    """C1 (6, 1, 5, 5) or C3 (16, 6, 5, 5) kernels, diverging colours centred at 0, one range
    per layer (±``peak``, default the layer's max |weight|).

    C3 is laid out like the paper's Table I: a row per S2 input map, a column per C3 map; pairs
    the connection ``table`` (16, 6) leaves unconnected are drawn empty. ``width`` is the
    figure's width in pixels; the height follows from it.
    """
    k = np.asarray(k, dtype=np.float64)
    tiles, cols, layer = _kernel_tiles(k, table)
    h, w = tiles.shape[1:]
    gap = 1
    grid, origins = mosaic(tiles, cols, gap)
    peak = float(np.nanmax(np.abs(k))) if peak is None else peak
    idx = tile_index(len(tiles), h, w, cols, gap)
    if layer == "C1":
        hover = (
            "C1 kernel %{customdata[0]}<br>row %{customdata[1]}, col %{customdata[2]}"
            "<br>weight %{z:.3f}"
        )
        custom = idx
    else:
        custom = np.concatenate([idx[..., :1] % cols, idx[..., :1] // cols, idx[..., 1:]], axis=-1)
        hover = (
            "C3 map %{customdata[0]} ← S2 map %{customdata[1]}<br>row %{customdata[2]}, "
            "col %{customdata[3]}<br>weight %{z:.3f}"
        )
    fig = go.Figure(
        go.Heatmap(
            z=grid,
            customdata=custom,
            colorscale=DIVERGING,
            zmin=-peak,
            zmax=peak,
            hoverongaps=False,
            hovertemplate=hover + "<extra></extra>",
            colorbar=dict(title=dict(text="weight", side="top"), thickness=12),
        )
    )
    margin_top, margin_left = (50, 60) if layer == "C3" else (28, 10)
    cell = (width - 90 - margin_left) / grid.shape[1]
    height = int(grid.shape[0] * cell) + margin_top + 12
    margin = dict(l=margin_left, r=10, t=margin_top, b=10)
    fig.update_layout(**base_layout(height, margin=margin, axes=False))
    square_axes(fig)
    if layer == "C3":
        in_n = k.shape[1]
        fig.update_xaxes(
            visible=True,
            showgrid=False,
            zeroline=False,
            side="top",
            tickvals=[c * (w + gap) + (w - 1) / 2 for c in range(cols)],
            ticktext=[str(c) for c in range(cols)],
            title_text="C3 map",
            title_standoff=4,
        )
        fig.update_yaxes(
            visible=True,
            showgrid=False,
            zeroline=False,
            tickvals=[r * (h + gap) + (h - 1) / 2 for r in range(in_n)],
            ticktext=[str(r) for r in range(in_n)],
            title_text="S2 map",
        )
    else:
        for i, (r0, c0) in enumerate(origins):
            fig.add_annotation(
                x=c0 + (w - 1) / 2,
                y=r0 - 0.5,
                text=str(i),
                showarrow=False,
                yanchor="bottom",
                font=dict(size=11, color=COLORS["muted"]),
            )
    return fig


def connection_table_figure(table: np.ndarray, height: int = 230) -> go.Figure:
    """The C3 connection table (16, 6) drawn like the paper's Table I: an X where an S2 map feeds
    a C3 map."""
    t = np.asarray(table, bool).T.astype(float)  # (6 S2 maps, 16 C3 maps)
    fig = go.Figure(
        go.Heatmap(
            z=t,
            colorscale=[[0, "#ffffff"], [1, "#dbe7f6"]],
            zmin=0,
            zmax=1,
            showscale=False,
            xgap=2,
            ygap=2,
            hovertemplate="S2 map %{y} → C3 map %{x}<extra></extra>",
        )
    )
    ys, xs = np.nonzero(t)
    fig.add_scatter(
        x=xs,
        y=ys,
        mode="text",
        text=["X"] * len(xs),
        hoverinfo="skip",
        textfont=dict(size=13, color=COLORS["text"]),
    )
    fig.update_layout(**base_layout(height, margin=dict(l=55, r=10, t=45, b=10)))
    fig.update_xaxes(
        side="top", dtick=1, showgrid=False, zeroline=False, title_text="C3 map", title_standoff=2
    )
    fig.update_yaxes(
        autorange="reversed",
        dtick=1,
        showgrid=False,
        zeroline=False,
        title_text="S2 map",
        scaleanchor="x",
        scaleratio=1,
        constrain="domain",
    )
    fig.update_layout(showlegend=False)
    return fig


def evolution_figure(evo: dict, layer: str = "C1", width: int = 900) -> go.Figure:
    """``lenet.runs.evolution`` of one layer animated over epochs: kernels on top, the sample's
    maps below.

    A slider and a play button step through the stored epochs; colour ranges are shared over all
    epochs so that weights and responses visibly grow as the network learns. ``width`` is the
    figure's width in pixels; the height follows from it (at most 1000).
    """
    epochs = evo["epochs"]
    kern, maps = evo[layer]["kernels"], evo[layer]["maps"]
    table = evo.get("connections") if layer == "C3" else None
    k_tiles = [_kernel_tiles(k, table) for k in kern]
    k_cols = k_tiles[0][1]
    m_cols = maps.shape[1] if maps.shape[1] <= 8 else math.ceil(maps.shape[1] / 2)
    m_gap = max(1, maps.shape[2] // 7)
    k_grids = [mosaic(t[0], k_cols, 1)[0] for t in k_tiles]
    m_grids = [mosaic(m, m_cols, m_gap)[0] for m in maps]
    k_peak = float(np.nanmax(np.abs(kern))) or 1.0
    m_scale, m_min, m_max = signed_scale(maps)
    k_ratio = k_grids[0].shape[0] / k_grids[0].shape[1]
    m_ratio = m_grids[0].shape[0] / m_grids[0].shape[1]
    fig = make_subplots(
        rows=2,
        cols=1,
        row_heights=[k_ratio, m_ratio],
        vertical_spacing=0.09,
        subplot_titles=[
            f"{layer} kernels (shared range over all epochs)",
            f"{layer} maps of the sample",
        ],
    )
    fig.add_trace(
        go.Heatmap(
            z=k_grids[-1],
            colorscale=DIVERGING,
            zmin=-k_peak,
            zmax=k_peak,
            hoverongaps=False,
            colorbar=dict(
                y=1 - k_ratio / (k_ratio + m_ratio) / 2,
                len=0.45,
                thickness=11,
                title=dict(text="weight", side="top"),
            ),
            hovertemplate="weight %{z:.3f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Heatmap(
            z=m_grids[-1],
            colorscale=m_scale,
            zmin=m_min,
            zmax=m_max,
            hoverongaps=False,
            colorbar=dict(
                y=m_ratio / (k_ratio + m_ratio) / 2,
                len=0.45,
                thickness=11,
                title=dict(text="value", side="top"),
            ),
            hovertemplate="value %{z:.3f}<extra></extra>",
        ),
        row=2,
        col=1,
    )
    square_axes(fig, row=1, col=1, xref="x")
    square_axes(fig, row=2, col=1, xref="x2")
    label = {e: "0 · untrained" if e == 0 else str(e) for e in epochs}
    fig.frames = [
        go.Frame(
            name=str(e),
            traces=[0, 1],
            data=[go.Heatmap(z=np.round(kg, 4)), go.Heatmap(z=np.round(mg, 4))],
        )
        for e, kg, mg in zip(epochs, k_grids, m_grids, strict=True)
    ]
    step_args = dict(
        mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0)
    )
    height = min(int((width - 100) * (k_ratio + m_ratio)) + 170, 1000)
    fig.update_layout(
        **base_layout(height, margin=dict(l=10, r=10, t=30, b=95), axes=False),
        sliders=[
            dict(
                active=len(epochs) - 1,
                currentvalue=dict(prefix="epoch ", font=dict(size=14)),
                pad=dict(t=10, l=90),
                len=0.9,
                x=0.1,
                steps=[
                    dict(method="animate", label=label[e], args=[[str(e)], step_args])
                    for e in epochs
                ],
            )
        ],
        updatemenus=[
            dict(
                type="buttons",
                direction="left",
                showactive=False,
                x=0.0,
                y=0,
                xanchor="left",
                yanchor="top",
                pad=dict(t=28),
                buttons=[
                    dict(
                        label="▶ play",
                        method="animate",
                        args=[
                            [str(e) for e in epochs],
                            dict(
                                mode="immediate",
                                frame=dict(duration=700, redraw=True),
                                transition=dict(duration=0),
                                fromcurrent=False,
                            ),
                        ],
                    )
                ],
            )
        ],
    )
    return fig
