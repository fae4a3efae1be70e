"""Training figures: loss and accuracy curves (live or stored), and runs compared."""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

from lenet.plots.style import COLORS, base_layout

if TYPE_CHECKING:  # annotations only: drawing curves needs no run store loaded
    from lenet.runs.curves import Curves

__all__ = [
    "smooth",
    "loss_figure",
    "accuracy_figure",
    "compare_figure",
    "compare_runs_figure",
]


def smooth(values: list[float], weight: float = 0.8) -> list[float]:
    """Exponential moving average with bias correction (what TensorBoard's slider does)."""
    out, avg = [], 0.0
    for i, v in enumerate(values, start=1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight**i))
    return out


def _step_to_epoch(steps: list[int], steps_per_epoch: int) -> list[float]:
    return [s / steps_per_epoch for s in steps]


def _line(x, y, name: str, color: str, width: float = 2.5, hover: str = "", **extra) -> dict:
    return dict(
        type="scatter",
        x=list(x),
        y=list(y),
        mode=extra.pop("mode", "lines"),
        name=name,
        line=dict(color=color, width=width, **extra.pop("line", {})),
        hovertemplate=hover + "<extra></extra>",
        **extra,
    )


def _live_figure(
    traces: list[dict],
    title: str,
    height: int,
    lr_changes,
    steps_per_epoch: int,
    x_max: float | None,
    yaxis: dict,
) -> go.Figure:
    """Assemble a curve figure from plain dicts, validated by tests rather than at each call.

    The Train page redraws two of these every second for every viewer, on the cores that
    train; plotly's per-property validation costs ~35 ms a figure, building the same
    figure unvalidated ~3 ms. ``test_plots_training`` checks each spec against validation.
    """
    layout = base_layout(height, title)
    marks = [ch["step"] / steps_per_epoch for ch in lr_changes]
    if marks:
        layout["shapes"] = [
            dict(
                type="line",
                x0=x,
                x1=x,
                y0=0,
                y1=1,
                xref="x",
                yref="paper",
                line=dict(color=COLORS["muted"], dash="dot", width=1.5),
            )
            for x in marks
        ]
        layout["annotations"] = [
            dict(
                x=x,
                y=1,
                xref="x",
                yref="paper",
                text=ch.get("label") or f"lr → {ch['lr']:g}",
                showarrow=False,
                xanchor="right",
                yanchor="top",
                font=dict(size=11, color=COLORS["muted"]),
            )
            for x, ch in zip(marks, lr_changes, strict=True)
        ]
    # A fixed epoch axis and a stable uirevision: a chart polled every second neither rescales
    # under the viewer nor forgets their zoom.
    layout["xaxis"] = dict(
        layout["xaxis"],
        title=dict(text="epoch"),
        rangemode="tozero",
        **({"range": [0, x_max * 1.02]} if x_max else {}),
    )
    layout["yaxis"] = dict(layout["yaxis"], **yaxis)
    layout["uirevision"] = "keep"
    return go.Figure(dict(data=traces, layout=layout), _validate=False)


def loss_figure(
    batches: list[dict],
    epochs: list[dict],
    steps_per_epoch: int,
    lr_changes: list[dict] = (),
    height: int = 320,
    x_max: float | None = None,
) -> go.Figure:
    """Batch loss (raw, faint, and smoothed) and per-epoch test loss against epochs.

    ``x_max`` (the planned number of epochs) fixes the x axis, for live charts; learning-rate
    changes are dotted vertical lines.
    """
    traces = []
    if batches:
        x = _step_to_epoch([b["step"] for b in batches], steps_per_epoch)
        y = [b["loss"] for b in batches]
        traces.append(
            _line(
                x,
                y,
                "batch loss",
                COLORS["train"],
                1,
                "epoch %{x:.2f}<br>loss %{y:.4f}",
                opacity=0.25,
            )
        )
        traces.append(
            _line(
                x,
                smooth(y),
                "batch loss (smoothed)",
                COLORS["train"],
                2.5,
                "epoch %{x:.2f}<br>smoothed %{y:.4f}",
            )
        )
    if epochs:
        traces.append(
            _line(
                [e["epoch"] for e in epochs],
                [e["test_loss"] for e in epochs],
                "test loss",
                COLORS["test"],
                2.5,
                "epoch %{x}<br>test loss %{y:.4f}",
                mode="lines+markers",
                marker=dict(size=8),
            )
        )
    return _live_figure(
        traces,
        "Loss (cross-entropy)",
        height,
        list(lr_changes),
        steps_per_epoch,
        x_max,
        dict(rangemode="tozero"),
    )


def accuracy_figure(
    batches: list[dict],
    epochs: list[dict],
    steps_per_epoch: int,
    lr_changes: list[dict] = (),
    height: int = 320,
    x_max: float | None = None,
) -> go.Figure:
    """Train accuracy (smoothed per batch) and test top-1 / top-3 per epoch, in percent."""
    traces = []
    if batches:
        x = _step_to_epoch([b["step"] for b in batches], steps_per_epoch)
        traces.append(
            _line(
                x,
                smooth([b["acc"] for b in batches]),
                "train (smoothed)",
                COLORS["train"],
                2.5,
                "epoch %{x:.2f}<br>train %{y:.2f}%",
            )
        )
    if epochs:
        ex = [e["epoch"] for e in epochs]
        traces.append(
            _line(
                ex,
                [e["test_acc"] for e in epochs],
                "test top-1",
                COLORS["test"],
                2.5,
                "epoch %{x}<br>test top-1 %{y:.2f}%",
                mode="lines+markers",
                marker=dict(size=8),
            )
        )
        traces.append(
            _line(
                ex,
                [e["test_top3"] for e in epochs],
                "test top-3",
                COLORS["top3"],
                2,
                "epoch %{x}<br>test top-3 %{y:.2f}%",
                mode="lines+markers",
                marker=dict(size=7),
                line=dict(dash="dash"),
            )
        )
    values = [b["acc"] for b in batches] + [e["test_acc"] for e in epochs]
    low = min(values) if values else 0
    return _live_figure(
        traces,
        "Accuracy (%)",
        height,
        list(lr_changes),
        steps_per_epoch,
        x_max,
        dict(range=[max(0, min(low, 90) - 2), 100.5]),
    )


def compare_figure(
    series: dict[str, list[dict]], metric: str = "test_acc", height: int = 340
) -> go.Figure:
    """Per-epoch ``metric`` of several runs overlaid; ``series`` maps a label to epoch events."""
    fig = go.Figure()
    for i, (label, epochs) in enumerate(series.items()):
        fig.add_scatter(
            x=[e["epoch"] for e in epochs],
            y=[e[metric] for e in epochs],
            mode="lines+markers",
            name=label,
            line=dict(color=COLORS["cycle"][i % len(COLORS["cycle"])], width=2.5),
        )
    titles = {
        "test_acc": "Test accuracy (%)",
        "test_loss": "Test loss",
        "train_loss": "Train loss",
        "train_acc": "Train accuracy (%)",
        "test_top3": "Test top-3 (%)",
    }
    fig.update_layout(**base_layout(height, titles.get(metric, metric)))
    fig.update_xaxes(title_text="epoch", dtick=1)
    return fig


def compare_runs_figure(
    runs: dict[str, Curves], metric: str = "loss", height: int = 360
) -> go.Figure:
    """Several runs overlaid, one colour each: the smoothed training curve (thin) and the test
    value per epoch (markers). ``metric`` is "loss" or "acc"; ``runs`` maps a label to
    ``lenet.runs.curves.Curves``. Batch-level curves make even one-epoch runs comparable.
    The legend names each run once (the title says which line is which) and the figure grows
    with it, so many runs do not squeeze the curves.
    """
    test_key = {"loss": "test_loss", "acc": "test_acc"}[metric]
    fig = go.Figure()
    for i, (label, c) in enumerate(runs.items()):
        color = COLORS["cycle"][i % len(COLORS["cycle"])]
        if c.batches:
            fig.add_scatter(
                x=_step_to_epoch([b["step"] for b in c.batches], c.steps_per_epoch),
                y=smooth([b[metric] for b in c.batches]),
                mode="lines",
                legendgroup=label,
                name=label,
                line=dict(color=color, width=1.8),
                hovertemplate="epoch %{x:.2f}<br>train %{y:.4g}<extra>" + label + "</extra>",
            )
        if c.epochs:
            fig.add_scatter(
                x=[e["epoch"] for e in c.epochs],
                y=[e[test_key] for e in c.epochs],
                mode="lines+markers",
                legendgroup=label,
                name=f"{label} · test",
                showlegend=not c.batches,  # the run's train line names it in the legend
                line=dict(color=color, width=2.5, dash="dot"),
                marker=dict(size=9, symbol="diamond"),
                hovertemplate="epoch %{x}<br>test %{y:.4g}<extra>" + label + "</extra>",
            )
    title = (
        "Loss: train (smoothed, solid) and test (◆)"
        if metric == "loss"
        else "Accuracy %: train (smoothed, solid) and test top-1 (◆)"
    )
    extra = 24 * max(0, len(runs) - 2)  # about a legend line per run beyond two
    layout = base_layout(height + extra, title, margin=dict(b=40 + extra))
    # Below the plot, under the axis title: run labels are long, and a side legend would
    # squeeze the curves.
    layout["legend"] = dict(
        orientation="h", x=0, y=-0.2, xanchor="left", yanchor="top", font=dict(size=11),
        yref="paper",
    )  # fmt: skip
    fig.update_layout(**layout)
    fig.update_xaxes(title_text="epoch", rangemode="tozero")
    if metric == "loss":
        fig.update_yaxes(rangemode="tozero")
    return fig
