"""The Predictions page's parts: headline numbers, where the network goes wrong (a clickable
confusion matrix and its companions), the sidebar's filters and a closer look at one digit.

The page keeps its choices in ``st.session_state``: ``pred_cell`` (a confusion cell),
``pred_sample`` (the digit in the dialog) and ``nonce``, bumped when a chart must be drawn fresh
so that a cleared choice does not come back as the chart's old selection.
"""

from __future__ import annotations

import streamlit as st

import services
from layout import DIALOG_WIDTH, chart
from lenet import plots
from lenet.analysis import introspection as li
from lenet.analysis.history import NEVER
from lenet.analysis.metrics import most_confused_pairs
from navigation import link
from prediction_params import PAGE_SIZES, SORT_LABELS

__all__ = ["set_state", "first_page", "summary_cards", "mistakes", "learned_history",
           "learned_section", "filters",
           "closer_look"]  # fmt: skip


def set_state(**values) -> None:
    """Update the page's choices; clearing one (a None) redraws the charts fresh."""
    st.session_state.update(values, nonce=st.session_state.nonce + (None in values.values()))


def first_page() -> None:  # every filter change starts again at page 1
    st.session_state.page = 1


def clicked(chart_name: str) -> None:
    """A click on the confusion matrix ("cm") or the grid; an empty selection is a chart
    drawn again, not a wish to clear anything."""
    if points := st.session_state[f"{chart_name}_{st.session_state.nonce}"].selection.points:
        data = points[0]["customdata"]
        if chart_name == "cm":
            set_state(pred_cell=tuple(int(v) for v in data), page=1)
        else:
            set_state(pred_sample=int(data))


def summary_cards(summary: dict, per_class) -> None:
    m = st.columns(4)
    m[0].metric(
        "Accuracy",
        f"{summary['accuracy']:.2f} %",
        help="Top-1: the most likely class is the true one.",
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
        f"{per_class.argmin()}",
        f"{per_class.min():.1f} % right",
        delta_color="off",
        delta_arrow="off",
    )


def mistakes(cm, per_class, table, summary: dict) -> None:
    """The confusion matrix (a click filters the grid), accuracy per class, confidence, pairs."""
    left, right = st.columns([1.1, 1], gap="large")
    with left:
        st.subheader("Where it goes wrong")
        norm = st.segmented_control(
            "Cells show", ["counts", "% of the row"], default="counts", key="cm_norm", required=True
        )
        figure = plots.confusion_figure(cm, norm != "counts", None, st.session_state.pred_cell)
        chart(
            figure,
            key=f"cm_{st.session_state.nonce}",
            width="content",
            on_select=lambda: clicked("cm"),
            selection_mode="points",
        )
        st.caption(
            "Rows: the true digit. Columns: what the network said. Green = right, red = "
            "mistakes. Click a cell to list its digits below."
        )
    with right:
        chart(plots.per_class_figure(per_class, cm.sum(1).numpy()))
        chart(plots.confidence_figure(table))
        st.caption(
            f"At least 90 % sure: {summary['sure_right']:.0f} % of the right answers, "
            f"{summary['sure_wrong']:.0f} % of the mistakes. Low confidence is a warning "
            "sign."
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


def learned_history(run_id: str, epoch: int):
    """The run's learning history up to ``epoch``. Checkpoints whose predictions are not yet
    kept in the run folder are predicted first (about a second each, once per run for the
    whole class), with a progress bar."""
    run = services.store().get(run_id)
    epochs = tuple(e for e in run.epochs() if e <= epoch)
    missing = [e for e in epochs if not run.cache_path("predictions", e, ".npz").is_file()]
    if missing:
        bar = st.progress(0.0)
        for done, e in enumerate(missing):
            text = f"Predicting the test digits of epoch {e} ({done + 1} of {len(missing)}), "
            bar.progress(done / len(missing), text=text + "for when each digit was learned")
            services.predictions(run_id, e)
        bar.empty()
    return services.learning_history(run_id, epochs)


def learned_section(history) -> None:
    """How many digits each epoch learned and forgot, up to the epoch shown."""
    learned, forgotten = history.learned_per_epoch(), history.forgotten_per_epoch()
    st.subheader("When each digit was learned")
    left, right = st.columns([1.6, 1], gap="large", vertical_alignment="center")
    with left:
        chart(plots.learned_figure(learned, forgotten), key="pred_learned")
    never = int((history.learned_at == NEVER).sum())
    again = int((history.times_forgotten > 0).sum())
    last = history.epochs[-1]
    with right:
        st.markdown(
            f"Of the {len(history.labels):,} test digits, **{learned[0]:,}** were right at epoch "
            f"0, by chance (the untrained network's guesses), "
            + (
                f"**{learned[history.epochs[1]]:,}** first right after epoch {history.epochs[1]}, "
                if len(history.epochs) > 1
                else ""
            )  # fmt: skip
            + f"and **{never:,}** not yet by epoch {last}. **{again:,}** were right at one "
            "epoch and wrong at a later one: *forgotten* (the sidebar's Show can list them; "
            "Order can sort by the epoch a digit was learned)."
        )


def filters(epochs: list[int]) -> dict:
    """The sidebar's filters, bound to the address so a copied link shows the same digits;
    keyword arguments for ``filter_predictions`` plus the page size. ``epochs``: the
    checkpoints up to the one shown, for the learned-at filter."""
    cell = st.session_state.pred_cell
    if st.session_state.get("learned") not in ("any", NEVER, *epochs):
        st.session_state["learned"] = "any"  # another run or epoch: a stale choice is dropped
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
        bound = dict(bind="query-params", on_change=first_page)
        show = st.segmented_control(
            "Show",
            ["all", "correct", "misclassified", "forgotten"],
            default="misclassified",
            required=True,
            key="show",
            disabled=bool(cell),
            help="Forgotten: digits an earlier epoch read right and a later one (up to the "
            "epoch shown) read wrong again.",
            **bound,
        )
        true = st.pills(
            "True class",
            range(10),
            selection_mode="multi",
            key="true",
            disabled=bool(cell),
            **bound,
        )
        pred = st.pills(
            "Predicted class",
            range(10),
            selection_mode="multi",
            key="pred",
            disabled=bool(cell),
            **bound,
        )
        conf = st.slider("Confidence (%)", 0, 100, (0, 100), 5, key="conf", **bound)
        sort = st.selectbox(
            "Order",
            list(SORT_LABELS),
            format_func=SORT_LABELS.get,
            key="sort",
            on_change=first_page,
        )
        learned = st.selectbox(
            "Learned at epoch",
            ["any", *epochs, NEVER],
            key="learned",
            format_func=lambda e: {"any": "any epoch", NEVER: "never (yet)"}.get(e, f"epoch {e}"),
            on_change=first_page,
            disabled=bool(cell),
            help="The first epoch that read the digit right (0: the untrained network's guess).",
        )
        size = st.selectbox("Digits per page", PAGE_SIZES, index=1, key="size", **bound)
    low, high = sorted(conf)  # a link may give the range reversed, and the slider takes it so
    if cell:  # one confusion cell: the class filters don't apply
        show, true, pred, learned = "all", None, None, "any"
    return {
        "which": show,
        "true": true,
        "pred": pred,
        "confidence": (low / 100, high / 100),
        "sort": sort,
        "cell": cell,
        "learned": None if learned == "any" else learned,
        "size": size,
    }


def closer_look(model, table, test, run_id: str, i: int) -> None:
    """Test digit ``i`` enlarged, its top-3 and its C1 and C3 maps (the dialog's content)."""
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
        chart(plots.probabilities_figure(result["top3"], height=150))
    for layer, what in (
        ("C1", "6 maps, strokes and edges"),
        ("C3", "16 maps, combinations of strokes"),
    ):
        st.markdown(f"**{layer}**: {what} (red = positive, blue = negative)")
        maps = result["activations"][layer][0].numpy()
        cols = 6 if layer == "C1" else 8
        chart(plots.feature_maps_figure(maps, layer, width=DIALOG_WIDTH, cols=cols))
    link("feature_maps", "Follow it through every layer", {"sample": i, "run": run_id})
