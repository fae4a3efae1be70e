"""Predictions: all 10,000 test digits. What does LeNet-5 get wrong, and why?"""

import streamlit as st

import services
from layout import chart
from lenet import plots
from lenet.analysis.metrics import confusion_matrix, per_class_accuracy
from lenet.analysis.predictions import filter_predictions, prediction_summary, with_history
from lenet.models import normalization_of
from navigation import link
from pickers import default_run, link_notes, model_picker, play_on, run_listing
from prediction_params import SORT_LABELS, paginate, parse_prediction_params
from prediction_view import (
    clicked,
    closer_look,
    filters,
    learned_history,
    learned_section,
    mistakes,
    set_state,
    summary_cards,
)

st.title("Predictions: what does it get wrong, and why?")
st.caption(
    "Every one of the 10,000 test digits the network never trained on. Click a cell of the "
    "confusion matrix to see those digits, click a digit to look inside the network."
)
if not services.require_data():
    st.stop()

notes = []
if "pred_cell" not in st.session_state:  # a shared link: checked once, before widgets read it
    params = {k: st.query_params.get_all(k) for k in st.query_params}
    url, notes = parse_prediction_params(params)
    st.session_state.update(
        pred_cell=url.get("cell"),
        pred_sample=url.get("sample"),
        sort=url.get("sort", "index"),
        pred_url_page=url.get("page"),
        nonce=0,
    )
listing = run_listing()  # once for both
first = default_run(notes, "pred_epoch", listing)
picked = model_picker("pred", allow_live=False, default_run=first, runs=listing[1])
if picked is None:
    st.info(
        "No trained model yet: train one on the Train page, and its 10,000 test predictions "
        "appear here."
    )
    link("train", "Go to Train")
    st.stop()
model, run_id, epoch = picked
st.query_params.update(run=run_id, epoch=str(epoch))
table = services.predictions(run_id, epoch)  # all 10,000 rows, computed once per checkpoint
history = learned_history(run_id, epoch)
table = with_history(table, history)
test = services.split("test", normalization_of(model.variant))
link_notes(notes)

summary = prediction_summary(table)
cm = confusion_matrix(table["label"].to_numpy(), table["prediction"].to_numpy())
per_class = per_class_accuracy(cm).numpy()
summary_cards(summary, per_class)
mistakes(cm, per_class, table, summary)
learned_section(history)

chosen = filters(list(history.epochs))
size, cell, sort = chosen.pop("size"), chosen["cell"], chosen["sort"]
rows = filter_predictions(table, **chosen)
for name, value in (("cell", cell and f"{cell[0]}-{cell[1]}"), ("sort", sort != "index" and sort)):
    if value:
        st.query_params[name] = value
    else:  # defaults stay out of the URL
        st.query_params.pop(name, None)

st.subheader("The digits")
pages = paginate(len(rows), 1, size).pages
if (wanted := st.session_state.pop("pred_url_page", None)) and wanted > pages:  # from a link
    st.warning(f"The link asked for page {wanted}, but these filters give {pages}; showing page 1.")
grid = st.container()  # filled below, once the page chosen under it is known
number = st.pagination(pages, key="page", bind="query-params", max_visible_pages=9)
view = paginate(len(rows), number, size)
with grid:
    if rows.empty:
        st.info(
            "No digit matches these filters. Widen the confidence range, choose other classes "
            "or clear the cell filter.",
            icon=":material/filter_alt_off:",
        )
    else:
        st.caption(
            f"Digits {view.start + 1:,}–{view.stop:,} of {len(rows):,}, "
            f"{SORT_LABELS[sort]}. Border green = right, red = wrong; under each: true → "
            "predicted · confidence. Click a digit for a closer look."
        )
        figure = plots.prediction_grid(rows.iloc[view.start : view.stop], test.raw)
        chart(
            figure,
            key=f"grid_{st.session_state.nonce}",
            width="content",
            on_select=lambda: clicked("grid"),
            selection_mode="points",
        )
st.download_button(
    f"Download these {len(rows):,} rows (CSV)",
    lambda: rows.to_csv(index=False),
    mime="text/csv",
    file_name=f"predictions_{run_id}_epoch{epoch}.csv",
    icon=":material/download:",
    disabled=rows.empty,
)

st.query_params.pop("sample", None)
if (sample := st.session_state.pred_sample) is not None:  # a clicked digit, or ?sample=
    st.query_params["sample"] = str(sample)
    dialog = st.dialog(
        f"Test digit #{sample}", width="large", on_dismiss=lambda: set_state(pred_sample=None)
    )
    dialog(closer_look)(model, table, test, run_id, sample)
play_on()  # last: while the epochs play, the next one after a moment
