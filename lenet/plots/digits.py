"""Figures of one digit and what preprocessing makes of it: the digit itself as a crisp heatmap,
the six steps from a drawn or uploaded picture to the network's 32×32 input, each titled and
captioned, and the network's three most likely classes for it. ``enlarge`` fits pictures of any
shape into equal squares, so that they line up side by side on a page.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from lenet.plots.style import COLORS, GRAY, base_layout, png_data_uri, square_axes

__all__ = [
    "STEP_TITLES",
    "STEP_CAPTIONS",
    "enlarge",
    "digit_figure",
    "preprocessing_figure",
    "probabilities_figure",
]

STEP_TITLES = {
    "raw": "1 · your picture",
    "grayscale": "2 · ink, white on black",
    "cropped": "3 · cropped to the ink",
    "scaled_20px": "4 · longest side 20 px",
    "centred_28": "5 · centred in 28×28",
    "padded_32": "6 · what the network reads",
}
STEP_CAPTIONS = {
    "raw": "as drawn or uploaded",
    "grayscale": "dark ink is flipped to white; the background becomes 0",
    "cropped": "where on the page it was no longer matters",
    "scaled_20px": "big or small, it gets MNIST's size",
    "centred_28": "centre of mass moved to the middle, as in MNIST",
    "padded_32": "padded to 32×32, normalised like the training data",
}


def enlarge(image: np.ndarray, size: int = 150) -> np.ndarray:
    """A uint8 picture fitted into a black ``size``×``size`` square, nearest-neighbour when
    enlarged (pixels stay crisp squares), so pictures of any shape line up side by side."""
    pil = Image.fromarray(np.asarray(image, dtype=np.uint8))
    w, h = pil.size
    fit = (max(1, round(w * size / max(w, h))), max(1, round(h * size / max(w, h))))
    resample = Image.Resampling.NEAREST if max(w, h) <= size else Image.Resampling.BOX
    square = Image.new(pil.mode, (size, size))  # black, in the picture's own mode (L, RGB or RGBA)
    square.paste(pil.resize(fit, resample), ((size - fit[0]) // 2, (size - fit[1]) // 2))
    return np.asarray(square)


def digit_figure(
    image: np.ndarray, title: str | None = None, height: int = 260, value_label: str = "value"
) -> go.Figure:
    """One digit (H, W) as a crisp grey heatmap, ink white on black, values on hover."""
    image = np.asarray(image, dtype=np.float64)
    fig = go.Figure(
        go.Heatmap(
            z=image,
            colorscale=GRAY,
            showscale=False,
            hovertemplate=f"row %{{y}}, col %{{x}}<br>{value_label} %{{z:.3f}}<extra></extra>",
        )
    )
    margin = dict(l=10, r=10, t=40 if title else 10, b=10)
    fig.update_layout(**base_layout(height, title, margin, axes=False))
    square_axes(fig)
    return fig


def preprocessing_figure(
    steps: dict[str, np.ndarray], model_input: np.ndarray | None = None, height: int = 250
) -> go.Figure:
    """The six steps of ``preprocess_digit`` side by side, each titled, with a one-line caption.

    ``model_input`` (32, 32), the normalised tensor, replaces the last panel when given, so that
    hovering shows the values the network really reads.
    """
    names = [n for n in STEP_TITLES if n in steps]
    fig = make_subplots(
        rows=1,
        cols=len(names),
        subplot_titles=[STEP_TITLES[n] for n in names],
        horizontal_spacing=0.025,
    )
    for i, name in enumerate(names, start=1):
        img = steps[name]
        # a photo or the canvas: a PNG image trace, not 100k heatmap cells
        if max(img.shape[:2]) > 64:
            uri = png_data_uri(img, max_side=280, to_rgb=True, compress_level=6)
            fig.add_trace(go.Image(source=uri, hoverinfo="skip"), row=1, col=i)
        else:
            z = model_input if (name == "padded_32" and model_input is not None) else img
            fig.add_trace(
                go.Heatmap(
                    z=np.asarray(z, dtype=np.float64),
                    colorscale=GRAY,
                    showscale=False,
                    hovertemplate=f"{img.shape[0]}×{img.shape[1]}<br>row %{{y}}, col %{{x}}"
                    "<br>value %{z:.2f}<extra></extra>",
                ),
                row=1,
                col=i,
            )
        suffix = i if i > 1 else ""
        square_axes(fig, row=1, col=i, xref=f"x{suffix}")
        fig.add_annotation(
            text=f"{img.shape[1]}×{img.shape[0]}",
            showarrow=False,
            xref=f"x{suffix} domain",
            yref=f"y{suffix} domain",
            x=0.5,
            y=-0.04,
            yanchor="top",
            font=dict(size=11.5, color=COLORS["muted"]),
        )
    fig.update_annotations(font_size=12.5, selector=dict(yanchor="bottom"))  # subplot titles
    fig.update_layout(**base_layout(height, margin=dict(l=10, r=10, t=30, b=48), axes=False))
    return fig


def probabilities_figure(top3: list[tuple[int, float]], height: int = 170) -> go.Figure:
    """Top-3 classes as horizontal bars, most likely on top, percentages written on the bars."""
    classes = [str(c) for c, _ in top3][::-1]
    probs = [100 * p for _, p in top3][::-1]
    colors = [COLORS["muted"]] * (len(top3) - 1) + [COLORS["train"]]
    fig = go.Figure(
        go.Bar(
            x=probs,
            y=classes,
            orientation="h",
            marker_color=colors,
            text=[f"{p:.1f} %" for p in probs],
            textposition="auto",
            hovertemplate="class %{y}: %{x:.2f} %<extra></extra>",
        )
    )
    fig.update_layout(**base_layout(height, margin=dict(l=60, r=15, t=10, b=30), axes="x"))
    fig.update_xaxes(range=[0, 100], ticksuffix=" %", showgrid=True)
    fig.update_yaxes(type="category", tickfont=dict(size=18), title_text="class")
    return fig
