"""LeNet-5's architecture drawn like the paper's Figure 2, from the model's own summary."""

from __future__ import annotations

import itertools

import plotly.graph_objects as go

from lenet.plots.style import COLORS

__all__ = ["architecture_figure"]


def _kind_color(name: str) -> str:
    """A layer's colour by its kind, read from its paper name: C convolution, S subsampling,
    anything else fully connected."""
    return {"C": COLORS["conv"], "S": COLORS["pool"]}.get(name[0], COLORS["fc"])


def architecture_figure(
    rows: list[dict], height: int = 270, input_shape: tuple[int, ...] = (1, 32, 32)
) -> go.Figure:
    """LeNet-5 drawn like the paper's Figure 2, from ``summary()`` rows.

    A layer of feature maps is a stack of squares (side proportional to the map's size, at most
    eight drawn, the count in the label); a fully connected layer is a bar whose height is
    proportional to its units. Nothing is typed by hand: shapes, kinds and parameter counts are
    whatever the model reports. Equal axis scales keep squares square at any width.
    """
    gap, side32, depth = 2.0, 1.5, 0.07  # column spacing, side of a 32x32 map, stack offset
    columns = [
        {"layer": "INPUT", "kind": "image", "output_shape": tuple(input_shape), "parameters": None}
    ]
    columns += list(rows)
    fc_max = max((r["output_shape"][0] for r in columns if len(r["output_shape"]) == 1), default=1)
    fig = go.Figure()
    edges = []  # (left, right) x extent of each column's drawing, for the arrows
    for i, r in enumerate(columns):
        cx, shape = i * gap, r["output_shape"]
        color = "#94a3b8" if r["layer"] == "INPUT" else _kind_color(r["layer"])
        if len(shape) == 3:  # feature maps: a stack, back to front
            n, s = min(shape[0], 8), side32 * shape[1] / 32
            span = (n - 1) * depth
            x0, y0 = cx - (s + span) / 2, -(s + span) / 2
            for k in range(n):
                fig.add_shape(
                    type="rect",
                    x0=x0 + k * depth,
                    x1=x0 + k * depth + s,
                    y0=y0 + span - k * depth,
                    y1=y0 + span - k * depth + s,
                    fillcolor=color,
                    opacity=0.95,
                    line=dict(color="white", width=1),
                )
            edges.append((x0, x0 + s + span))
            label = f"{shape[0]}@{shape[1]}×{shape[2]}"
        else:  # units: a bar
            h, w = max(side32 * shape[0] / fc_max, 0.15), 0.28
            fig.add_shape(
                type="rect",
                x0=cx - w / 2,
                x1=cx + w / 2,
                y0=-h / 2,
                y1=h / 2,
                fillcolor=color,
                opacity=0.95,
                line=dict(color="white", width=1),
            )
            edges.append((cx - w / 2, cx + w / 2))
            label = f"{shape[0]} units"
        fig.add_annotation(
            x=cx,
            y=1.2,
            text=f"<b>{r['layer']}</b>",
            showarrow=False,
            font=dict(size=14, color=color),
        )
        fig.add_annotation(
            x=cx, y=-1.05, text=label, showarrow=False, font=dict(size=12, color=COLORS["text"])
        )
        params = "" if r["parameters"] is None else f"<br>{r['parameters']:,} params"
        kind = r["kind"].replace(" (", "<br>(").replace(" + ", "<br>+ ")  # narrow columns: wrap
        fig.add_annotation(
            x=cx,
            y=-1.3,
            text=f"{kind}{params}",
            showarrow=False,
            yanchor="top",
            font=dict(size=11, color=COLORS["muted"]),
        )
    for (_, right), (left, _) in itertools.pairwise(edges):
        fig.add_annotation(
            x=left - 0.08,
            y=0,
            ax=right + 0.08,
            ay=0,
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=2,
            arrowsize=1.1,
            arrowwidth=1.5,
            arrowcolor=COLORS["muted"],
            text="",
        )
    fig.update_xaxes(visible=False, range=[-1.1, (len(columns) - 1) * gap + 1.0])
    fig.update_yaxes(visible=False, range=[-2.3, 1.4], scaleanchor="x", scaleratio=1)
    fig.update_layout(
        height=height,
        margin=dict(l=0, r=0, t=0, b=0),
        showlegend=False,
        plot_bgcolor="white",
        paper_bgcolor="white",
        dragmode=False,
    )
    return fig
