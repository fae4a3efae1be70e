"""Feature maps: one digit (a test image, a drawing or an upload) through every layer of LeNet-5."""

import time

import streamlit as st

import services
import widget_keys
from class_digits_view import add_drawn_digit
from digit_input import digit_input, probe_controls, show_preparation
from f6_map import f6_map_view
from layer_view import layer_tabs
from layout import chart
from lenet import plots
from lenet.analysis import introspection as li
from lenet.data import perturb, to_model_input
from lenet.models import normalization_of
from pickers import LIVE, pick_model, play_on

started = time.perf_counter()
widget_keys.begin()  # first on every inspection page: see widget_keys
st.title("Inside the network: feature maps")
st.caption(
    "Give LeNet-5 a digit and follow it through every layer, from stroke detectors in C1 "
    "to the ten class scores. Pick the model in the sidebar."
)
if not services.require_data() or (picked := pick_model("fm")) is None:
    widget_keys.stop_page()
model, run_id, epoch = picked

# --------------------------------------------------- input, what the network reads, prediction
left, mid, right = st.columns([1.4, 0.8, 0.9], gap="large")  # the canvas needs 280 px
with left:
    st.subheader("1 · Choose a digit")
    digit = digit_input("fm")
    probe = probe_controls("fm") if digit is not None else None
if digit is None:
    widget_keys.stop_page()
st.session_state["inspect_digit"] = {"raw28": digit.raw28, "name": digit.name}  # for Kernels
pixels = perturb(digit.raw28, **probe) if probe else digit.raw28
x = to_model_input(pixels, normalization_of(model.variant))  # (1, 1, 32, 32)
result = li.predict_one(model, x)
prediction, confidence = result["top3"][0]

with mid:
    st.subheader("2 · Input")
    chart(plots.digit_figure(x[0, 0].numpy(), height=270, value_label="input"), key="fm_input")
    changed = " · **changed by the probe**" if probe else ""
    st.caption(f"{digit.name}, 32×32 after normalising{changed}")
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
    chart(plots.probabilities_figure(result["top3"]), key="fm_top3")
    weights = "live weights" if epoch == LIVE else f"epoch {epoch}"
    st.caption(
        f"Top-3 of the softmax over the ten scores · run {run_id} ({model.variant}), {weights}"
    )

if st.session_state.get("fm_mode") == "Draw":
    add_drawn_digit(digit.raw28, prediction)
if digit.steps:
    show_preparation(digit)

st.header("Layer by layer")
layer_tabs(
    model,
    x,
    result,
    f6_map=lambda: f6_map_view(model, run_id, epoch, x, digit.name, digit.test_index),
    digit=digit.raw28,
)
st.caption(f"Server time for this update: {1e3 * (time.perf_counter() - started):.0f} ms.")
play_on()  # last: while the epochs play, the next one after a moment
