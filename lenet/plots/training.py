"""Training figures: loss and accuracy curves (live or stored) and the architecture diagram."""
from __future__ import annotations

import plotly.graph_objects as go

from lenet.plots.style import COLORS, base_layout

__all__ = ["smooth", "loss_figure", "accuracy_figure", "compare_figure", "architecture_figure"]


def smooth(values: list[float], weight: float = 0.8) -> list[float]:
    """Exponential moving average with bias correction (what TensorBoard's slider does)."""
    out, avg = [], 0.0
    for i, v in enumerate(values, start=1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight ** i))
    return out


def _step_to_epoch(steps: list[int], steps_per_epoch: int) -> list[float]:
    return [s / steps_per_epoch for s in steps]


def _lr_marks(fig: go.Figure, lr_changes: list[dict], steps_per_epoch: int) -> None:
    for ch in lr_changes:
        x = ch["step"] / steps_per_epoch
        fig.add_vline(x=x, line_dash="dot", line_color=COLORS["muted"],
                      annotation_text=f"lr → {ch['lr']:g}", annotation_position="top left",
                      annotation_font_size=11)


def loss_figure(batches: list[dict], epochs: list[dict], steps_per_epoch: int,
                lr_changes: list[dict] = (), height: int = 320) -> go.Figure:
    """Batch loss (raw, faint, and smoothed) and per-epoch train/test loss against epochs."""
    fig = go.Figure()
    if batches:
        x = _step_to_epoch([b["step"] for b in batches], steps_per_epoch)
        y = [b["loss"] for b in batches]
        fig.add_scatter(x=x, y=y, mode="lines", name="batch loss", line=dict(color=COLORS["train"], width=1),
                        opacity=0.25, hovertemplate="epoch %{x:.2f}<br>loss %{y:.4f}<extra></extra>")
        fig.add_scatter(x=x, y=smooth(y), mode="lines", name="batch loss (smoothed)",
                        line=dict(color=COLORS["train"], width=2.5),
                        hovertemplate="epoch %{x:.2f}<br>smoothed %{y:.4f}<extra></extra>")
    if epochs:
        fig.add_scatter(x=[e["epoch"] for e in epochs], y=[e["test_loss"] for e in epochs],
                        mode="lines+markers", name="test loss", line=dict(color=COLORS["test"], width=2.5),
                        marker=dict(size=8), hovertemplate="epoch %{x}<br>test loss %{y:.4f}<extra></extra>")
    _lr_marks(fig, list(lr_changes), steps_per_epoch)
    fig.update_layout(**base_layout(height, "Loss (cross-entropy)"))
    fig.update_xaxes(title_text="epoch", rangemode="tozero")
    fig.update_yaxes(rangemode="tozero")
    return fig


def accuracy_figure(batches: list[dict], epochs: list[dict], steps_per_epoch: int,
                    lr_changes: list[dict] = (), height: int = 320) -> go.Figure:
    """Train accuracy (smoothed per batch) and test top-1 / top-3 per epoch, in percent."""
    fig = go.Figure()
    if batches:
        x = _step_to_epoch([b["step"] for b in batches], steps_per_epoch)
        fig.add_scatter(x=x, y=smooth([b["acc"] for b in batches]), mode="lines",
                        name="train (smoothed)", line=dict(color=COLORS["train"], width=2.5),
                        hovertemplate="epoch %{x:.2f}<br>train %{y:.2f}%<extra></extra>")
    if epochs:
        ex = [e["epoch"] for e in epochs]
        fig.add_scatter(x=ex, y=[e["test_acc"] for e in epochs], mode="lines+markers", name="test top-1",
                        line=dict(color=COLORS["test"], width=2.5), marker=dict(size=8),
                        hovertemplate="epoch %{x}<br>test top-1 %{y:.2f}%<extra></extra>")
        fig.add_scatter(x=ex, y=[e["test_top3"] for e in epochs], mode="lines+markers", name="test top-3",
                        line=dict(color=COLORS["top3"], width=2, dash="dash"), marker=dict(size=7),
                        hovertemplate="epoch %{x}<br>test top-3 %{y:.2f}%<extra></extra>")
    _lr_marks(fig, list(lr_changes), steps_per_epoch)
    fig.update_layout(**base_layout(height, "Accuracy (%)"))
    fig.update_xaxes(title_text="epoch", rangemode="tozero")
    values = [b["acc"] for b in batches] + [e["test_acc"] for e in epochs]
    low = min(values) if values else 0
    fig.update_yaxes(range=[max(0, min(low, 90) - 2), 100.5])
    return fig


def compare_figure(series: dict[str, list[dict]], metric: str = "test_acc", height: int = 340) -> go.Figure:
    """Per-epoch ``metric`` of several runs overlaid; ``series`` maps a label to epoch events."""
    fig = go.Figure()
    for i, (label, epochs) in enumerate(series.items()):
        fig.add_scatter(x=[e["epoch"] for e in epochs], y=[e[metric] for e in epochs],
                        mode="lines+markers", name=label,
                        line=dict(color=COLORS["cycle"][i % len(COLORS["cycle"])], width=2.5))
    titles = {"test_acc": "Test accuracy (%)", "test_loss": "Test loss", "train_loss": "Train loss",
              "train_acc": "Train accuracy (%)", "test_top3": "Test top-3 (%)"}
    fig.update_layout(**base_layout(height, titles.get(metric, metric)))
    fig.update_xaxes(title_text="epoch", dtick=1)
    return fig


def architecture_figure(rows: list[dict], height: int = 260) -> go.Figure:
    """LeNet-5 as a row of boxes, one per layer, sized by output units, from ``summary()`` rows.

    Nothing is typed by hand: shapes and parameter counts are whatever the model reports.
    """
    fig = go.Figure()
    x = 0.0
    units = [max(1, int(__import__("math").prod(r["output_shape"]))) for r in rows]
    tallest = max(u ** 0.5 for u in units)
    fig.add_shape(type="rect", x0=-1.1, x1=-0.1, y0=-0.5, y1=0.5, fillcolor="#e8eef7",
                  line=dict(color=COLORS["muted"]))
    fig.add_annotation(x=-0.6, y=0, text="input<br>1×32×32", showarrow=False, font=dict(size=12))
    for r, u in zip(rows, units):
        h = 0.25 + 0.75 * (u ** 0.5) / tallest
        conv = r["layer"].startswith("C")
        color = COLORS["conv"] if conv else (COLORS["pool"] if r["layer"].startswith("S") else COLORS["fc"])
        fig.add_shape(type="rect", x0=x + 0.2, x1=x + 1.2, y0=-h, y1=h, fillcolor=color,
                      line=dict(color="white", width=2), opacity=0.9)
        shape = "×".join(str(s) for s in r["output_shape"])
        fig.add_annotation(x=x + 0.7, y=0, text=f"<b>{r['layer']}</b><br>{shape}", showarrow=False,
                           font=dict(color="white", size=12))
        fig.add_annotation(x=x + 0.7, y=-1.12, text=f"{r['kind']}<br>{r['parameters']:,} params",
                           showarrow=False, font=dict(size=10.5, color=COLORS["text"]))
        fig.add_annotation(x=x + 0.2, y=0, ax=x - 0.1, ay=0, xref="x", yref="y", axref="x", ayref="y",
                           showarrow=True, arrowhead=2, arrowsize=1, arrowcolor=COLORS["muted"], text="")
        x += 1.4
    fig.update_xaxes(visible=False, range=[-1.2, x + 0.1])
    fig.update_yaxes(visible=False, range=[-1.45, 1.1])
    fig.update_layout(height=height, margin=dict(l=5, r=5, t=5, b=5), showlegend=False,
                      plot_bgcolor="white", paper_bgcolor="white")
    return fig
