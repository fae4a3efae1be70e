"""Health: are the units still learning? Saturated tanh or dead ReLU units layer by layer, while
the run trained and epoch by epoch, and how each layer's activations and weights spread out."""

import streamlit as st

import health_view
import services
from formatting import plural
from layout import PAGE_WIDTH, chart
from lenet import plots
from lenet.analysis.health import PROBE_SIZE
from lenet.runs import curves_from_events
from lenet.training.events import end_state
from navigation import link
from pickers import default_run, link_notes, model_picker, play_on, run_listing

st.title("Health: are the units still learning?")
st.caption(
    "A unit learns only while a gradient flows through it. A tanh unit pinned at the end of its "
    "range (saturated) passes almost none, a ReLU unit that is always zero (dead) passes none. "
    f"Measured on the same {PROBE_SIZE} test digits at every epoch; pick the run in the sidebar."
)
if not services.require_data():
    st.stop()
notes = []
listing = run_listing()  # once for both
first = default_run(notes, "hl_epoch", listing)
picked = model_picker("hl", allow_live=False, default_run=first, runs=listing[1])
if picked is None:
    st.info("No trained model yet: train one on the Train page, and its health appears here.")
    link("train", "Go to Train")
    st.stop()
_, run_id, epoch = picked
st.query_params.update(run=run_id, epoch=str(epoch))
link_notes(notes)
run = services.store().get(run_id)
epochs = run.epochs()
records = health_view.records(run_id, tuple(epochs))
events = run.events()
curves = curves_from_events(events, run.config.get("epochs"))
during = health_view.latest(curves.batches)

if epoch not in records:
    st.info(
        f"Epoch {epoch} has no health record, and none could be made from its checkpoint here "
        "(a damaged file, or MNIST missing): choose another epoch."
    )
    st.stop()
record = records[epoch]
shown = sorted(records)
before = records.get(max((e for e in shown if e < epoch), default=-1))
measure = next(iter(record["shares"]), None)
st.subheader(f"Epoch {epoch}" + (" (untrained)" if epoch == 0 else ""))
health_view.epoch_cards(record, before)
if flat := health_view.same_everywhere(record):
    st.warning(
        f"Every unit of {', '.join(flat)} gives the same output for every digit: nothing makes "
        "them differ, so they all get the same gradient and learn alike. Starting every weight "
        "at one value (zero, say) does this, and so does a layer that has died altogether.",
        icon=":material/content_copy:",
    )
if during and max(epochs) == 0 and end_state(events) is not None:
    st.warning(
        "This run ended before its first epoch did, so only the untrained network (epoch 0) "
        "has a record. The live measurements on the right show the units as training went: "
        f"at the end, {health_view.words(next(iter(during.values())))}.",
        icon=":material/local_fire_department:",
    )

left, right = st.columns(2)
with left:
    chart(plots.health_shares_figure(records, mark=epoch, height=320), key="hl_epochs")
    probe = record["probe"]["first"]
    st.caption(f"Epoch by epoch: {plural(len(shown), 'record')}, on the {probe} probe digits.")
with right:
    if during:  # over the steps it trained, not those planned: a run that blew up fills it
        start = records[0]["shares"] if 0 in records and not curves.resumes else None
        fig = plots.live_health_figure(
            curves.batches, curves.steps_per_epoch, curves.marks, 320, start=start
        )
        chart(fig, key="hl_during")
        st.caption("While training: measured by the trainer every two seconds, on the same "
                   "digits.")  # fmt: skip
    else:
        st.info("Not recorded while training: this run was trained before the trainer "
                "measured it live.")  # fmt: skip
if measure:
    st.markdown(health_view.explain(measure, record))

st.header("How the values spread, epoch by epoch")
activations, weights = st.tabs(["Activations", "Weights"])
with activations:
    chart(plots.health_histograms_figure(records, "activations", PAGE_WIDTH), key="hl_acts")
    st.caption(
        "Each column is one epoch, each row a range of output values, and the colour the share "
        "of the layer's outputs there (on the probe digits). Saturating tanh units gather in "
        "bright bands at the top and bottom edges, beyond the dotted lines; a ReLU layer piles "
        "up at zero. A layer whose column is one thin line gives every unit the same value."
    )
with weights:
    chart(plots.health_histograms_figure(records, "weights", PAGE_WIDTH), key="hl_weights")
    st.caption(
        "The same for each layer's weights (biases left out). Training spreads them out from "
        "their start; a learning rate far too high flings them far beyond it in a few steps."
    )
play_on()  # last: while the epochs play, the next one after a moment
