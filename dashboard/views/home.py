"""Home: what LeNet-5 is, its layers drawn from the model itself, the data, the latest runs."""

import streamlit as st

import services
from formatting import DURATION_HELP, run_table
from lenet import plots
from lenet.data import MnistUnavailable, ensure_mnist
from lenet.models import (
    OPTIONS,
    VARIANTS,
    Architecture,
    build_model,
    count_parameters,
    get_variant,
    summary,
    variant_name,
)
from navigation import PAGES, link

st.title("LeNet-5 Lab")
st.markdown(
    "**LeNet-5** is the convolutional network of LeCun, Bottou, Bengio and Haffner, "
    "*Gradient-Based Learning Applied to Document Recognition* (Proc. IEEE, 1998). "
    "It reads a **32×32** grey image and alternates **convolution** layers (C1, C3, C5: small "
    "5×5 filters shared across the image) with **subsampling** layers (S2, S4: 2×2 averaging), "
    "then two **fully connected** layers (F6, OUTPUT) turn the features into one score per "
    "digit. With about 60,000 trainable weights it reached **0.95 % test error** on MNIST in "
    "the paper (0.8 % with distorted training images)."
)

st.subheader("The network, layer by layer")
YOURS = "yours"
variant = (
    st.segmented_control(
        "Variant",
        [*VARIANTS, YOURS],
        default="classic",
        key="home_variant",
        format_func=lambda v: "Build your own" if v == YOURS else v.capitalize(),
    )
    or "classic"
)
if variant == YOURS:  # the five choices every variant is made of
    classic = Architecture()
    chosen = {
        name: column.selectbox(name, choices, index=choices.index(getattr(classic, name)),
                               key=f"home_{name}")
        for column, (name, choices) in zip(st.columns(len(OPTIONS)), OPTIONS.items(), strict=True)
    }  # fmt: skip
    variant = variant_name(Architecture(**chosen))
model = build_model(variant)
rows = summary(model)
train_it = f" Train it with `python -m lenet train --variant {variant}`." if "," in variant else ""
st.caption(
    f"{get_variant(variant).about} Shapes and counts below come from a forward pass of "
    f"the real model: **{count_parameters(model):,} trainable parameters**.{train_it}"
)
st.plotly_chart(
    plots.architecture_figure(rows), key="architecture", config={"displayModeBar": False}
)
with st.expander("The same as a table (output shape, parameters, connections)"):
    table = [
        {
            "layer": r["layer"],
            "what it does": r["kind"],
            "output": " × ".join(map(str, r["output_shape"])),
            "parameters": r["parameters"],
            "connections": r["connections"],
        }
        for r in rows
    ]
    st.dataframe(table, hide_index=True, width="stretch")


def fetch_mnist() -> None:
    bar = st.progress(0.0, text="Starting…")
    last = [0.0]

    def report(message: str, fraction: float | None) -> None:
        last[0] = min(max(fraction, 0.0), 1.0) if fraction is not None else last[0]
        bar.progress(last[0], text=message)

    try:
        ensure_mnist(progress=report)
    except MnistUnavailable as e:
        st.error("No source could provide verified MNIST files.")
        with st.expander("What was tried, and how to place the files by hand"):
            st.code(str(e), language=None)
        return
    st.session_state["_data_ok"] = True
    st.rerun()


data_col, runs_col = st.columns([2, 3], gap="large")
with data_col:
    st.subheader("MNIST")
    if st.session_state.get("_data_ok") is None:
        try:  # check only (no sources): hashing the files is quick, fetching is the button's job
            ensure_mnist(sources=())
            st.session_state["_data_ok"] = True
        except MnistUnavailable:
            pass
    if st.session_state.get("_data_ok"):
        st.success(
            "60,000 training and 10,000 test digits are here, SHA-256 verified.",
            icon=":material/check_circle:",
        )
    else:
        st.warning(
            "MNIST is missing: nothing can be trained or inspected until it is fetched.",
            icon=":material/download:",
        )
        if st.button("Fetch MNIST now", type="primary"):
            fetch_mnist()

with runs_col:
    st.subheader("Latest runs")
    infos = services.store().list()[:5]
    if not infos:
        st.info("No runs yet: start one on the Train page.")
    else:
        latest = run_table(infos)[["run", "status", "variant", "epochs", "best test %", "duration"]]
        st.dataframe(
            latest,
            hide_index=True,
            placeholder="–",
            width="stretch",
            column_config={
                "best test %": st.column_config.NumberColumn(format="%.2f"),
                "duration": st.column_config.TextColumn(help=DURATION_HELP),
            },
        )

st.subheader("Explore")
others = [name for name in PAGES if name != "home"]
for row in range(0, len(others), 3):
    for col, name in zip(st.columns(3), others[row : row + 3], strict=False):
        with col.container(border=True):
            link(name, f"**{PAGES[name].title}**")
            st.caption(PAGES[name].blurb)
