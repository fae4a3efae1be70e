"""Feature maps: one digit (a test image, a drawing or an upload) through every layer of LeNet-5."""

import time

import common
import streamlit as st
import widgets

from lenet import inspect as li
from lenet import plots
from lenet.data import to_model_input
from lenet.digits import perturb

started = time.perf_counter()
common.page("Feature maps", "🔬")
st.title("Inside the network: feature maps")
st.caption(
    "Give LeNet-5 a digit and follow it through every layer, from stroke detectors in C1 to the "
    "ten class scores. Pick the model in the sidebar."
)
common.require_data()
model, run_id, epoch = widgets.pick_model("fm")
norm = common.normalization_of(model.variant)

# ------------------------------------------------------------------ input, what the network reads, prediction
left, mid, right = st.columns([1.4, 0.8, 0.9], gap="large")  # the canvas needs 280 px
with left:
    st.subheader("1 · Choose a digit")
    digit = widgets.digit_input("fm")
    probe = widgets.probe_controls("fm") if digit is not None else None
if digit is None:
    widgets.stop()  # st.stop(), keeping the hidden input widgets honest
st.session_state["inspect_digit"] = {
    "raw28": digit.raw28,
    "name": digit.name,
}  # the Kernels page reuses it
pixels = perturb(digit.raw28, **probe) if probe else digit.raw28
x = to_model_input(pixels, norm)  # (1, 1, 32, 32)
result = li.predict_one(model, x)
acts = {name: a[0].numpy() for name, a in result["activations"].items()}
prediction, confidence = result["top3"][0]

with mid:
    st.subheader("2 · Input")
    st.plotly_chart(
        plots.digit_figure(x[0, 0].numpy(), height=270, value_label="input"),
        key="fm_input",
        config={"displayModeBar": False},
    )
    st.caption(
        f"{digit.name}, 32×32 after normalising" + (" · **changed by the probe**" if probe else "")
    )
with right:
    st.subheader("3 · Prediction")
    verdict = (
        ""
        if digit.label is None
        else ("✓ right" if prediction == digit.label else f"✗ true label {digit.label}")
    )
    st.metric(
        "The network says",
        f"{prediction}",
        f"{confidence:.1%} sure {verdict}",
        delta_color="off",
        delta_arrow="off",
    )
    st.plotly_chart(
        plots.probabilities_figure(result["top3"]), key="fm_top3", config={"displayModeBar": False}
    )
    label = "live weights" if epoch == common.LIVE else f"epoch {epoch}"
    st.caption(
        f"Top-3 of the softmax over the ten scores · run {run_id} ({model.variant}), {label}"
    )

if digit.steps:
    st.subheader("How your digit was prepared: MNIST's own recipe")
    for col, (step, image) in zip(st.columns(len(digit.steps)), digit.steps.items()):
        col.image(
            plots.enlarge(image, 150),
            width=150,
            caption=f"{plots.STEP_TITLES[step]} · "
            f"{image.shape[1]}×{image.shape[0]}: {plots.STEP_CAPTIONS[step]}",
        )
    st.caption(
        "Every MNIST digit was made this way, so a digit drawn small, large or in a corner "
        "reaches the network looking like the ones it trained on."
    )

# ------------------------------------------------------------------ every layer
st.header("Layer by layer")
LAYER_TEXT = {
    "C1": "Six 5×5 filters slide over the input; each map lights up where its pattern (an edge, a stroke "
    "direction) appears. Hover for values.",
    "S2": "Each C1 map pooled over 2×2 blocks: half the size, and a small shift of the digit barely "
    "changes it.",
    "C3": "Sixteen filters, each combining several S2 maps: detectors of larger parts such as curves, "
    "corners and line ends.",
    "S4": "Pooled again to 5×5: a coarse summary of which part appears where.",
}
scale = st.segmented_control(
    "Colour range",
    ["own", "shared"],
    default="own",
    required=True,
    key="fm_scale",
    format_func={"own": "each map its own range", "shared": "one range per layer"}.get,
    help="Own range shows every map's pattern; one shared range shows which maps respond most strongly. "
    "Red is positive, blue negative, white zero (for ReLU models: dark to bright from zero).",
)
tabs = st.tabs(
    [
        "C1 · 6×28×28",
        "S2 · 6×14×14",
        "C3 · 16×10×10",
        "S4 · 16×5×5",
        "C5 · F6 · OUTPUT",
        "Why this class?",
    ],
    key="fm_tab",
    on_change="rerun",
)  # only the open tab is computed
for tab, layer in zip(tabs, LAYER_TEXT):
    if tab.open:
        tab.caption(LAYER_TEXT[layer])
        tab.plotly_chart(
            plots.feature_maps_figure(acts[layer], layer, scale),
            key=f"fm_{layer}",
            config={"displayModeBar": False},
        )
if tabs[4].open:
    tabs[4].caption(
        "C5's 120 units each see the whole S4 block; F6 squeezes them into 84; OUTPUT turns F6 "
        "into one score per class, and softmax turns scores into probabilities."
    )
    tabs[4].plotly_chart(
        plots.vector_figure({"C5": acts["C5"], "F6": acts["F6"]}),
        key="fm_vectors",
        config={"displayModeBar": False},
    )
    tabs[4].plotly_chart(
        plots.output_figure(acts["OUTPUT"], result["probs"].numpy(), model.variant == "paper"),
        key="fm_output",
        config={"displayModeBar": False},
    )
if tabs[5].open:
    with tabs[5]:
        target = st.pills(
            "Explain the score of class",
            list(range(10)),
            default=prediction,
            required=True,
            key=f"fm_target_{prediction}",
        )
        st.plotly_chart(
            plots.saliency_figure(
                x[0, 0].numpy(),
                li.saliency(model, x, target),
                li.occlusion(model, x, target),
                target,
            ),
            key="fm_saliency",
            config={"displayModeBar": False},
        )
        st.caption(
            "Gradient: how strongly each input pixel would change the class score if it were a little "
            "brighter. Occlusion: how many percentage points the class probability drops when a 6×6 "
            "patch around a pixel is blanked (red: that part was evidence for the class)."
        )

st.caption(f"Server time for this update: {1e3 * (time.perf_counter() - started):.0f} ms.")
