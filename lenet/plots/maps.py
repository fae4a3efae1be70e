"""Figures for looking inside LeNet-5: digits, preprocessing steps, feature maps, kernels, saliency.

Maps and kernels are drawn as one Plotly heatmap per layer, the tiles laid out in a mosaic with
empty (NaN) gutters: one trace stays crisp at any zoom, renders fast, animates cheaply, and still
tells on hover which map, which pixel and which value is under the pointer.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lenet.plots.style import COLORS, DIVERGING, GRAY, SEQUENTIAL

__all__ = [
    "STEP_TITLES",
    "STEP_CAPTIONS",
    "mosaic",
    "enlarge",
    "digit_figure",
    "preprocessing_figure",
    "probabilities_figure",
    "feature_maps_figure",
    "vector_figure",
    "output_figure",
    "saliency_figure",
    "kernels_figure",
    "connection_table_figure",
    "evolution_figure",
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
PLOT_WIDTH = (
    1150  # px a wide-layout page gives a full-width chart; used to size heights to the content
)


def mosaic(
    tiles: np.ndarray, cols: int, gap: int = 1, row_gap: int | None = None
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Tiles (N, h, w) laid out row-major ``cols`` wide with NaN gutters; returns (grid, tile origins).

    ``row_gap`` (default ``gap``) separates rows, leaving room for a label above each tile."""
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


def _tile_index(
    n: int, h: int, w: int, cols: int, gap: int, row_gap: int | None = None
) -> np.ndarray:
    """(rows, cols, 3) customdata of a mosaic: tile number, row and column inside the tile (NaN in gutters)."""
    ids = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None], (n, h, w))
    rr = np.broadcast_to(np.arange(h, dtype=np.float32)[None, :, None], (n, h, w))
    cc = np.broadcast_to(np.arange(w, dtype=np.float32)[None, None, :], (n, h, w))
    return np.stack([mosaic(a, cols, gap, row_gap)[0] for a in (ids, rr, cc)], axis=-1)


def _square_axes(
    fig: go.Figure, row: int | None = None, col: int | None = None, xref: str = "x"
) -> None:
    """Square pixels, image orientation (row 0 on top), no ticks or grid."""
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


def _layout(
    fig: go.Figure, height: int, title: str | None = None, top: int | None = None
) -> go.Figure:
    fig.update_layout(
        height=height,
        template="plotly_white",
        margin=dict(l=10, r=10, t=top if top is not None else (40 if title else 10), b=10),
        font=dict(size=13, color=COLORS["text"]),
        title=dict(text=title, x=0.01, font=dict(size=15)) if title else None,
        plot_bgcolor="white",
        paper_bgcolor="white",
    )
    return fig


def _signed_scale(values: np.ndarray, shared_peak: float | None = None) -> tuple[str, float, float]:
    """(colorscale, zmin, zmax): diverging and centred at 0 when anything is negative, else 0..peak."""
    peak = float(np.nanmax(np.abs(values))) if shared_peak is None else shared_peak
    peak = peak if peak > 0 else 1.0
    if np.nanmin(values) < 0:
        return DIVERGING, -peak, peak
    return SEQUENTIAL, 0.0, peak


def _png_data_uri(image: np.ndarray, max_side: int = 280) -> str:
    from PIL import Image

    pil = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
    if max(pil.size) > max_side:  # the display needs no more; keeps the page light
        pil.thumbnail((max_side, max_side), Image.Resampling.BOX)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def enlarge(image: np.ndarray, size: int = 150) -> np.ndarray:
    """A uint8 picture fitted into a black ``size``×``size`` square, nearest-neighbour when enlarged
    (pixels stay crisp squares), so pictures of any shape line up side by side."""
    from PIL import Image

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
    _square_axes(fig)
    return _layout(fig, height, title)


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
        if (
            max(img.shape[:2]) > 64
        ):  # a photo or the canvas: a PNG image trace, not 100k heatmap cells
            fig.add_trace(go.Image(source=_png_data_uri(img), hoverinfo="skip"), row=1, col=i)
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
        _square_axes(fig, row=1, col=i, xref=f"x{i if i > 1 else ''}")
        suffix = i if i > 1 else ""
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
    _layout(fig, height, top=30)
    fig.update_layout(margin=dict(b=48))
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
    fig.update_xaxes(range=[0, 100], ticksuffix=" %", showgrid=True)
    fig.update_yaxes(type="category", tickfont=dict(size=18), title_text="class")
    _layout(fig, height)
    fig.update_layout(margin=dict(l=60, r=15, t=10, b=30))
    return fig


def feature_maps_figure(
    maps: np.ndarray,
    layer: str,
    scale: str = "own",
    cols: int | None = None,
    width: int = PLOT_WIDTH,
) -> go.Figure:
    """A layer's maps (C, H, W) as a grid of square heatmaps with map numbers and hover values.

    ``scale="own"``: each map stretched to its own ±max (shape of every map visible);
    ``"shared"``: one range for the layer (which maps respond strongest). Diverging colours
    centred at 0 when values go negative (tanh), sequential from 0 otherwise (ReLU).
    """
    maps = np.asarray(maps, dtype=np.float64)
    n, h, w = maps.shape
    cols = cols or (n if n <= 8 else math.ceil(n / 2))
    gap, row_gap = (
        max(1, h // 7),
        max(1, h // 7, round(h * 0.3)),
    )  # row gap: room for the map numbers
    if scale == "own":
        peak = np.abs(maps).reshape(n, -1).max(1)
        z = maps / np.where(peak > 0, peak, 1.0)[:, None, None]
        colorscale, zmin, zmax = _signed_scale(maps, 1.0)
        colorbar = dict(
            tickvals=[zmin, 0, zmax] if zmin < 0 else [0, 1],
            ticktext=["−max", "0", "+max"] if zmin < 0 else ["0", "max"],
            thickness=12,
        )
    else:
        z = maps
        colorscale, zmin, zmax = _signed_scale(maps)
        colorbar = dict(title=dict(text="value", side="top"), thickness=12)
    grid, origins = mosaic(z, cols, gap, row_gap)
    custom = np.concatenate(
        [_tile_index(n, h, w, cols, gap, row_gap), mosaic(maps, cols, gap, row_gap)[0][..., None]],
        axis=-1,
    )
    fig = go.Figure(
        go.Heatmap(
            z=grid,
            customdata=custom,
            colorscale=colorscale,
            zmin=zmin,
            zmax=zmax,
            hoverongaps=False,
            colorbar=colorbar,
            hovertemplate=f"{layer} map %{{customdata[0]}}<br>row %{{customdata[1]}}, "
            "col %{customdata[2]}<br>value %{customdata[3]:.3f}<extra></extra>",
        )
    )
    for i, (r0, c0) in enumerate(origins):
        fig.add_annotation(
            x=c0 + (w - 1) / 2,
            y=r0 - 0.5,
            text=str(i),
            showarrow=False,
            yanchor="bottom",
            font=dict(size=11, color=COLORS["muted"]),
        )
    _square_axes(fig)
    cell = (width - 90) / grid.shape[1]  # 90 px: colour bar and margins
    return _layout(fig, int(grid.shape[0] * cell) + 40, top=28)


def vector_figure(vectors: dict[str, np.ndarray], height_per: int = 115) -> go.Figure:
    """1-D layers (C5's 120 units, F6's 84) as coloured strips, one per layer, values on hover."""
    names = list(vectors)
    fig = make_subplots(
        rows=len(names),
        cols=1,
        vertical_spacing=0.8 / len(names),
        subplot_titles=[f"{n} · {len(vectors[n])} units" for n in names],
    )
    for i, name in enumerate(names, start=1):
        v = np.asarray(vectors[name], dtype=np.float64)
        colorscale, zmin, zmax = _signed_scale(v)
        fig.add_trace(
            go.Heatmap(
                z=v[None, :],
                colorscale=colorscale,
                zmin=zmin,
                zmax=zmax,
                showscale=False,
                hovertemplate=f"{name} unit %{{x}}<br>value %{{z:.3f}}<extra></extra>",
            ),
            row=i,
            col=1,
        )
        fig.update_yaxes(visible=False, row=i, col=1)
        fig.update_xaxes(showgrid=False, ticks="outside", dtick=10, row=i, col=1)
    _layout(fig, height_per * len(names) + 40, top=30)
    fig.update_layout(margin=dict(l=15, r=15, t=30, b=25))
    return fig


def output_figure(
    logits: np.ndarray, probs: np.ndarray, paper: bool = False, height: int = 260
) -> go.Figure:
    """OUTPUT's ten scores as bars (the predicted class highlighted), probabilities on hover and on top."""
    logits, probs = np.asarray(logits, dtype=np.float64), np.asarray(probs, dtype=np.float64)
    best = int(np.argmax(logits))
    colors = [COLORS["train"] if k == best else COLORS["muted"] for k in range(10)]
    fig = go.Figure(
        go.Bar(
            x=[str(k) for k in range(10)],
            y=logits,
            marker_color=colors,
            text=[f"{100 * p:.1f} %" for p in probs],
            textposition="outside",
            cliponaxis=False,
            customdata=100 * probs,
            hovertemplate="class %{x}<br>score %{y:.3f}<br>probability %{customdata:.2f} %"
            "<extra></extra>",
        )
    )
    fig.update_xaxes(type="category", title_text="class", tickfont=dict(size=15))
    fig.update_yaxes(
        title_text="−RBF distance" if paper else "score (logit)",
        zeroline=True,
        zerolinecolor=COLORS["muted"],
    )
    _layout(fig, height)
    fig.update_layout(margin=dict(l=60, r=15, t=30, b=45))
    return fig


def saliency_figure(
    model_input: np.ndarray, grad: np.ndarray, occl: np.ndarray, target: int, height: int = 330
) -> go.Figure:
    """The input beside the two explanations of class ``target``: gradient saliency and occlusion."""
    fig = make_subplots(
        rows=1,
        cols=3,
        horizontal_spacing=0.09,
        subplot_titles=[
            "input (32×32)",
            f"gradient: pixels that move the {target}-score",
            "occlusion: hiding a patch costs",
        ],
    )
    fig.add_trace(
        go.Heatmap(
            z=np.asarray(model_input, dtype=np.float64),
            colorscale=GRAY,
            showscale=False,
            hovertemplate="row %{y}, col %{x}<br>input %{z:.2f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Heatmap(
            z=np.asarray(grad, dtype=np.float64),
            colorscale="Hot",
            zmin=0,
            hovertemplate="row %{y}, col %{x}<br>|gradient| %{z:.4f}<extra></extra>",
            colorbar=dict(x=0.635, len=0.85, thickness=10),
        ),
        row=1,
        col=2,
    )
    occl = np.asarray(occl, dtype=np.float64)
    peak = float(np.abs(occl).max()) or 1.0
    fig.add_trace(
        go.Heatmap(
            z=100 * occl,
            colorscale=DIVERGING,
            zmin=-100 * peak,
            zmax=100 * peak,
            hovertemplate="row %{y}, col %{x}<br>probability drop %{z:.1f} points<extra></extra>",
            colorbar=dict(x=1.0, len=0.85, thickness=10, ticksuffix=" pt"),
        ),
        row=1,
        col=3,
    )
    for i in (1, 2, 3):
        _square_axes(fig, row=1, col=i, xref=f"x{i if i > 1 else ''}")
    fig.update_annotations(font_size=13)
    return _layout(fig, height, top=30)


def _kernel_tiles(k: np.ndarray, table: np.ndarray | None) -> tuple[np.ndarray, int, str]:
    """Kernels (out, in, 5, 5) as mosaic tiles: C1 in one row, C3 as in-maps (rows) × out-maps (cols)."""
    out_n, in_n = k.shape[:2]
    if in_n == 1:
        return k[:, 0], out_n, "C1"
    table = np.ones((out_n, in_n), bool) if table is None else np.asarray(table, bool)
    masked = np.where(table[:, :, None, None], k, np.nan)  # unconnected pairs stay empty
    tiles = masked.transpose(1, 0, 2, 3).reshape(
        in_n * out_n, *k.shape[2:]
    )  # row = input map (Table I)
    return tiles, out_n, "C3"


def kernels_figure(
    k: np.ndarray,
    table: np.ndarray | None = None,
    width: int = PLOT_WIDTH,
    peak: float | None = None,
) -> go.Figure:
    """C1 (6, 1, 5, 5) or C3 (16, 6, 5, 5) kernels, diverging colours centred at 0, one range per layer.

    C3 is laid out like the paper's Table I: a row per S2 input map, a column per C3 map; pairs
    the connection ``table`` (16, 6) leaves unconnected are drawn empty.
    """
    k = np.asarray(k, dtype=np.float64)
    tiles, cols, layer = _kernel_tiles(k, table)
    h, w = tiles.shape[1:]
    gap = 1
    grid, origins = mosaic(tiles, cols, gap)
    peak = float(np.nanmax(np.abs(k))) if peak is None else peak
    idx = _tile_index(len(tiles), h, w, cols, gap)
    if layer == "C1":
        hover = "C1 kernel %{customdata[0]}<br>row %{customdata[1]}, col %{customdata[2]}<br>weight %{z:.3f}"
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
    _square_axes(fig)
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
        margin_top, margin_left = 50, 60
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
        margin_top, margin_left = 28, 10
    cell = (width - 90 - margin_left) / grid.shape[1]
    _layout(fig, int(grid.shape[0] * cell) + margin_top + 12, top=margin_top)
    fig.update_layout(margin=dict(l=margin_left))
    return fig


def connection_table_figure(table: np.ndarray, height: int = 230) -> go.Figure:
    """The C3 connection table (16, 6) drawn like the paper's Table I: an X where an S2 map feeds a C3 map."""
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
    _layout(fig, height, top=45)
    fig.update_layout(margin=dict(l=55))
    return fig


def evolution_figure(evo: dict, layer: str = "C1", width: int = PLOT_WIDTH) -> go.Figure:
    """``lenet.inspect.evolution`` of one layer animated over epochs: kernels on top, the sample's maps below.

    A slider and a play button step through the stored epochs; colour ranges are shared over all
    epochs so that weights and responses visibly grow as the network learns.
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
    m_scale, m_min, m_max = _signed_scale(maps)
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
    _square_axes(fig, row=1, col=1, xref="x")
    _square_axes(fig, row=2, col=1, xref="x2")
    label = {e: "0 · untrained" if e == 0 else str(e) for e in epochs}
    fig.frames = [
        go.Frame(
            name=str(e),
            traces=[0, 1],
            data=[go.Heatmap(z=np.round(kg, 4)), go.Heatmap(z=np.round(mg, 4))],
        )
        for e, kg, mg in zip(epochs, k_grids, m_grids)
    ]
    step_args = dict(
        mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0)
    )
    fig.update_layout(
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
    plot_w = width - 100
    height = int(plot_w * (k_ratio + m_ratio) / 1.0) + 170
    _layout(fig, min(height, 1000), top=30)
    fig.update_layout(margin=dict(b=95))
    return fig
