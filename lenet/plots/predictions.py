"""Figures about a whole test split's predictions: confusion matrix, per-class accuracy, confidence.

The confusion matrix is a scatter of square markers, not a heatmap: a click on a marker is a
point selection that ``st.plotly_chart(on_select=...)`` reports with the cell's
``customdata = (true, predicted)``, which heatmap clicks are not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch

from lenet.plots.style import COLORS, base_layout

__all__ = ["confusion_figure", "per_class_figure", "confidence_figure", "learned_figure"]

CELL_PX = 40  # a confusion cell: room for "1134" in 12 px type
_EMPTY = (248, 250, 252)
_GREEN = (21, 128, 61)
_RED = (185, 28, 28)


def _mix(base: tuple[int, int, int], top: tuple[int, int, int], t: np.ndarray) -> list[str]:
    """Colours between ``base`` (t=0) and ``top`` (t=1), as CSS rgb() strings."""
    t = np.clip(t, 0.0, 1.0)[:, None]
    rgb = (np.array(base) * (1 - t) + np.array(top) * t).round().astype(int)
    return [f"rgb({r},{g},{b})" for r, g, b in rgb]


def confusion_figure(
    cm: torch.Tensor | np.ndarray,
    normalize: bool = False,
    title: str | None = "Confusion matrix",
    chosen: tuple[int, int] | None = None,
) -> go.Figure:
    """Rows = true class, columns = predicted; one clickable square per cell.

    Right answers (the diagonal) are green, mistakes red, each on its own scale: with 10,000
    test digits the diagonal holds ~1,000 per cell and the mistakes a handful, so one shared
    scale would leave every mistake white. ``normalize`` shows each row in percent of that class;
    ``chosen`` = (true, predicted) is drawn selected (blue), as after a click on it.
    """
    counts = np.asarray(cm, dtype=np.int64)
    k = counts.shape[0]
    totals = counts.sum(axis=1, keepdims=True)
    pct = 100.0 * counts / np.maximum(totals, 1)
    value = pct if normalize else counts.astype(float)
    true, pred = np.divmod(np.arange(k * k), k)  # row-major: cell i is (i // k, i % k)
    v, c = value.ravel(), counts.ravel()
    diag = true == pred
    off_peak = max(v[~diag].max(initial=0.0), 1e-9)
    # square root: the difference between 0 and 3 mistakes should show, not only 30 vs 3
    colors = np.where(
        diag,
        _mix(_EMPTY, _GREEN, 0.25 + 0.75 * v / max(v[diag].max(initial=0), 1e-9)),
        _mix(_EMPTY, _RED, np.sqrt(v / off_peak)),
    ).astype(object)
    colors[c == 0] = "rgb({},{},{})".format(*_EMPTY)
    dark = np.where(diag, True, np.sqrt(v / off_peak) > 0.55) & (c > 0)
    text = [
        ("" if n == 0 else (f"{x:.1f}" if normalize else f"{n}")) for x, n in zip(v, c, strict=True)
    ]
    hover = [
        f"true {t}, predicted {p}: {n} digit{'' if n == 1 else 's'} ({x:.1f}% of the {t}s)"
        + ("<br>click to see them" if n else "")
        for t, p, n, x in zip(true, pred, c, pct.ravel(), strict=True)
    ]
    fig = go.Figure(
        go.Scatter(
            x=pred,
            y=true,
            customdata=np.stack([true, pred], axis=1).tolist(),
            mode="markers+text",
            marker=dict(
                symbol="square",
                size=CELL_PX - 2,
                color=colors.tolist(),
                line=dict(width=1, color="rgb(226,232,240)"),
            ),
            text=text,
            textfont=dict(size=12, color=np.where(dark, "white", COLORS["text"]).tolist()),
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
            showlegend=False,
            # the picked cell turns blue and the rest stay readable (Plotly would fade them)
            selectedpoints=None if chosen is None else [chosen[0] * k + chosen[1]],
            selected=dict(marker=dict(color=COLORS["train"]), textfont=dict(color="white")),
            unselected=dict(marker=dict(opacity=1.0)),
        )
    )
    margin = dict(l=62, r=10, t=40 if title else 10, b=58)
    fig.update_layout(
        **base_layout(k * CELL_PX + margin["t"] + margin["b"], title, margin),
        width=k * CELL_PX + margin["l"] + margin["r"],
        dragmode=False,
    )
    axis = dict(
        tickmode="array",
        tickvals=list(range(k)),
        showgrid=False,
        zeroline=False,
        fixedrange=True,
        tickfont=dict(size=14),
    )
    fig.update_xaxes(title_text="predicted class", range=[-0.5, k - 0.5], **axis)
    fig.update_yaxes(title_text="true class", range=[k - 0.5, -0.5], **axis)  # 0 on top, as printed
    return fig


def per_class_figure(
    per_class: torch.Tensor | np.ndarray, counts: np.ndarray | None = None, height: int = 260
) -> go.Figure:
    """Accuracy (%) of each true class as bars; the y axis starts near the worst class."""
    acc = np.asarray(per_class, dtype=float)
    k = len(acc)
    counts = np.zeros(k, int) if counts is None else np.asarray(counts)
    worst = np.nanmin(acc) if np.isfinite(acc).any() else 0.0
    # the hardest class stands out
    colors = [COLORS["wrong"] if a == worst else COLORS["train"] for a in acc]
    fig = go.Figure(
        go.Bar(
            x=[str(c) for c in range(k)],
            y=acc,
            marker_color=colors,
            customdata=counts,
            text=[f"{a:.1f}" for a in acc],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="class %{x}: %{y:.2f}% right of %{customdata} digits<extra></extra>",
        )
    )
    fig.update_layout(**base_layout(height, "Accuracy per class (%)", axes="y"))
    fig.update_xaxes(title_text="true class", type="category", fixedrange=True)
    # zoomed in near 100 % when every class is good; from 0 otherwise, so bar lengths stay honest
    fig.update_yaxes(range=[0, 108] if worst < 80 else [min(worst, 99.0) - 3, 101], fixedrange=True)
    return fig


def confidence_figure(table: pd.DataFrame, height: int = 260) -> go.Figure:
    """How sure the network was: the confidence of right and of wrong answers, each in % of its
    group."""
    fig = go.Figure()
    for name, mask, color in (
        ("correct", table["correct"], COLORS["correct"]),
        ("misclassified", ~table["correct"], COLORS["wrong"]),
    ):
        n = int(mask.sum())
        fig.add_histogram(
            x=100 * table.loc[mask, "confidence"],
            name=f"{name} ({n:,})",
            xbins=dict(start=0, end=100.001, size=5),
            histnorm="percent",
            marker_color=color,
            opacity=0.65,
            hovertemplate=f"{name}: %{{y:.1f}}% of them at %{{x}}% confidence<extra></extra>",
        )
    fig.update_layout(
        **base_layout(height, "Confidence of right and wrong answers", axes="y"), barmode="overlay"
    )
    # inside the plot, at the left: confidences pile up on the right
    fig.update_layout(legend=dict(x=0.02, y=0.97, xanchor="left", yanchor="top"))
    fig.update_xaxes(
        title_text="confidence in the predicted class (%)", range=[0, 100], fixedrange=True
    )
    fig.update_yaxes(title_text="% of the group", fixedrange=True)
    return fig


def learned_figure(learned: dict[int, int], forgotten: dict[int, int], height: int = 260):
    """How many test digits each epoch read right for the first time (bars up) and how many it
    read wrong after an earlier epoch had them right (bars down)."""
    epochs = list(learned)
    fig = go.Figure()
    fig.add_bar(
        x=epochs,
        y=[learned[e] for e in epochs],
        name="learned (right for the first time)",
        marker_color=COLORS["correct"],
        text=[f"{learned[e]:,}" for e in epochs],
        textposition="outside",
        cliponaxis=False,
        hovertemplate="epoch %{x}: %{y:,} digits right for the first time<extra></extra>",
    )
    fig.add_bar(
        x=epochs,
        y=[-forgotten[e] for e in epochs],
        customdata=[forgotten[e] for e in epochs],
        name="forgotten (wrong again)",
        marker_color=COLORS["wrong"],
        text=[f"{forgotten[e]:,}" if forgotten[e] else "" for e in epochs],
        textposition="outside",
        cliponaxis=False,
        hovertemplate="epoch %{x}: %{customdata:,} digits wrong after being right<extra></extra>",
    )
    fig.update_layout(**base_layout(height, axes="y"), barmode="relative")
    fig.update_xaxes(title_text="epoch (0: the untrained network's guesses)", dtick=1,
                     fixedrange=True)  # fmt: skip
    fig.update_yaxes(title_text="digits", fixedrange=True)
    return fig
