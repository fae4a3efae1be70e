"""The Feature maps page's "Layer by layer" part: one tab per layer, only the open one drawn,
the explanation of a class score (gradient saliency and occlusion), and one unit's arithmetic
written out."""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

import widget_keys
from conv_animation import conv_animation
from layout import PAGE_WIDTH, chart
from lenet import explain_unit, plots
from lenet.analysis import introspection as li

__all__ = ["layer_tabs", "unit_panel", "sum_text"]

LAYER_TEXT = {
    "C1": "Six 5×5 filters slide over the input; each map lights up where its pattern (an edge, "
    "a stroke direction) appears. Hover for values.",
    "S2": "Each C1 map pooled over 2×2 blocks: half the size, and a small shift of the digit "
    "barely changes it.",
    "C3": "Sixteen filters, each combining several S2 maps: detectors of larger parts such as "
    "curves, corners and line ends.",
    "S4": "Pooled again to 5×5: a coarse summary of which part appears where.",
}
TABS = [
    "C1 · 6×28×28",
    "S2 · 6×14×14",
    "C3 · 16×10×10",
    "S4 · 16×5×5",
    "C5 · F6 · OUTPUT",
    "Why this class?",
    "F6 map",
]


def layer_tabs(model, x, result: dict, f6_map=None, digit: np.ndarray | None = None) -> None:
    """``result`` is ``predict_one(model, x)``: the maps come from it, nothing is recomputed.
    ``f6_map()`` draws the F6 map tab (it needs the run and the digit, which the page knows).
    ``digit``: the digit as chosen, before any probe changed it; a new one starts the unit
    panel at its strongest units again."""
    acts = {name: a[0].numpy() for name, a in result["activations"].items()}
    scale = st.segmented_control(
        "Colour range",
        ["own", "shared"],
        default="own",
        required=True,
        key="fm_scale",
        format_func={"own": "each map its own range", "shared": "one range per layer"}.get,
        help="Own range shows every map's pattern; one shared range shows which maps respond "
        "most strongly. Red is positive, blue negative, white zero (for ReLU models: dark to "
        "bright from zero).",
    )
    tabs = st.tabs(TABS, key="fm_tab", on_change="rerun")  # only the open tab is computed
    for tab, layer in zip(tabs, LAYER_TEXT, strict=False):
        if tab.open:
            tab.caption(LAYER_TEXT[layer])
            with tab:
                figure = plots.feature_maps_figure(
                    acts[layer], layer, scale, width=PAGE_WIDTH, clickable=True
                )
                event = chart(figure, key=f"fm_{layer}", on_select="rerun",
                              selection_mode="points")  # fmt: skip
                _clicked(layer, event)
                if layer == "C1":
                    conv_animation(model, x, acts)
    if tabs[4].open:
        with tabs[4]:
            st.caption(
                "C5's 120 units each see the whole S4 block; F6 squeezes them into 84; "
                "OUTPUT turns F6 into one score per class, and softmax turns scores into "
                "probabilities."
            )
            chart(plots.vector_figure({"C5": acts["C5"], "F6": acts["F6"]}), key="fm_vectors")
            probs = result["probs"].numpy()
            distances = model.spec.distance_output
            chart(plots.output_figure(acts["OUTPUT"], probs, distances), key="fm_output")
    if tabs[5].open:
        with tabs[5]:
            _why(model, x, result["prediction"])
    if tabs[6].open and f6_map is not None:
        with tabs[6]:
            f6_map()
    unit_panel(model, x, result, digit)


def _clicked(layer: str, event) -> None:
    """A unit clicked on a map becomes the unit the panel below explains (once per click: the
    panel's own inputs choose again after it)."""
    points = (event or {}).get("selection", {}).get("points", [])
    if not points or "customdata" not in points[0]:
        return
    data = points[0]["customdata"]  # (map, row, col, value); a mapping of "0".. in some builds
    values = [data[k] for k in sorted(data, key=int)] if isinstance(data, dict) else list(data)
    unit = tuple(int(v) for v in values[:3])
    if st.session_state.get("_fm_clicked") == (layer, unit):
        return
    st.session_state["_fm_clicked"] = (layer, unit)
    st.session_state["fm_unit_layer"] = layer
    for i, value in enumerate(unit):
        st.session_state[f"fm_unit_{i}_{layer}"] = value
    widget_keys.renew("fm", "unit")  # the panel's widgets start from the clicked unit


def _strongest(act: np.ndarray) -> tuple[int, ...]:
    """The unit with the largest |value|: a good first one to look at."""
    return tuple(int(i) for i in np.unravel_index(np.abs(act).argmax(), act.shape))


def unit_panel(model, x, result: dict, digit: np.ndarray | None = None) -> None:
    """How one unit got its value: the numbers it read, its weights, the sum written out and
    the activation function with this unit on it (``explain_unit``).

    The chosen layer and unit are kept under plain keys (``fm_unit_layer``,
    ``fm_unit_<i>_<layer>``), which a click on a map sets too; the widgets are a
    ``widget_keys`` group seeded from them, so they show the unit the panel explains also
    after a run that hid them. A new ``digit`` starts again at each layer's strongest unit."""
    st.subheader("How did this unit get its value?")
    st.caption(
        "Click a unit on a map above, or pick one here (it starts at the layer's strongest): "
        "the numbers it reads, outlined on the digit, its weights, their products, and the "
        "sum with its bias through the activation: the very value in the map."
    )
    seen = hashlib.sha1(np.asarray(x if digit is None else digit).tobytes()).hexdigest()
    if st.session_state.get("_fm_unit_digit") != seen:  # another digit: its strongest units
        st.session_state["_fm_unit_digit"] = seen
        for key in [k for k in st.session_state if k.startswith("fm_unit_") and k[8:9].isdigit()]:
            del st.session_state[key]
        widget_keys.renew("fm", "unit")
    prefix = widget_keys.group("fm", "unit", "layer")
    # Widgets start from the plain keys through the session state (a widget given both a
    # default and a state set by code warns on the page).
    if st.session_state.get("fm_unit_layer") not in li.LAYERS:  # new, or left as None
        st.session_state["fm_unit_layer"] = "C1"
    st.session_state.setdefault(f"{prefix}_layer", st.session_state["fm_unit_layer"])
    layer = st.segmented_control("Layer", list(li.LAYERS), required=True, key=f"{prefix}_layer")
    st.session_state["fm_unit_layer"] = layer
    act = result["activations"][layer][0].numpy()
    strongest = _strongest(act)
    if act.ndim == 3:
        labels = (f"{layer} map", "row", "col")
    else:
        labels = (f"{layer} {'class' if layer == 'OUTPUT' else 'unit'}",)
    index = []
    for i, (col, label) in enumerate(zip(st.columns(len(labels)), labels, strict=True)):
        plain = f"fm_unit_{i}_{layer}"
        if not isinstance(st.session_state.get(plain), int):
            st.session_state[plain] = strongest[i]
        key = f"{prefix}_{i}_{layer}"
        st.session_state.setdefault(key, st.session_state[plain])
        st.session_state[plain] = int(col.number_input(label, 0, act.shape[i] - 1, key=key))
        index.append(st.session_state[plain])
    index = tuple(index) if act.ndim == 3 else index[0]
    got = explain_unit(model, x, layer, index)
    left, right = st.columns([2.2, 1], gap="medium")
    with left:
        chart(plots.unit_figure(x[0, 0].numpy(), got), key="fm_unit_figure")
    with right:
        curve = plots.activation_figure(
            got["activation_name"], got["pre_activation"], got["from_arithmetic"]
        )
        chart(curve, key="fm_unit_activation")
    st.markdown(sum_text(got))


def sum_text(got: dict) -> str:
    """The unit's arithmetic in one line of numbers, as the page writes it out."""
    value, pre, name = got["activation"], got["pre_activation"], got["activation_name"]
    apply = "" if name == "identity" else f" → **{name}**({pre:.3f})"
    if "distances" in got:
        return (
            f"Σ over F6's 84 units of (value − bitmap)² = **{pre:.3f}**, the distance to "
            f"class {got['index'][0]}'s bitmap; the score is its negative, **{value:.3f}**."
        )
    if "window" in got:
        pooled = {"mean": "the mean", "max": "the largest", "sum": "the sum"}[got["pool"]]
        coef = (f" × coefficient {got['coefficient']:.3f} + bias {got['bias']:.3f} = {pre:.3f}"
                if got["coefficient"] is not None else "")  # fmt: skip
        first = f"{pooled.capitalize()} of the 4 values = {got['pooled']:.3f}"
        return f"{first}{coef}{apply} = **{value:.3f}**"
    summed, layer = pre - got["bias"], got["layer"]
    source = {"C1": "input", "C3": "S2", "C5": "S4", "F6": "C5", "OUTPUT": "F6"}[layer]
    if "maps" in got:
        n = len(got["maps"])
        reads = f"{n} {source} map{'s' if n > 1 else ''} × 5×5, times the kernel"
        where = "the value in the map"
    else:
        reads = f"{got['terms']} {source} values × their weights"
        where = "the score" if layer == "OUTPUT" else "the unit's value"
    return (
        f"Σ of the {got['terms']} products ({reads}) = {summed:.3f}, + bias {got['bias']:.3f} "
        f"= {pre:.3f}{apply} = **{value:.3f}**, {where}."
    )


def _why(model, x, prediction: int) -> None:
    target = st.pills(
        "Explain the score of class",
        list(range(10)),
        default=prediction,
        required=True,
        key=f"fm_target_{prediction}",
    )
    grad, occl = li.saliency(model, x, target), li.occlusion(model, x, target)
    chart(plots.saliency_figure(x[0, 0].numpy(), grad, occl, target), key="fm_saliency")
    st.caption(
        "Gradient: how strongly each input pixel would change the class score if it were "
        "a little brighter. Occlusion: how many percentage points the class probability "
        "drops when a 6×6 patch around a pixel is blanked (red: that part was evidence "
        "for the class)."
    )
