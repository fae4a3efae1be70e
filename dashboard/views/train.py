"""Train: pick a lesson or set the knobs, start, and watch LeNet-5 learn; steer your own runs,
watch anyone's, follow the teacher's."""

from dataclasses import replace

import streamlit as st

import identity
import services
from board_view import redraw_when
from lenet.serving import ClusterUnavailable, QueueFull
from lenet.training import LESSONS, PRESETS, ConfigError, lesson_of
from lenet.training import events as ev
from run_view import live_view, queued_view, show_refusal, still_view, training_now_live, watch_run
from train_form import FORM_FIELDS, choose_run, describe
from train_sidebar import lesson_form

st.title("Train LeNet-5")
if not services.require_data():
    st.stop()
me = identity.me()
if me is None:
    st.info("Joining the class…", icon=":material/hourglass_top:")
    st.stop()
jm = services.job_manager()
settings = jm.settings
may_start = me.is_teacher or not settings.watch_only
# Above the long form, where it is seen: it decides what the page shows.
follow = not me.is_teacher and st.sidebar.toggle(
    "Follow the teacher's run",
    value=True,
    key="follow",
    help="With no run of your own, show the run the teacher shows the class.",
)
lesson, start = lesson_form(may_start, "The teacher has set the class to watch only.")

# The main column has the same slots whatever it shows (no run, or a queued, live or ended
# one): notes, who else trains, the run's heading, and the run itself, which is always a
# fragment. A fragment's timer can still fire once after the page was redrawn for another
# state; its update then lands in a slot of the same kind, where the next redraw replaces it,
# instead of at a place the new page doesn't have (which blanked the whole page).
notes = st.container()
if start:
    cfg = replace(PRESETS[lesson], **{f: st.session_state[f"cfg_{f}"] for f in FORM_FIELDS})
    try:
        watch_run(jm.start(cfg, me, lesson=lesson))
    except (QueueFull, PermissionError, ClusterUnavailable) as e:
        notes.warning(str(e), icon=":material/hourglass_top:")
    except ConfigError as e:
        notes.error(f"This configuration can't train: {e}")
with notes:
    show_refusal()

# Which run to show (train_form.choose_run): the address, this browser's last run, one's own,
# or the teacher's spotlight for a student who follows it.
board = jm.board()
mine = [j["id"] for j in board["jobs"] if j["owner"]["id"] == me.id and j["state"] in ev.UNFINISHED]
linked, last = st.query_params.get("run"), st.session_state.get("run_id")
for candidate in (linked, last):
    if candidate and not jm.has(candidate):
        try:
            services.store().get(candidate)  # KeyError: malformed, unknown or deleted
        except KeyError:
            notes.info(f"Run “{candidate[:40]}” doesn't exist here (any more), so it isn't shown.")
            st.query_params.pop("run", None)
            st.session_state.pop("run_id", None)
            linked = None if candidate == linked else linked
            last = None if candidate == last else last
run_id, why = choose_run(linked, last, mine, board["spotlight"], follow)
if why in ("linked", "last", "mine"):
    watch_run(run_id)
else:
    st.query_params.pop("run", None)


def _what_decides(board: dict) -> tuple:
    """What of the class this page shows: it redraws when one of these changes (the run it
    would choose, the state of the one shown, whether that one still exists), not at every
    start and end of other students' runs; those the note of who trains keeps up with."""
    ours = tuple(
        j["id"] for j in board["jobs"] if j["owner"]["id"] == me.id and j["state"] in ev.UNFINISHED
    )
    state = next((j["state"] for j in board["jobs"] if j["id"] == run_id), None)
    exists = run_id is None or state is not None or services.store().has(run_id)
    return board["spotlight"] if follow else None, ours, state, exists


redraw_when(_what_decides, board)
training_now_live(run_id)
head = st.container()
if not run_id:
    head.info(
        "Choose a lesson (or set the knobs) in the sidebar and press **Start training**.",
        icon=":material/arrow_back:",
    )
    still_view(None, me, {}, {})
    st.stop()

snap = jm.snapshot(run_id) if jm.has(run_id) else None
config = snap["config"] if snap else services.store().get(run_id).config
owner = snap["owner"] if snap else services.store().get(run_id).owner
whose = "yours" if owner["id"] == me.id else f"{identity.plain(identity.owner_name(owner))}'s"
following = " · you follow the teacher's run" if why == "following" else ""
status = services.store().get(run_id).status() if services.store().has(run_id) else {}
where = ""
if status.get("backend") == "ray":  # trained by an actor on a cluster: on which node
    node = status.get("node")
    where = f" · on the Ray cluster, node {node[:8]}" if isinstance(node, str) else " · on Ray"
with head:
    st.subheader(f"Run {run_id} · {describe(config)}")
    st.caption(f"The run is {whose}{where}{following}.")
    if (name := lesson_of(config)) is not None:
        st.caption(f"Lesson **{LESSONS[name][0]}** · **Watch:** {LESSONS[name][1]}")
if snap and snap["state"] == ev.QUEUED:
    queued_view(run_id, me)
elif snap and snap["state"] in ev.ACTIVE:
    live_view(run_id, me)
else:
    still_view(run_id, me, config, owner)
