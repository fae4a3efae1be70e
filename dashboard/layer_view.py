"""The Feature maps page's "Layer by layer" part: one tab per layer, only the open one drawn,
and the explanation of a class score (gradient saliency and occlusion)."""

from __future__ import annotations

import streamlit as st

from layout import PAGE_WIDTH, chart
from lenet import plots
from lenet.analysis import introspection as li

__all__ = ["layer_tabs"]

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
]


def layer_tabs(model, x, result: dict) -> None:
    """``result`` is ``predict_one(model, x)``: the maps come from it, nothing is recomputed."""
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
                chart(
                    plots.feature_maps_figure(acts[layer], layer, scale, width=PAGE_WIDTH),
                    key=f"fm_{layer}",
                )
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
