"""The convolution, animated: one C1 kernel's 5×5 window slides over the input while its map
fills in, position by position, with each position's products and sum written out.

Every number is computed here once per digit and map (the forward pass's values, the C1 kernel
and bias, the sum before the activation at every position); the browser only plays them back
(``conv_animation.js``), so Play, Step and Reset cost the server nothing and a whole class can
press play at once.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import plotly.colors as pc
import streamlit as st
import torch

from lenet import explain_unit
from lenet.models.blocks import op_of
from lenet.models.paper import A, S
from lenet.plots.style import DIVERGING, GRAY, signed_scale

__all__ = ["conv_animation", "animation_data", "payload_bytes"]

_HERE = Path(__file__).parent
_component = st.components.v2.component(
    "lenet_conv_animation",
    css=(_HERE / "conv_animation.css").read_text(),
    js=(_HERE / "conv_animation.js").read_text(),
)
_DECIMALS = 4  # sent values: the page prints at most 3 decimals
# How the written-out sum names each activation ``explain_unit`` reports, and what it does.
_ACTIVATIONS = {
    "tanh": ("tanh", "tanh maps the sum into (−1, 1)."),
    "squash": ("squash", f"squash is the paper's scaled tanh, {A:g}·tanh({S:.4g}·a)."),
    "relu": ("ReLU", "ReLU keeps a positive sum and turns a negative one into 0."),
    "identity": ("identity", "This layer applies no activation: its value is the sum."),
}
_NOTES = dict(_ACTIVATIONS.values())  # label -> what it does


@functools.cache  # Plotly looks a named scale up among all of them: ~8 ms
def _stops(name: str) -> tuple[tuple[float, ...], ...]:
    """A Plotly colour scale as (position, r, g, b) stops: the browser colours cells exactly
    as the Plotly figures of the same values do."""
    stops = []
    for t, colour in pc.get_colorscale(name):
        rgb = pc.unlabel_rgb(pc.convert_colors_to_same_type([colour], colortype="rgb")[0][0])
        stops.append((round(float(t), 4), *(round(float(v)) for v in rgb)))
    return tuple(stops)


def _rounded(values) -> list[float]:
    return np.round(np.asarray(values, dtype=np.float64), _DECIMALS).ravel().tolist()


@torch.no_grad()
def animation_data(model, x: torch.Tensor, acts: dict, map_index: int) -> dict | None:
    """What the browser animates for C1 map ``map_index`` and the digit ``x`` (1, 1, 32, 32),
    or None when the model's C1 is not one 5×5 convolution of the input or its values are not
    finite (a diverged run).

    ``acts`` is ``{layer: array without the batch}`` of the forward pass, as the page has it:
    its C1 map gives the values and colours the map fills in with. The sum before the
    activation comes from C1's own convolution over the whole input, the kernel, the bias and
    the activation's name from ``explain_unit``. Arrays are flat, row-major, rounded to
    ``_DECIMALS``.
    """
    post = np.asarray(acts["C1"][map_index], dtype=np.float64)  # (28, 28)
    got = explain_unit(model, x, "C1", (map_index, 0, 0))
    kernel = got["kernel"].numpy()
    pre = op_of(model.C1)(x)[0, map_index].numpy().astype(np.float64)  # (28, 28)
    image = x[0, 0].numpy().astype(np.float64)  # (32, 32)
    size = kernel.shape[-1]
    fits = kernel.shape == (1, size, size) and pre.shape == post.shape
    if not fits or image.shape[0] != pre.shape[0] + size - 1:  # one 5×5 convolution, no padding
        return None
    windows = np.lib.stride_tricks.sliding_window_view(image, (size, size))  # (28, 28, 5, 5)
    products_peak = float(np.abs(windows * kernel[0]).max())
    values = (post, pre, kernel, image, np.array([got["bias"], products_peak]))
    if not all(np.isfinite(v).all() for v in values):
        return None
    map_scale, zmin, zmax = signed_scale(post)
    name = got["activation_name"]
    return {
        "map": int(map_index),
        "size": size,
        "rows": int(pre.shape[0]),
        "cols": int(pre.shape[1]),
        "input_side": int(image.shape[0]),
        "input": _rounded(image),
        "kernel": _rounded(kernel[0]),
        "bias": round(float(got["bias"]), _DECIMALS),
        "pre": _rounded(pre),
        "post": _rounded(post),
        "activation": _ACTIVATIONS.get(name, (name, ""))[0],
        "input_range": [round(float(image.min()), _DECIMALS), round(float(image.max()), _DECIMALS)],
        "input_scale": _stops(GRAY),
        "kernel_peak": round(float(np.abs(kernel).max()) or 1.0, _DECIMALS),
        "products_peak": round(products_peak or 1.0, _DECIMALS),
        "diverging": _stops(DIVERGING),
        "map_range": [round(zmin, _DECIMALS), round(zmax, _DECIMALS)],
        "map_scale": _stops(map_scale),
    }


def payload_bytes(data: dict) -> int:
    """Bytes of ``data`` as the JSON the page sends to the browser."""
    return len(json.dumps(data).encode())


def conv_animation(model, x: torch.Tensor, acts: dict, key: str = "fm_conv") -> None:
    """A toggle that opens the animation of one C1 kernel (nothing is computed while it is
    off), a chooser of the map, and the animation itself."""
    if not st.toggle(
        "▶ Watch the convolution",
        key=f"{key}_on",
        help="Play one kernel's 5×5 window sliding over the input while its map fills in.",
    ):
        return
    n_maps = int(acts["C1"].shape[0])
    map_index = st.segmented_control(
        "Kernel of map",
        list(range(n_maps)),
        default=0,
        required=True,
        key=f"{key}_map",
        format_func=lambda m: f"map {m}",
    )
    data = animation_data(model, x, acts, int(map_index))
    if data is None:
        st.info(
            "This model's C1 can't be played back: it is not one 5×5 convolution of the "
            "input, or its values are not all finite numbers (a run that diverged)."
        )
        return
    _component(data=data, key=key, width="stretch", height="content")
    size, rows = data["size"], data["rows"]
    st.caption(
        f"At every one of the {rows}×{data['cols']} positions the window's {size * size} input "
        f"values are multiplied by the kernel's weights, summed, the bias added and the "
        f"activation applied: the map's value there, as the forward pass computed it. "
        f"{_NOTES.get(data['activation'], '')} Play, Step and Reset run in your browser."
    )
