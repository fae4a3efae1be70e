"""Digit grids: many MNIST digits enlarged with crisp pixels in ONE Plotly figure.

The digits are composed server-side into a single RGB array (nearest-neighbour: every pixel
becomes a ``scale`` x ``scale`` block, with ``np.repeat``), encoded as PNG (lossless: JPEG would
smear the strokes) and shown as one ``go.Image``. A layer of invisible square markers on top
carries each digit's test-set index as ``customdata``, so a click on a digit selects it
(``st.plotly_chart(on_select=...)``) and hovering tells its numbers. Captions are annotations,
which a selection never dims.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch

from lenet.analysis.predictions import filter_predictions, predict
from lenet.data import denormalize
from lenet.plots.style import COLORS, png_data_uri

__all__ = [
    "GridLayout",
    "to_uint8",
    "compose_grid",
    "png_data_uri",
    "digit_grid_figure",
    "show_batch_images",
    "prediction_grid",
    "visualize_test_predictions",
]

CORRECT_RGB = (22, 163, 74)  # COLORS["correct"]
WRONG_RGB = (220, 38, 38)  # COLORS["wrong"]
PLAIN_RGB = (100, 116, 139)  # COLORS["muted"]: a digit without a prediction
BACKGROUND_RGB = (255, 255, 255)


@dataclass(frozen=True)
class GridLayout:
    """Pixel geometry of a grid: each cell is a bordered tile plus a caption strip below it."""

    cols: int
    rows: int
    scale: int = 2  # 28 px digits become 56 px: readable from the back of a room, still crisp
    border: int = 3  # thick enough to read green/red on a projector
    gap: int = 24  # room for a caption as wide as "8 → 2 · 100%" (12 px overlapped)
    caption: int = 18  # room under each tile for "7 → 2 · 64%"
    digit: int = 28

    @property
    def tile(self) -> int:
        return self.digit * self.scale + 2 * self.border

    @property
    def cell_w(self) -> int:
        return self.tile + self.gap

    @property
    def cell_h(self) -> int:
        return self.tile + self.caption

    @property
    def width(self) -> int:
        return self.cols * self.cell_w

    @property
    def height(self) -> int:
        return self.rows * self.cell_h

    def centre(self, i: int) -> tuple[float, float]:
        """Pixel centre (x, y) of tile ``i``, y downwards as in the image."""
        r, c = divmod(i, self.cols)
        return c * self.cell_w + self.gap / 2 + self.tile / 2, r * self.cell_h + self.tile / 2


def to_uint8(images, normalization: str | None = "mnist") -> np.ndarray:
    """Digits as uint8 (N, H, W): uint8 stays as is; floats are de-normalised to [0, 1] first.

    Accepts (N, H, W) or (N, 1, H, W) tensors or arrays: a DataLoader batch, ``Split.images``
    (normalised) or ``Split.raw`` (uint8). ``normalization=None`` means floats already in [0, 1].
    """
    x = images.detach().cpu().numpy() if torch.is_tensor(images) else np.asarray(images)
    if x.ndim == 4:
        x = x[:, 0]  # (N, 1, H, W) -> (N, H, W)
    if x.ndim == 2:
        x = x[None]
    if x.dtype == np.uint8:
        return x
    if normalization is not None:
        x = denormalize(x.astype(np.float32), normalization)
    return (np.clip(x, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def compose_grid(
    images: np.ndarray,
    layout: GridLayout,
    colors: np.ndarray | Sequence[tuple[int, int, int]] | None = None,
) -> np.ndarray:
    """One RGB uint8 image (layout.height, layout.width, 3) holding every digit of ``images``.

    ``images`` is uint8 (N, d, d) with d = ``layout.digit``; ``colors`` (N, 3) is each tile's
    border colour. Vectorised: the whole grid is a few array copies, about a millisecond.
    """
    n = len(images)
    L = layout
    if n > L.cols * L.rows:
        raise ValueError(f"{n} digits do not fit a {L.cols}x{L.rows} grid")
    if n and images.shape[1:] != (L.digit, L.digit):
        raise ValueError(
            f"digits of shape {images.shape[1:]} in a grid made for {L.digit}x{L.digit}"
        )
    colors = (
        np.full((n, 3), PLAIN_RGB, np.uint8) if colors is None else np.asarray(colors, np.uint8)
    )
    big = images.repeat(L.scale, axis=1).repeat(L.scale, axis=2)  # (N, 28s, 28s) nearest-neighbour
    cells = np.empty((L.rows * L.cols, L.cell_h, L.cell_w, 3), np.uint8)
    cells[:] = BACKGROUND_RGB
    x0 = L.gap // 2
    tiles = cells[:n, : L.tile, x0 : x0 + L.tile]  # a view: writing it writes the cells
    tiles[:] = colors[:, None, None, :]
    b, d = L.border, L.digit * L.scale
    tiles[:, b : b + d, b : b + d] = big[..., None]  # grey -> RGB by broadcasting
    grid = cells.reshape(L.rows, L.cols, L.cell_h, L.cell_w, 3).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(grid.reshape(L.height, L.width, 3))


def digit_grid_figure(
    images: np.ndarray,
    captions: Sequence[str],
    colors: np.ndarray | None = None,
    customdata: Sequence[int] | None = None,
    hover: Sequence[str] | None = None,
    caption_colors: Sequence[str] | None = None,
    cols: int = 10,
    scale: int = 2,
    title: str | None = None,
) -> go.Figure:
    """The grid as a Plotly figure: the composed PNG plus one clickable marker per digit.

    The figure has a fixed pixel size (1 image pixel = 1 screen pixel at width="content"), so
    the strokes stay exactly ``scale`` screen pixels wide.
    """
    n = len(images)
    layout = GridLayout(
        cols=max(1, min(cols, n)),
        rows=max(1, -(-n // max(cols, 1))),
        scale=scale,
        digit=images.shape[1] if n else 28,
    )
    rgb = compose_grid(images, layout, colors)
    ids = list(range(n)) if customdata is None else [int(i) for i in customdata]
    xy = np.array([layout.centre(i) for i in range(n)]).reshape(-1, 2)
    top = 34 if title else 4
    fig = go.Figure(go.Image(source=png_data_uri(rgb), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"))
    fig.add_scatter(
        x=xy[:, 0].tolist(),
        y=xy[:, 1].tolist(),
        customdata=ids,
        mode="markers",
        showlegend=False,
        marker=dict(symbol="square", size=layout.tile, color="rgba(0,0,0,0)"),
        # a picked digit gets a blue wash; the others stay untouched (no dimming)
        selected=dict(marker=dict(color="rgba(43,108,176,0.45)")),
        unselected=dict(marker=dict(opacity=1)),
        text=list(hover) if hover is not None else list(captions),
        hovertemplate="%{text}<extra></extra>",
    )
    caption_colors = caption_colors or [COLORS["text"]] * n
    fig.update_layout(
        width=layout.width,
        height=layout.height + top + 4,
        margin=dict(l=0, r=0, t=top, b=4),
        title=dict(text=title, x=0.0, font=dict(size=15)) if title else None,
        plot_bgcolor="white",
        paper_bgcolor="white",
        dragmode=False,
        hovermode="closest",
        annotations=[
            dict(
                x=x,
                y=y + layout.tile / 2 + 1,
                text=c,
                showarrow=False,
                yanchor="top",
                font=dict(size=11, color=cc),
            )
            for (x, y), c, cc in zip(xy, captions, caption_colors, strict=True)
        ],
    )
    fig.update_xaxes(visible=False, range=[0, layout.width], fixedrange=True)
    fig.update_yaxes(visible=False, range=[layout.height, 0], fixedrange=True)
    return fig


def show_batch_images(
    images,
    labels,
    preds=None,
    probs=None,
    cols: int = 8,
    scale: int = 2,
    indices: Sequence[int] | None = None,
    normalization: str | None = "mnist",
    title: str | None = None,
) -> go.Figure:
    """A batch of digits with their labels, and predictions when given (the seed's helper).

    ``images`` is a DataLoader batch (N, 1, 32, 32) normalised, or uint8 (N, 28, 28). With
    ``preds`` each tile gets a green (right) or red (wrong) border and a "label → pred" caption;
    ``probs`` adds the confidence. ``indices`` become the markers' customdata (default 0..N-1).
    """
    imgs = to_uint8(images, normalization)
    labels = [int(v) for v in (labels.tolist() if hasattr(labels, "tolist") else labels)]
    if preds is None:
        captions, colors = [str(v) for v in labels], None
        caption_colors = [COLORS["text"]] * len(labels)
    else:
        preds = [int(v) for v in (preds.tolist() if hasattr(preds, "tolist") else preds)]
        ok = [t == p for t, p in zip(labels, preds, strict=True)]
        conf = (
            [f" · {100 * float(q):.0f}%" for q in probs]
            if probs is not None
            else [""] * len(labels)
        )
        captions = [f"{t} → {p}{c}" for t, p, c in zip(labels, preds, conf, strict=True)]
        colors = np.array([CORRECT_RGB if o else WRONG_RGB for o in ok], np.uint8)
        caption_colors = [COLORS["text"] if o else COLORS["wrong"] for o in ok]
    ids = list(indices) if indices is not None else list(range(len(labels)))
    hover = [f"#{i}: {c}" for i, c in zip(ids, captions, strict=True)]
    return digit_grid_figure(imgs, captions, colors, ids, hover, caption_colors, cols, scale, title)


def prediction_grid(
    rows: pd.DataFrame,
    raw: np.ndarray | torch.Tensor,
    cols: int = 10,
    scale: int = 2,
    title: str | None = None,
) -> go.Figure:
    """Grid of the digits in ``rows`` (a slice of ``lenet.analysis.predictions.predict``'s table).

    ``raw`` is the split's uint8 (N, 28, 28) images, indexed by the table's ``index`` column.
    """
    idx = rows["index"].to_numpy()
    raw = raw.numpy() if torch.is_tensor(raw) else np.asarray(raw)
    fig = show_batch_images(
        raw[idx],
        rows["label"].to_numpy(),
        rows["prediction"].to_numpy(),
        rows["confidence"].to_numpy(),
        cols=cols,
        scale=scale,
        indices=idx,
        normalization=None,
        title=title,
    )
    # the hover adds what the caption has no room for: the loss and the runner-up
    fig.data[1].text = [
        f"#{r.index}: true {r.label}, predicted {r.prediction} ({100 * r.confidence:.1f}%)"
        f"<br>then {r.top2} ({100 * r.p2:.1f}%) · loss {r.loss:.3f}"
        for r in rows.itertuples(index=False)
    ]
    return fig


def visualize_test_predictions(
    model,
    split,
    n: int = 40,
    misclassified_only: bool = True,
    sort: str = "loss",
    cols: int = 10,
    scale: int = 2,
) -> go.Figure:
    """The seed's view of a model's test predictions: ``n`` digits, mistakes only by default.

    ``split`` is a ``lenet.data.Split`` (normalised images for the model, raw ones to show);
    ``sort`` as in ``lenet.analysis.predictions.filter_predictions`` (default: the hardest first).
    """
    table = predict(model, split)
    rows = filter_predictions(
        table, "misclassified" if misclassified_only else "all", sort=sort
    ).head(n)
    what = "misclassified" if misclassified_only else "test"
    title = f"{len(rows)} {what} digits (true → predicted · confidence)"
    if rows.empty:
        fig = go.Figure()
        fig.add_annotation(
            text="No misclassified digits: every test image is right.", showarrow=False
        )
        fig.update_layout(
            height=120, xaxis_visible=False, yaxis_visible=False, plot_bgcolor="white"
        )
        return fig
    return prediction_grid(rows, split.raw, cols=cols, scale=scale, title=title)
