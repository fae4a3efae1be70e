"""Paper: the 1998 LeNet-5 beside this reproduction, every number computed from code and runs."""

import pandas as pd
import streamlit as st

import services
from layout import chart
from lenet import plots
from lenet.analysis import introspection as li
from lenet.analysis.paper import (
    PAPER_TEST_ERROR,
    best_runs,
    compare_with_paper,
)
from lenet.models import LeNet5, summary
from lenet.models.paper import DIGIT_BITMAPS, PAPER_TABLE, c3_connections, closest_bitmaps
from lenet.runs import CheckpointError, ladder
from lenet.training import LESSONS
from paper_view import changes_table, error_section, ladder_section
from train_form import preset_duration

st.title("The 1998 paper, side by side")
st.caption(
    "LeCun, Bottou, Bengio & Haffner, *Gradient-Based Learning Applied to Document Recognition*, "
    "Proc. IEEE 1998. The *paper* variant rebuilds its LeNet-5 piece by piece; here it is checked "
    "against the paper's own numbers."
)
infos = [i for i in services.store().list() if i.status != "corrupt"]
best, best_distorted = best_runs(infos), best_runs(infos, distorted=True)["paper"]
START = (
    f"No paper-variant run yet: on the Train page choose the lesson “{LESSONS['paper-fast'][0]}” "
    f"(the paper-fast preset; it takes {preset_duration('paper-fast', infos)}) and press Start."
)

# ------------------------------------------------------------------ layer table
st.header("Layer by layer: the paper's counts and ours")
rows = pd.DataFrame(compare_with_paper(summary(LeNet5("paper"))))
ours, theirs = int(rows["our parameters"].sum()), sum(v["parameters"] for v in PAPER_TABLE.values())
c1, c2, c3 = st.columns(3)
c1.metric("Trainable parameters, paper (C1–F6)", f"{theirs:,}")
c2.metric("Trainable parameters, ours", f"{ours:,}")
c3.metric(
    "Layers that match the paper",
    f"{(rows['match'] == '✓').sum()} of {(rows['match'] != '—').sum()}",
)
for col in [c for c in rows.columns if "parameters" in c or "connections" in c]:  # "—": no number
    rows[col] = rows[col].map(lambda v: "—" if pd.isna(v) else f"{int(v):,}")
st.dataframe(rows, hide_index=True, width="stretch")
st.caption(
    "Ours is counted from the modules (parameters) and a forward pass (connections: inputs + bias "
    "of every output unit). OUTPUT's ten RBF centres are fixed, not trained: the paper gives no "
    "count."
)

# ------------------------------------------------------------------ Table I and C3 kernels
st.header("Table I: which S2 maps feed each C3 map")
paper_runs = [i for i in infos if i.variant == "paper" and services.store().get(i.id).epochs()]
left, right = st.columns([1, 1.5], vertical_alignment="top")
with left:
    table = c3_connections().numpy()
    chart(plots.connection_table_figure(table, height=300), key="pp_table")
    st.caption(
        f"{int(table.sum())} of 96 pairs. Maps 0–5 read 3 neighbouring maps, 6–14 read 4, map 15 "
        "reads all 6: fewer connections, and maps forced to learn different features."
    )
with right:
    if paper_runs:
        run = paper_runs[0]  # newest first
        epoch = services.store().get(run.id).epochs()[-1]
        try:
            model = services.load_model(run.id, epoch)
            chart(
                plots.kernels_figure(li.kernels(model, "C3").numpy(), table, width=700),
                key="pp_kernels",
            )
            st.caption(
                f"The C3 kernels of run {run.id} after epoch {epoch}: the same grid, "
                "unconnected pairs empty."
            )
        except CheckpointError as e:
            st.warning(f"Run {run.id} can't be read: {e}")
    else:
        st.info(START + " Its learned C3 kernels appear here.")

# ------------------------------------------------------------------ RBF bitmaps
st.header("OUTPUT: ten RBF units with hand-drawn centres")
chart(plots.rbf_bitmaps_figure(DIGIT_BITMAPS), key="pp_rbf")
near_a, near_b, near_bits = closest_bitmaps()
st.caption(
    "Each class is a fixed 7×12 bitmap of ±1 (84 values, one per F6 unit). The network answers "
    "the class whose bitmap F6's output is closest to (smallest squared distance); nothing here is "
    f"learned. Strokes are two pixels wide, so even the closest pair, {near_a} and {near_b}, "
    f"differ in {near_bits} of the 84 values: the further apart the bitmaps, the further F6 must "
    "stray to be wrong."
)

# ------------------------------------------------------------------ test error
st.header(f"Test error: the paper's {PAPER_TEST_ERROR} % and ours")
finished = [i for i in infos if i.variant == "paper" and i.best_test_acc is not None]
if not finished:
    st.info(START)
else:
    error_section(finished, best["paper"], best_distorted)

# ------------------------------------------------------------------ since 1998
st.header("What changed since 1998")
st.dataframe(changes_table(best), hide_index=True, width="stretch")
st.caption(
    "classic keeps LeNet-5's shape with today's training (Adam, cross-entropy); modern adds "
    "ReLU and max-pooling. Optimizer rows are the defaults; accuracies come from the runs "
    "stored here."
)

# ------------------------------------------------------------------ the ladder
st.header("1998 → today, one change at a time")
st.caption(
    "From the paper's network and recipe to the modern network in ten steps, each changing one "
    "thing and measured on the 10,000 test digits: which of 1998's choices still matter?"
)
ladder_section(ladder.latest(services.store()))
