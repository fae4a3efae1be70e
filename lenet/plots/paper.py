"""Figures for the 1998 paper beside this reproduction: the RBF centres and the test errors."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from lenet.plots.style import COLORS, base_layout, mosaic, square_axes

__all__ = ["rbf_bitmaps_figure", "error_vs_paper_figure", "ladder_figure"]


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


def ladder_figure(steps: list[dict], paper_error: float | None = None) -> go.Figure:
    """The ladder as a horizontal waterfall, its first step on top: the first bar is that
    step's test error, each one after runs from the step before's error to its own (green when
    the change lowered it, red when it raised it); with several seeds the bars join their means
    and a dot marks every seed. ``steps``: ``lenet.runs.ladder`` rows (``step``, ``change``,
    ``mean_error``, ``test_error``, ``runs``); a bar's ``customdata`` is its row's index."""
    rows = [s for s in steps if s.get("mean_error") is not None]
    labels = [f"{s['step']}. {s['change']}" for s in rows]
    means = [s["mean_error"] for s in rows]
    bases, widths, colors = [], [], []
    for i, mean in enumerate(means):
        before = 0.0 if i == 0 else means[i - 1]
        bases.append(min(before, mean))
        widths.append(max(abs(mean - before), 1e-3))
        colors.append(COLORS["muted"] if i == 0
                      else COLORS["correct"] if mean < before else COLORS["wrong"])  # fmt: skip
    texts = [f"{m:.2f} %" if i == 0 else f"{m:.2f} % ({m - means[i - 1]:+.2f})"
             for i, m in enumerate(means)]  # fmt: skip
    seeds = [", ".join(f"{e:.2f}" for e in s["test_error"] if e is not None) for s in rows]
    fig = go.Figure(
        go.Bar(
            x=widths,
            base=bases,
            y=labels,
            orientation="h",
            marker=dict(color=colors, line=dict(color=colors, width=1)),
            text=texts,
            textposition="outside",
            cliponaxis=False,
            customdata=[[steps.index(s), seed] for s, seed in zip(rows, seeds, strict=True)],
            hovertemplate="%{y}<br>test error: %{text}<br>seeds: %{customdata[1]} %"
            "<br>click to open its run<extra></extra>",
            showlegend=False,
        )
    )
    if any(len(s["test_error"]) > 1 for s in rows):
        xs = [e for s in rows for e in s["test_error"] if e is not None]
        ys = [label for s, label in zip(rows, labels, strict=True)
              for e in s["test_error"] if e is not None]  # fmt: skip
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name="one seed",
                                 marker=dict(color=COLORS["text"], size=6, symbol="line-ns-open",
                                             line=dict(width=2)),
                                 hovertemplate="one seed: %{x:.2f} %<extra></extra>"))  # fmt: skip
    top = max(means + [paper_error or 0.0], default=1.0)
    if paper_error is not None:
        fig.add_vline(x=paper_error, line=dict(color=COLORS["text"], dash="dot", width=1))
        fig.add_annotation(x=paper_error, y=1.0, yref="paper", yanchor="bottom",
                           text=f"the paper, 20 passes: {paper_error} %", showarrow=False,
                           font=dict(size=12, color=COLORS["muted"]))  # fmt: skip
    height = 90 + 40 * len(labels)
    fig.update_layout(**base_layout(height, margin=dict(l=10, r=80, t=30, b=45), axes="x"))
    fig.update_xaxes(title_text="test error (%), lower is better", ticksuffix=" %",
                     range=[0, top * 1.22], fixedrange=True)  # fmt: skip
    fig.update_yaxes(autorange="reversed", type="category", fixedrange=True)
    return fig
