"""Paper: the 1998 LeNet-5 beside this reproduction, every number computed from the code and the runs."""

import common
import pandas as pd
import streamlit as st

from lenet import inspect as li
from lenet import paper, plots
from lenet.model import LeNet5, count_parameters, summary
from lenet.runs import CheckpointError

common.page("Paper", "📄")
st.title("The 1998 paper, side by side")
st.caption(
    "LeCun, Bottou, Bengio & Haffner, *Gradient-Based Learning Applied to Document Recognition*, "
    "Proc. IEEE 1998. The *paper* variant rebuilds its LeNet-5 piece by piece; here it is checked "
    "against the paper's own numbers."
)
chart = {"config": {"displayModeBar": False}}
infos = [i for i in common.store().list() if i.status != "corrupt"]
best, best_distorted = paper.best_runs(infos), paper.best_runs(infos, distorted=True)["paper"]

# ------------------------------------------------------------------ layer table
st.header("Layer by layer: the paper's counts and ours")
rows = pd.DataFrame(paper.compare_with_paper(summary(LeNet5("paper"))))
ours, theirs = (
    int(rows["our parameters"].sum()),
    sum(v["parameters"] for v in paper.PAPER_TABLE.values()),
)
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
    "Ours is counted from the modules (parameters) and a forward pass (connections: inputs + bias of "
    "every output unit). OUTPUT's ten RBF centres are fixed, not trained: the paper gives no count."
)

# ------------------------------------------------------------------ Table I and C3 kernels
st.header("Table I: which S2 maps feed each C3 map")
paper_runs = [i for i in infos if i.variant == "paper" and common.store().get(i.id).epochs()]
left, right = st.columns([1, 1.5], vertical_alignment="top")
with left:
    table = paper.c3_connections().numpy()
    st.plotly_chart(plots.connection_table_figure(table, height=300), key="pp_table", **chart)
    st.caption(
        f"{int(table.sum())} of 96 pairs. Maps 0–5 read 3 neighbouring maps, 6–14 read 4, map 15 "
        "reads all 6: fewer connections, and maps forced to learn different features."
    )
with right:
    if paper_runs:
        run = paper_runs[0]  # newest first
        epoch = common.store().get(run.id).epochs()[-1]
        try:
            model = common.load_model(run.id, epoch)
            st.plotly_chart(
                plots.kernels_figure(li.kernels(model, "C3").numpy(), table, width=700),
                key="pp_kernels",
                **chart,
            )
            st.caption(
                f"The C3 kernels of run {run.id} after epoch {epoch}: the same grid, "
                "unconnected pairs empty."
            )
        except CheckpointError as e:
            st.warning(f"Run {run.id} can't be read: {e}")
    else:
        st.info(
            "No paper-variant run yet — start one on Train with the 'paper-fast' preset to see "
            "its learned C3 kernels here."
        )

# ------------------------------------------------------------------ RBF bitmaps
st.header("OUTPUT: ten RBF units with hand-drawn centres")
st.plotly_chart(plots.rbf_bitmaps_figure(paper.DIGIT_BITMAPS), key="pp_rbf", **chart)
near_a, near_b, near_bits = paper.closest_bitmaps()
st.caption(
    "Each class is a fixed 7×12 bitmap of ±1 (84 values, one per F6 unit). The network answers "
    "the class whose bitmap F6's output is closest to (smallest squared distance); nothing here is "
    f"learned. Strokes are two pixels wide, so even the closest pair, {near_a} and {near_b}, differ in "
    f"{near_bits} of the 84 values: the further apart the bitmaps, the further F6 must stray to be wrong."
)

# ------------------------------------------------------------------ test error
st.header(f"Test error: the paper's {paper.PAPER_TEST_ERROR} % and ours")
finished = [i for i in infos if i.variant == "paper" and i.best_test_acc is not None]
if not finished:
    st.info("No paper-variant run yet — start one on Train with the 'paper-fast' preset.")
else:
    m1, m2, m3 = st.columns(3)
    m1.metric("Paper (20 passes, no distortions)", f"{paper.PAPER_TEST_ERROR:.2f} %")
    for col, top, ref, what in (
        (m2, best["paper"], paper.PAPER_TEST_ERROR, "Best reproduction"),
        (m3, best_distorted, paper.PAPER_TEST_ERROR_DISTORTED, "With distortions"),
    ):
        if top is not None:
            col.metric(
                f"{what} ({top.epochs_done} pass{'es' * (top.epochs_done != 1)}; paper {ref} %)",
                f"{100 - top.best_test_acc:.2f} %",
                delta=f"{100 - top.best_test_acc - ref:+.2f} points",
                delta_color="inverse",
            )
    shown = finished[:8]  # newest first; more bars stop being readable
    st.plotly_chart(
        plots.error_vs_paper_figure(
            [
                (
                    f"{i.id} · {i.config.get('recipe', '?')}{' + distortions' * bool(i.config.get('distort'))} · "
                    f"{i.epochs_done} ep",
                    100 - i.best_test_acc,
                )
                for i in shown
            ],
            paper.PAPER_TEST_ERROR,
        ),
        key="pp_error",
        **chart,
    )
    st.caption(
        "Best test error of each stored paper-variant run (newest first). The paper trained 20 passes "
        "of one pattern per update (0.8 % when each pass saw randomly distorted digits); 'paper-fast' "
        "updates once per mini-batch."
    )

# ------------------------------------------------------------------ since 1998
st.header("What changed since 1998")
params = {v: count_parameters(LeNet5(v)) for v in ("paper", "classic", "modern")}


def best_text(v: str) -> str:
    info = best[v]
    return (
        "—"
        if info is None
        else f"{info.best_test_acc:.2f} % after {info.epochs_done} epoch{'s' * (info.epochs_done != 1)}"
    )


changes = {stage: row for stage, row in paper.CHANGES.items()}
changes["parameters"] = {v: f"{n:,}" for v, n in params.items()}
changes["best stored test accuracy"] = {v: best_text(v) for v in params}
st.dataframe(
    pd.DataFrame(changes).T.rename_axis("stage").reset_index(), hide_index=True, width="stretch"
)
st.caption(
    "classic keeps LeNet-5's shape with today's training (Adam, cross-entropy); modern adds ReLU and "
    "max-pooling. Optimizer rows are the defaults; accuracies come from the runs stored here."
)
