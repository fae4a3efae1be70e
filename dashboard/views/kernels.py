"""Kernels: the 5×5 weights of C1 and C3, and how they (and a sample's maps) changed in training."""

import numpy as np
import streamlit as st

import services
import widget_keys
from layout import PAGE_WIDTH, chart
from lenet import plots
from lenet.analysis import introspection as li
from lenet.data import to_model_input
from lenet.models import normalization_of
from lenet.runs import evolution as run_evolution
from pickers import pick_model, play_on

widget_keys.begin()  # first on every inspection page: see widget_keys
st.title("Kernels: what the convolutions learned")
st.caption(
    "A kernel is a 5×5 stamp of weights slid over the image: red weights reward ink under them, "
    "blue ones punish it. Pick the model in the sidebar."
)
if not services.require_data() or (picked := pick_model("kn")) is None:
    widget_keys.stop_page()
model, run_id, epoch = picked
norm = normalization_of(model.variant)
table = li.connection_table(model).numpy()

st.header("C1 · six 5×5 kernels on the input")
chart(plots.kernels_figure(li.kernels(model, "C1").numpy(), width=PAGE_WIDTH), key="kn_c1")
st.caption(
    "Each makes one C1 map. Trained kernels look like little stroke and edge detectors: a red "
    "band beside a blue band responds to an edge at that angle. One colour range for the layer."
)

st.header(f"C3 · 16 maps × 6 inputs: {int(table.sum())} kernels of 5×5")
chart(plots.kernels_figure(li.kernels(model, "C3").numpy(), table, width=PAGE_WIDTH), key="kn_c3")
left, right = st.columns([1.1, 1], vertical_alignment="center")
with left:
    chart(plots.connection_table_figure(table), key="kn_table")
with right:
    if table.all():
        st.markdown(
            f"**Dense connections** ({model.variant} variant): every C3 map reads all six S2 maps, "
            "96 kernels. The 1998 paper connected only 60 of the 96 pairs (its Table I), to save "
            "computation and to force the maps to differ; the *paper* variant does that."
        )
    else:
        reads = table.sum(1)
        st.markdown(
            f"**The paper's Table I**: {int(table.sum())} of the 96 pairs are connected; each C3 "
            f"map reads {reads.min()} to {reads.max()} of the six S2 maps, and unconnected kernels "
            "are left empty above. Breaking the symmetry makes the maps learn different features."
        )

# ------------------------------------------------------------------ evolution over the epochs
st.header("How they learned")
run = services.store().get(run_id)
epochs = run.epochs()
drawn = st.session_state.get("inspect_digit")
use_drawn = drawn is not None and st.toggle(
    f"Sample: {drawn['name']} (chosen on the Feature maps page)", value=True, key="kn_use_drawn"
)
if use_drawn:
    pixels, name = drawn["raw28"], drawn["name"]
else:
    test = services.split("test")
    index = st.columns(3)[0].number_input(
        f"Sample: test image # (0–{len(test.labels) - 1})", 0, len(test.labels) - 1, key="kn_sample"
    )
    pixels, name = test.raw[index].numpy(), f"test image #{index}"


@st.cache_data(max_entries=16, show_spinner="Loading every epoch's weights…")
def evolution(run_id: str, epochs: tuple, pixels: bytes, norm: str) -> dict:
    """Cached per run, stored epochs (new ones invalidate it), sample and normalisation."""
    x = to_model_input(np.frombuffer(pixels, np.uint8).reshape(28, 28), norm)
    return run_evolution(services.store().get(run_id), x, list(epochs))


evo = evolution(run_id, tuple(epochs), np.ascontiguousarray(pixels, np.uint8).tobytes(), norm)
if evo["skipped"]:
    st.warning(
        f"Epochs {', '.join(map(str, evo['skipped']))} could not be read (damaged checkpoint) "
        "and are left out."
    )
if not evo["epochs"]:
    st.info("This run has no readable checkpoint to replay.")
    widget_keys.stop_page()
shown = len(evo["epochs"])
st.caption(
    f"{name} · {shown} stored epoch{'s' * (shown != 1)} of run {run_id}"
    + (f" (an even selection of the {len(epochs)})" if shown < len(epochs) else "")
    + ". Drag the slider or press play: epoch 0 is the random start; watch the kernels turn from "
    "noise into strokes and the maps sharpen."
)
c1_tab, c3_tab = st.tabs(["C1 kernels and maps", "C3 kernels and maps"])
with c1_tab:
    chart(plots.evolution_figure(evo, "C1", width=PAGE_WIDTH), key="kn_evo_c1")
with c3_tab:
    chart(plots.evolution_figure(evo, "C3", width=PAGE_WIDTH), key="kn_evo_c3")
play_on()  # last: while the epochs play, the next one after a moment
