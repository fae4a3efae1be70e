"""Our digits: the class's own handwriting, and how well a network trained on MNIST reads it."""

import numpy as np
import streamlit as st

import identity
import services
from class_digits_view import collection_grid
from layout import chart
from lenet import plots
from lenet.analysis.metrics import confusion_matrix
from lenet.analysis.predictions import predict
from lenet.data import MAX_PER_STUDENT
from lenet.models import normalization_of
from navigation import link
from pickers import default_run, model_picker, play_on, run_listing

st.title("Our digits: does it read our handwriting?")
st.caption(
    "Digits the class drew on the Feature maps page, each with its true label. MNIST's digits "
    "were written by American census staff and students in the 1990s; ours are drawn with a "
    "mouse or a finger. Does a network that reads MNIST at 99 % read us as well?"
)
if not services.require_data():
    st.stop()
me = identity.me()
store = services.class_digits()
every = store.list()
if not every:
    st.info(
        "No class digits yet. On Feature maps, choose Draw, draw a digit, pick which digit it "
        "is and press **Add to our digits**; everyone's appear here."
    )
    link("feature_maps", "Go to Feature maps")
    st.stop()

# ------------------------------------------------------------------------------ the collection
st.header(f"The collection · {len(every):,} digit{'s' if len(every) != 1 else ''}")
names = sorted({d.owner.get("name", "?") for d in every})
left, right = st.columns([2, 1])
label = left.pills("Label", list(range(10)), key="our_label", help="Only this class")
who = right.selectbox("Drawn by", ["everyone", *names], key="our_who")
shown = [
    d for d in every
    if (label is None or d.label == label) and (who == "everyone" or d.owner.get("name") == who)
]  # fmt: skip
counts = " · ".join(f"{c}: {sum(d.label == c for d in every)}" for c in range(10))
st.caption(f"Per class: {counts}. Click a digit to see it larger (and delete it, if it is yours).")

network = None
listing = run_listing()  # once for both
first = default_run([], listing=listing)
picked_model = model_picker("our", allow_live=False, default_run=first, runs=listing[1])
if picked_model is not None:
    network, run_id, epoch = picked_model


@st.cache_data(max_entries=16, show_spinner=False)
def readings(run_id: str, epoch: int, ids: tuple) -> dict:
    """The network's prediction for each class digit (ids: the collection as it is now)."""
    model = services.load_model(run_id, epoch)
    split, digits = services.class_digits().split("all", normalization_of(model.variant))
    table = predict(model, split)
    return {d.id: int(p) for d, p in zip(digits, table["prediction"], strict=True)}


ids = tuple(d.id for d in every)
predicted = readings(run_id, epoch, ids) if network is not None else None
if not shown:
    st.info("No digit matches these filters.")
else:
    event = collection_grid(shown, predicted)
    points = (event or {}).get("selection", {}).get("points", [])
    if points:
        d = shown[int(points[0]["customdata"])]
        a, b = st.columns([1, 3], vertical_alignment="center")
        with a:
            chart(plots.digit_figure(d.pixels(), height=180, value_label="pixel"), key="our_one")
        with b:
            reading = "" if predicted is None else f" The network reads **{predicted[d.id]}**."
            part = "held out (never trained on)" if d.held_out else "may be used for training"
            st.markdown(f"A **{d.label}** drawn by **{d.owner.get('name')}**; {part}.{reading}")
            mine = me is not None and (me.is_teacher or d.owner.get("id") == me.id)
            if mine and st.button("Delete this digit", icon=":material/delete:", key="our_del"):
                try:
                    store.delete(d.id, me)
                except (KeyError, PermissionError) as e:
                    st.warning(str(e))
                else:
                    st.rerun()
if me is not None and not me.is_teacher:
    n = sum(d.owner.get("id") == me.id for d in every)
    st.caption(f"You have added {n} of the {MAX_PER_STUDENT} digits one student may add.")

# ------------------------------------------------------------------------ how well it reads us
st.header("How well does it read us?")
if network is None:
    st.info("Train a model first (Train page); its reading of our digits appears here.")
    st.stop()
trained_on_ours = (services.store().get(run_id).config.get("class_share") or 0) > 0
held = [d for d in every if d.held_out]
mnist = services.predictions(run_id, epoch)["correct"].mean() * 100
ours_all = sum(predicted[d.id] == d.label for d in every) / len(every) * 100
ours_held = sum(predicted[d.id] == d.label for d in held) / len(held) * 100 if held else None
cols = st.columns(3)
quiet = dict(delta_color="off", delta_arrow="off")
cols[0].metric("MNIST test digits", f"{mnist:.2f} %", "of 10,000 read right", **quiet)
cols[1].metric(
    "Our held-out digits",
    "–" if ours_held is None else f"{ours_held:.1f} %",
    f"of {len(held)} never trained on" if held else "none held out yet (1 in 4 is)",
    **quiet,
)
trained = "includes digits it trained on" if trained_on_ours else f"of {len(every)} read right"
cols[2].metric("All our digits", f"{ours_all:.1f} %", trained, **quiet)
st.caption(
    "A quarter of our digits (chosen once per digit, by its id) is never used for training, "
    "so a run that mixed the class's digits in (Train → Class's own digits in training) is "
    "measured on digits it has not seen. "
    + (
        "This run trained on the other three quarters."
        if trained_on_ours
        else "This run trained on MNIST only, so every one of our digits is new to it."
    )  # fmt: skip
)
left, right = st.columns([1, 1.2], gap="large")
labels = [d.label for d in every]
cm = confusion_matrix(np.array(labels), np.array([predicted[d.id] for d in every]))
with left:
    chart(plots.confusion_figure(cm, title="Our digits: confusion matrix"), key="our_cm")
with right:
    wrong = [d for d in every if predicted[d.id] != d.label]
    st.subheader(f"The ones it gets wrong · {len(wrong)}")
    if wrong:
        collection_grid(wrong[:60], predicted, key="our_wrong")
    else:
        st.success("It reads every one of our digits right.")
play_on()  # last: while the epochs play, the next one after a moment
