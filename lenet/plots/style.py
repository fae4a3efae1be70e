"""The look every figure shares, so pages and notebooks look like one product: the palette, the
one layout helper, and the small helpers more than one figure module needs (square image axes,
a colour scale for signed values, tile mosaics with their hover index, PNG data URIs).
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import plotly.graph_objects as go
from PIL import Image

__all__ = [
    "COLORS",
    "DIVERGING",
    "SEQUENTIAL",
    "GRAY",
    "GRID",
    "base_layout",
    "square_axes",
    "signed_scale",
    "mosaic",
    "tile_index",
    "png_data_uri",
]

COLORS = {
    "train": "#2563eb",  # blue
    "test": "#ea580c",  # orange: distinguishable from blue for colour-blind viewers
    "top3": "#9333ea",
    "correct": "#16a34a",
    "wrong": "#dc2626",
    "muted": "#64748b",
    "text": "#1e293b",
    "conv": "#2563eb",
    "pool": "#0d9488",
    "fc": "#7c3aed",
    "cycle": [
        "#2563eb",
        "#ea580c",
        "#16a34a",
        "#9333ea",
        "#dc2626",
        "#0d9488",
        "#ca8a04",
        "#db2777",
    ],
}
DIVERGING = "RdBu_r"  # weights and activations: blue negative, red positive, white at zero
SEQUENTIAL = "Viridis"
GRAY = "gray"
GRID = "#ebf0f8"  # plotly_white's grid and zero line colour


def base_layout(
    height: int, title: str | None = None, margin: dict | None = None, axes: bool | str = True
) -> dict:
    """The layout every figure starts from: white background, legend on top, readable fonts.

    ``margin`` overrides some of the default margins (``l``, ``r``, ``t``, ``b``). ``axes`` gives
    the first x and y axes plotly_white's grid and zero line colours: True for both, False for
    neither, "x" or "y" for one. A bar chart names only its value axis, since colours set on an
    axis switch on the grid plotly leaves off along the bars.

    The white look is spelled out rather than named as ``template="plotly_white"``: assigning a
    named template deep-copies and validates all of it, ~35 ms a figure, which a chart redrawn
    every second cannot afford.
    """
    layout = dict(
        height=height,
        title=dict(text=title, x=0.01, font=dict(size=15)) if title else None,
        margin=dict(l=55, r=15, t=45 if title else 15, b=45) | (margin or {}),
        legend=dict(
            orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0, font=dict(size=12)
        ),
        font=dict(size=13, color=COLORS["text"]),
        hovermode="closest",
        plot_bgcolor="white",
        paper_bgcolor="white",
    )
    letters = "xy" if axes is True else axes or ""
    for letter in letters:
        layout[f"{letter}axis"] = dict(gridcolor=GRID, zerolinecolor=GRID)
    return layout


def square_axes(
    fig: go.Figure, row: int | None = None, col: int | None = None, xref: str = "x"
) -> None:
    """Square pixels, image orientation (row 0 on top), no ticks or grid.

    ``row``/``col`` pick one subplot, whose x axis ``xref`` ("x2", ...) the y axis is scaled to.
    """
    fig.update_xaxes(visible=False, constrain="domain", row=row, col=col)
    fig.update_yaxes(
        visible=False,
        autorange="reversed",
        scaleanchor=xref,
        scaleratio=1,
        constrain="domain",
        row=row,
        col=col,
    )


def signed_scale(values: np.ndarray, shared_peak: float | None = None) -> tuple[str, float, float]:
    """(colorscale, zmin, zmax) for ``values``: diverging and centred at 0 when anything is
    negative (tanh), sequential from 0 otherwise (ReLU).

    The range is ±``shared_peak`` when given (one range for several figures), else ±max|value|.
    """
    peak = float(np.nanmax(np.abs(values))) if shared_peak is None else shared_peak
    peak = peak if peak > 0 else 1.0
    if np.nanmin(values) < 0:
        return DIVERGING, -peak, peak
    return SEQUENTIAL, 0.0, peak


def mosaic(
    tiles: np.ndarray, cols: int, gap: int = 1, row_gap: int | None = None
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Tiles (N, h, w) laid out row-major ``cols`` wide with NaN gutters ``gap`` wide.

    Returns (grid, the (row, col) origin of each tile). ``row_gap`` (default ``gap``) separates
    rows, leaving room for a label above each tile. One heatmap of the grid stays crisp at any
    zoom and renders faster than a subplot per tile.
    """
    tiles = np.asarray(tiles, dtype=np.float32)  # float32: half the bytes sent to the browser
    n, h, w = tiles.shape
    rows, row_gap = math.ceil(n / cols), gap if row_gap is None else row_gap
    grid = np.full(
        (rows * (h + row_gap) - row_gap, cols * (w + gap) - gap), np.nan, dtype=np.float32
    )
    origins = []
    for i in range(n):
        r0, c0 = (i // cols) * (h + row_gap), (i % cols) * (w + gap)
        grid[r0 : r0 + h, c0 : c0 + w] = tiles[i]
        origins.append((r0, c0))
    return grid, origins


def tile_index(
    n: int, h: int, w: int, cols: int, gap: int, row_gap: int | None = None
) -> np.ndarray:
    """The hover ``customdata`` (rows, cols, 3) of ``mosaic``'s grid of ``n`` (h, w) tiles.

    Per grid pixel: tile number, row and column inside the tile; NaN in the gutters.
    """
    ids = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None], (n, h, w))
    rr = np.broadcast_to(np.arange(h, dtype=np.float32)[None, :, None], (n, h, w))
    cc = np.broadcast_to(np.arange(w, dtype=np.float32)[None, None, :], (n, h, w))
    return np.stack([mosaic(a, cols, gap, row_gap)[0] for a in (ids, rr, cc)], axis=-1)


def png_data_uri(
    image: np.ndarray, max_side: int | None = None, to_rgb: bool = False, compress_level: int = 1
) -> str:
    """A uint8 picture (H, W) or (H, W, 3|4) as a PNG ``data:`` URI for a ``go.Image`` trace.

    PNG because it is lossless (JPEG would smear digit strokes). ``max_side`` shrinks a larger
    picture to fit (box filter, aspect kept): a display needs no more, and the page stays light.
    ``to_rgb`` converts to RGB first (an RGBA picture loses its alpha). ``compress_level`` is
    zlib's, 0-9: the default 1 is fast, for pictures that change with every interaction.
    """
    pil = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if to_rgb:
        pil = pil.convert("RGB")
    if max_side is not None and max(pil.size) > max_side:
        pil.thumbnail((max_side, max_side), Image.Resampling.BOX)
    buf = io.BytesIO()
    pil.save(buf, format="PNG", compress_level=compress_level)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
