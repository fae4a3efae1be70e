"""Predictions: all 10,000 test digits. What does LeNet-5 get wrong, and why?"""

import common
import streamlit as st

from lenet import inspect as li
from lenet import plots
from lenet.metrics import (
    PAGE_SIZES,
    confusion_matrix,
    filter_predictions,
    most_confused_pairs,
    paginate,
    parse_prediction_params,
    per_class_accuracy,
    prediction_summary,
)

SORTS = {
    "index": "test-set order",
    "confidence": "least sure first",
    "loss": "hardest first (loss)",
}
common.page("Predictions", "🎯")
st.title("Predictions: what does it get wrong, and why?")
st.caption(
    "Every one of the 10,000 test digits the network never trained on. Click a cell of the confusion "
    "matrix to see those digits, click a digit to look inside the network."
)
common.require_data()

notes = []
if "pred_cell" not in st.session_state:  # a shared link: checked once, before the widgets read it
    url, notes = parse_prediction_params({k: st.query_params.get_all(k) for k in st.query_params})
    st.session_state.update(
        pred_cell=url.get("cell"),
        pred_sample=url.get("sample"),
        sort=url.get("sort", "index"),
        pred_url_page=url.get("page"),
        nonce=0,
    )
picked = common.model_picker(
    "pred", allow_live=False, default_run=common.default_run(notes, "pred_epoch")
)
if picked is None:
    st.info(
        "No trained model yet: train one on the Train page, and its 10,000 test predictions appear here."
    )
    common.page_link("1_Train.py", "Go to Train", ":material/model_training:")
    st.stop()
model, run_id, epoch = picked
st.query_params.update(run=run_id, epoch=str(epoch))
table = common.predictions(run_id, epoch)  # all 10,000 rows, computed once per checkpoint
test = common.split("test", common.normalization_of(model.variant))
if notes:
    st.warning("Part of the link was not understood and is ignored: " + "; ".join(notes) + ".")


def first_page():  # every filter change starts again at page 1
    st.session_state.page = 1


def set_state(
    **values,
):  # a cleared cell or a closed digit: fresh charts, or their old selection comes back
    st.session_state.update(values, nonce=st.session_state.nonce + (None in values.values()))


def clicked(chart: str):  # an empty selection is a re-drawn chart, not a wish to clear anything
    if points := st.session_state[f"{chart}_{st.session_state.nonce}"].selection.points:
        data = points[0]["customdata"]
        if chart == "cm":
            set_state(pred_cell=tuple(int(v) for v in data), page=1)
        else:
            set_state(pred_sample=int(data))


# ------------------------------------------------------------------------------------------ summary
summary, cm = (
    prediction_summary(table),
    confusion_matrix(table["label"].to_numpy(), table["prediction"].to_numpy()),
)
acc = per_class_accuracy(cm).numpy()
m = st.columns(4)
m[0].metric(
    "Accuracy", f"{summary['accuracy']:.2f} %", help="Top-1: the most likely class is the true one."
)
m[1].metric(
    "Top-3 accuracy",
    f"{summary['top3']:.2f} %",
    help="The true class is among the three most likely.",
)
m[2].metric(
    "Misclassified",
    f"{summary['misclassified']:,}",
    f"of {summary['images']:,} test digits",
    delta_color="off",
    delta_arrow="off",
)
m[3].metric(
    "Hardest class",
    f"{acc.argmin()}",
    f"{acc.min():.1f} % right",
    delta_color="off",
    delta_arrow="off",
)

# ------------------------------------------------------------------------------ where it goes wrong
left, right = st.columns([1.1, 1], gap="large")
with left:
    st.subheader("Where it goes wrong")
    norm = st.segmented_control(
        "Cells show", ["counts", "% of the row"], default="counts", key="cm_norm", required=True
    )
    st.plotly_chart(
        plots.confusion_figure(cm, norm != "counts", None, st.session_state.pred_cell),
        width="content",
        key=f"cm_{st.session_state.nonce}",
        on_select=lambda: clicked("cm"),
        selection_mode="points",
        config={"displayModeBar": False},
    )
    st.caption(
        "Rows: the true digit. Columns: what the network said. Green = right, red = mistakes. "
        "Click a cell to list its digits below."
    )
with right:
    st.plotly_chart(
        plots.per_class_figure(acc, cm.sum(1).numpy()), config={"displayModeBar": False}
    )
    st.plotly_chart(plots.confidence_figure(table), config={"displayModeBar": False})
    st.caption(
        f"At least 90 % sure: {summary['sure_right']:.0f} % of the right answers, "
        f"{summary['sure_wrong']:.0f} % of the mistakes. Low confidence is a warning sign."
    )
    st.markdown("**Most confused pairs** (click one)")
    with st.container(horizontal=True):
        for t, p, n in most_confused_pairs(cm, 5):
            st.button(
                f"{t} → {p} · {n}",
                key=f"pair_{t}_{p}",
                help=f"{n} true {t}s read as {p}",
                on_click=set_state,
                kwargs=dict(pred_cell=(t, p), page=1),
            )

# ------------------------------------------------------------------------------------------ filters
cell = st.session_state.pred_cell
with st.sidebar:
    st.header("Which digits")
    if cell:
        st.info(f"Confusion cell: true **{cell[0]}** read as **{cell[1]}**")
        st.button(
            "Clear cell filter",
            icon=":material/close:",
            on_click=set_state,
            kwargs=dict(pred_cell=None, page=1),
        )
    show = st.segmented_control(
        "Show",
        ["all", "correct", "misclassified"],
        default="misclassified",
        required=True,
        key="show",
        bind="query-params",
        on_change=first_page,
        disabled=bool(cell),
    )
    true = st.pills(
        "True class",
        range(10),
        selection_mode="multi",
        key="true",
        bind="query-params",
        on_change=first_page,
        disabled=bool(cell),
    )
    pred = st.pills(
        "Predicted class",
        range(10),
        selection_mode="multi",
        key="pred",
        bind="query-params",
        on_change=first_page,
        disabled=bool(cell),
    )
    conf = st.slider(
        "Confidence (%)", 0, 100, (0, 100), 5, key="conf", bind="query-params", on_change=first_page
    )
    sort = st.selectbox(
        "Order", list(SORTS), format_func=SORTS.get, key="sort", on_change=first_page
    )
    size = st.selectbox(
        "Digits per page",
        PAGE_SIZES,
        index=1,
        key="size",
        bind="query-params",
        on_change=first_page,
    )
low, high = sorted(conf)  # a link may give the range reversed, and the slider takes it so
rows = filter_predictions(
    table,
    "all" if cell else show,
    None if cell else true,
    None if cell else pred,
    (low / 100, high / 100),
    sort,
    cell,
)
for name, value in (("cell", cell and f"{cell[0]}-{cell[1]}"), ("sort", sort != "index" and sort)):
    if value:
        st.query_params[name] = value
    else:  # defaults stay out of the URL
        st.query_params.pop(name, None)

# ------------------------------------------------------------------------------------------- digits
st.subheader("The digits")
pages = paginate(len(rows), 1, size).pages
if (wanted := st.session_state.pop("pred_url_page", None)) and wanted > pages:  # from a shared link
    st.warning(f"The link asked for page {wanted}, but these filters give {pages}; showing page 1.")
grid = st.container()  # filled below, once the page chosen under it is known
view = paginate(
    len(rows), st.pagination(pages, key="page", bind="query-params", max_visible_pages=9), size
)
with grid:
    if rows.empty:
        st.info(
            "No digit matches these filters. Widen the confidence range, choose other classes "
            "or clear the cell filter.",
            icon=":material/filter_alt_off:",
        )
    else:
        st.caption(
            f"Digits {view.start + 1:,}–{view.stop:,} of {len(rows):,}, {SORTS[sort]}. Border green = "
            "right, red = wrong; under each: true → predicted · confidence. Click a digit for a closer look."
        )
        st.plotly_chart(
            plots.prediction_grid(rows.iloc[view.start : view.stop], test.raw),
            width="content",
            key=f"grid_{st.session_state.nonce}",
            on_select=lambda: clicked("grid"),
            selection_mode="points",
            config={"displayModeBar": False},
        )
st.download_button(
    f"Download these {len(rows):,} rows (CSV)",
    lambda: rows.to_csv(index=False),
    mime="text/csv",
    file_name=f"predictions_{run_id}_epoch{epoch}.csv",
    icon=":material/download:",
    disabled=rows.empty,
)


def closer_look(i: int):
    r, result = table.iloc[i], li.predict_one(model, test.images[i : i + 1])
    verdict = "right" if r.correct else f"wrong: it is a **{r.label}**"
    pic, bars = st.columns([1, 2.4], vertical_alignment="center")
    pic.image(
        plots.enlarge(test.raw[i].numpy(), 150),
        width=150,
        caption=f"true {r.label} · loss {r.loss:.3f}",
    )
    with bars:
        st.markdown(f"Predicted **{r.prediction}** with {r.confidence:.1%} confidence, {verdict}.")
        st.plotly_chart(
            plots.probabilities_figure(result["top3"], height=150), config={"displayModeBar": False}
        )
    for layer, what in (
        ("C1", "6 maps, strokes and edges"),
        ("C3", "16 maps, combinations of strokes"),
    ):
        st.markdown(f"**{layer}**: {what} (red = positive, blue = negative)")
        st.plotly_chart(
            plots.feature_maps_figure(
                result["activations"][layer][0].numpy(),
                layer,
                width=720,
                cols=6 if layer == "C1" else 8,
            ),
            config={"displayModeBar": False},
        )
    common.page_link(
        "3_Feature_maps.py",
        "Follow it through every layer",
        ":material/layers:",
        {"sample": i, "run": run_id},
    )


st.query_params.pop("sample", None)
if (sample := st.session_state.pred_sample) is not None:  # a clicked digit, or ?sample= in the link
    st.query_params["sample"] = str(sample)
    dialog = st.dialog(
        f"Test digit #{sample}", width="large", on_dismiss=lambda: set_state(pred_sample=None)
    )
    dialog(closer_look)(sample)
