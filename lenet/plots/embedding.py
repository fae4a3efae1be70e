"""The F6 map drawn: a Plotly figure for notebooks, and the compact payload (points, labels and
a sheet of every digit's picture) that the dashboard's canvas map draws in the browser, where a
hover shows the digit itself without asking the server."""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from lenet.plots.style import COLORS, base_layout

__all__ = ["CLASS_COLORS", "SHEET_COLUMNS", "digit_sheet_png", "map_payload", "embedding_figure"]

# Ten classes need ten colours that stay apart, also for most colour-blind viewers: Tableau's
# ten, the usual choice for MNIST maps.
CLASS_COLORS = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#79706e",
]  # fmt: skip
SHEET_COLUMNS = 100
_SCALE = 65535


def digit_sheet_png(raw: np.ndarray, columns: int = SHEET_COLUMNS, levels: int = 16) -> bytes:
    """All ``raw`` digits (N, 28, 28) uint8 as one greyscale PNG, ``columns`` tiles wide, in
    order (digit ``i`` at row ``i // columns``, column ``i % columns``). ``levels`` grey levels
    (16 look the same at thumbnail size and halve the file)."""
    raw = np.asarray(raw, np.uint8)
    n, h, w = raw.shape
    rows = -(-n // columns)
    sheet = np.zeros((rows * columns, h, w), np.uint8)
    sheet[:n] = raw
    sheet = sheet.reshape(rows, columns, h, w).transpose(0, 2, 1, 3).reshape(rows * h, columns * w)
    sheet = (sheet.astype(np.int32) * levels // 256) * 255 // (levels - 1)
    buffer = io.BytesIO()
    Image.fromarray(sheet.astype(np.uint8)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def map_payload(
    points: np.ndarray,
    labels: np.ndarray,
    predicted: np.ndarray | None = None,
    marker: np.ndarray | None = None,
) -> dict:
    """What a browser needs to draw the map: the points scaled into [0, 1]² as little-endian
    uint16 pairs (base64), each digit's label in the low and its prediction in the high four
    bits of a byte (base64; 15 = unknown), the bounds to undo the scaling, and ``marker``
    (a new digit's point) in the same [0, 1] scale, possibly outside it."""
    points = np.asarray(points, np.float64)
    lo, hi = points.min(0), points.max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = np.round((points - lo) / span * _SCALE).astype("<u2")
    labels = np.asarray(labels, np.uint8) & 15
    pred = np.full_like(labels, 15) if predicted is None else np.asarray(predicted, np.uint8) & 15
    out = {
        "n": len(points),
        "points": _b64(scaled),
        "classes": _b64(labels | (pred << 4)),
        "bounds": [float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])],
        "marker": None,
    }
    if marker is not None:
        out["marker"] = [float(v) for v in (np.asarray(marker, np.float64) - lo) / span]
    return out


def embedding_figure(
    points: np.ndarray,
    labels: np.ndarray,
    title: str | None = None,
    marker: np.ndarray | None = None,
    height: int = 560,
) -> go.Figure:
    """The map as a Plotly figure (WebGL): one trace per class, so the legend toggles classes;
    ``marker`` adds a new digit as a black star."""
    fig = go.Figure()
    labels = np.asarray(labels)
    for c in range(10):
        chosen = np.flatnonzero(labels == c)
        fig.add_trace(
            go.Scattergl(
                x=points[chosen, 0],
                y=points[chosen, 1],
                mode="markers",
                name=str(c),
                marker={"size": 4, "color": CLASS_COLORS[c], "opacity": 0.75},
                customdata=chosen,
                hovertemplate=f"test image #%{{customdata}} · class {c}<extra></extra>",
            )
        )
    if marker is not None:
        fig.add_trace(
            go.Scatter(
                x=[marker[0]],
                y=[marker[1]],
                mode="markers",
                name="your digit",
                marker={"symbol": "star", "size": 18, "color": COLORS["text"]},
            )
        )
    layout = base_layout(height, title, axes=False)
    fig.update_layout(layout, legend={"title": {"text": "class"}, "itemsizing": "constant"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    return fig
