"""Which model a page looks at: the sidebar's run and epoch, the run a link names, and a
one-click quick training when there is no model yet. Each returns ``None`` (after saying why)
when there is nothing to show; the page then ends itself."""

from __future__ import annotations

import dataclasses
import time

import streamlit as st

import identity
import services
from formatting import run_label
from lenet.runs import CheckpointError
from lenet.serving import ClusterUnavailable, QueueFull
from lenet.training import PRESETS
from lenet.training import events as ev

__all__ = ["LIVE", "run_listing", "checkpointed_runs", "model_picker", "default_run",
           "link_notes", "pick_model", "play_on"]  # fmt: skip

LIVE = "live"  # the epoch value that means "the running job's latest weights"
VIEW_RUN, VIEW_EPOCH = "view_run", "view_epoch"  # the choice every inspection page shares
PLAYING = "epochs_playing"  # the page (its picker key) whose epochs play
_NEXT, _OPTIONS = "_epochs_next", "_epochs_options"
PLAY_STEP_S = 0.6  # the pause on each epoch, on top of the page's own drawing time


def run_listing() -> tuple[dict, list]:
    """Every run's ``RunInfo`` by id, and those of the readable runs with at least one
    checkpoint, newest first: one pass over the store (a couple of milliseconds a run), which
    a page's ``default_run`` and ``model_picker`` share."""
    store = services.store()
    infos = store.list()
    ready = [i for i in infos if i.status != ev.CORRUPT and store.get(i.id).epochs()]
    return {i.id: i for i in infos}, ready


def checkpointed_runs() -> list:
    """``RunInfo`` of every readable run with at least one checkpoint, newest first."""
    return run_listing()[1]


def model_picker(
    key: str, allow_live: bool = True, default_run: str | None = None, runs: list | None = None
):
    """Sidebar choice of run and epoch: (model, run_id, epoch), ``epoch`` an int or ``LIVE``.

    The run and the epoch are one choice shared by every inspection page (kept in the session
    and in the address, ``?run=&epoch=``): Feature maps, Kernels and Predictions show the same
    model. The epoch is a slider from 0 to the newest checkpoint, with "live" last while the
    run trains, and a play button that replays the page's view over the epochs (``play_on``).

    None when no run has a checkpoint yet, or (after a message) when the chosen one can't be
    shown. Runs without a checkpoint are not offered. ``runs``: ``run_listing()``'s
    checkpointed ones, when the page has listed them already.
    """
    store = services.store()
    runs = checkpointed_runs() if runs is None else runs
    if not runs:
        return None
    ids = [i.id for i in runs]
    labels = {i.id: run_label(i, identity.owner_name(i.owner)) for i in runs}
    wanted = default_run or st.query_params.get("run") or st.session_state.get(VIEW_RUN)
    index = ids.index(wanted) if wanted in ids else 0
    run_id = st.sidebar.selectbox(
        "Run", ids, index=index, format_func=labels.get, key=f"{key}_run", on_change=_stop_play
    )
    options: list = list(store.get(run_id).epochs())
    if allow_live and run_id in services.job_manager().active():
        options.append(LIVE)
    epoch = _epoch_slider(key, run_id, options)
    st.session_state[VIEW_RUN], st.session_state[VIEW_EPOCH] = run_id, epoch
    st.query_params.update(run=run_id, epoch=str(epoch))
    if epoch == LIVE:
        live = services.live_model(run_id)
        if live is None:
            st.info("The run has just started; its first weights appear within a second.")
            return None
        return live[0], run_id, LIVE
    try:
        return services.load_model(run_id, epoch), run_id, epoch
    except CheckpointError as e:
        st.error(str(e))
        return None


def _epoch_label(epoch) -> str:
    return "live" if epoch == LIVE else ("0 (untrained)" if epoch == 0 else str(epoch))


def _epoch_slider(key: str, run_id: str, options: list):
    """The epoch slider and its play button; the epoch chosen."""
    widget = f"{key}_epoch"
    if st.session_state.get(PLAYING, key) != key:  # playing on another page: stopped there
        st.session_state.pop(PLAYING, None)
    step = st.session_state.pop(_NEXT, None)
    if step in options and st.session_state.get(PLAYING) == key:
        st.session_state[widget] = step
    if st.session_state.get(widget) not in options:
        st.session_state[widget] = _first_epoch(run_id, options)
    st.session_state[_OPTIONS] = options
    if len(options) == 1:
        st.sidebar.markdown(f"**Epoch** {_epoch_label(options[0])}")
        st.sidebar.caption("The only checkpoint so far.")
        return options[0]
    epoch = st.sidebar.select_slider(
        "Epoch",
        options,
        key=widget,
        format_func=_epoch_label,
        on_change=_stop_play,
        help="0 is the untrained network; each step is the model after one more epoch"
        + ("; live is the training run's latest weights." if LIVE in options else "."),
    )
    if st.session_state.get(PLAYING) == key:
        st.sidebar.button("Pause", icon=":material/pause:", on_click=_stop_play,
                          key=f"{key}_pause", width="stretch")  # fmt: skip
    else:
        st.sidebar.button(
            "Play the epochs",
            icon=":material/play_arrow:",
            on_click=_start_play,
            args=(key, options),
            key=f"{key}_play",
            width="stretch",
            help="Replays this page from epoch 0 to the last, about one epoch a second: the "
            "maps sharpening, the kernels forming, the confusion matrix clearing.",
        )
    return epoch


def _first_epoch(run_id: str, options: list):
    """Where the slider starts on a page: the epoch chosen on another page for this run, else
    a valid ``?epoch=`` of the address, else the newest (live while it trains)."""
    if st.session_state.get(VIEW_RUN) == run_id and st.session_state.get(VIEW_EPOCH) in options:
        return st.session_state[VIEW_EPOCH]
    asked = st.query_params.get("epoch")
    if st.query_params.get("run") == run_id and asked is not None:
        chosen = LIVE if asked == LIVE else int(asked) if asked.isdigit() else None
        if chosen in options:
            return chosen
    return options[-1]


def _start_play(key: str, options: list) -> None:
    st.session_state[f"{key}_epoch"] = options[0]
    st.session_state[PLAYING] = key


def _stop_play() -> None:
    st.session_state.pop(PLAYING, None)


def play_on() -> None:
    """Last on an inspection page: while the epochs play, wait a moment with this epoch shown,
    then show the next; after the last, stop."""
    key = st.session_state.get(PLAYING)
    if key is None:
        return
    options = st.session_state.get(_OPTIONS) or []
    current = st.session_state.get(f"{key}_epoch")
    at = options.index(current) if current in options else len(options) - 1
    if at >= len(options) - 1:
        _stop_play()
        st.rerun()  # the button turns back into Play
    time.sleep(PLAY_STEP_S)
    st.session_state[_NEXT] = options[at + 1]
    st.rerun()


def default_run(
    notes: list[str], epoch_key: str | None = None, listing: tuple | None = None
) -> str | None:
    """The run a page opens on: ``?run=<id>`` when it has a checkpoint, else the one the other
    inspection pages show, else the one the Train page showed last, else this participant's
    newest finished one, else anyone's newest finished one.

    A ``?run=`` that is unknown or not yet checkpointed adds a note to ``notes`` and is ignored.
    With ``epoch_key`` (the picker's epoch widget key), a valid ``?epoch=`` of that run
    preselects the epoch on the first visit. ``listing``: ``run_listing()``, when the page
    has it already.
    """
    infos, ready = listing or run_listing()
    checkpointed = {i.id for i in ready}
    wanted = st.query_params.get("run")
    if wanted is not None:
        if wanted not in infos or infos[wanted].status == ev.CORRUPT:
            notes.append(f"ignored run={wanted}: there is no readable run with that id")
        elif wanted not in checkpointed:
            notes.append(
                f"run {wanted} has no checkpoint yet (its first epoch is still "
                "training); showing another run"
            )
        else:
            epoch = st.query_params.get("epoch")
            if epoch_key and epoch_key not in st.session_state and epoch is not None:
                if epoch.isdigit() and int(epoch) in services.store().get(wanted).epochs():
                    st.session_state[epoch_key] = int(epoch)
                else:
                    notes.append(f"ignored epoch={epoch}: run {wanted} has no checkpoint for it")
            return wanted
    # the run another inspection page shows, else the one the Train page showed last
    # ("run_id": run_view.watch_run)
    for seen in (st.session_state.get(VIEW_RUN), st.session_state.get("run_id")):
        if seen in checkpointed:
            return seen
    person = identity.me()
    finished = [i for i in ready if i.status == ev.FINISHED]  # newest first
    mine = [i for i in finished if person is not None and i.owner.get("id") == person.id]
    return (mine or finished)[0].id if finished else None


def link_notes(notes: list[str]) -> None:
    """Say which parts of the page's address were ignored (``default_run``'s notes)."""
    if notes:
        st.warning("Part of the link was not understood: " + "; ".join(notes) + ".")


def pick_model(key: str):
    """The sidebar's run/epoch choice; with no trained model yet, a one-click quick training.

    (model, run_id, epoch), or None after showing what is going on and what to do.
    """
    job = st.session_state.get("quick_job")
    quick = job is not None and services.job_manager().has(job)
    if quick:
        _quick_progress(job)
    listing = run_listing()
    if listing[1] or quick:  # a quick job's first checkpoint is on the way
        notes: list[str] = []
        first = default_run(notes, f"{key}_epoch", listing)
        picked = model_picker(key, default_run=first, runs=listing[1])
        link_notes(notes)
        return picked
    st.info(
        "There is no trained model yet, so there is nothing to look inside. A quick one "
        "learns from 6,000 digits for one epoch, in a few seconds, right here (the Train "
        "page trains longer ones)."
    )
    if st.button("Train a quick model", type="primary", icon=":material/bolt:", key=f"{key}_quick"):
        me = identity.me()
        try:
            quick_cfg = dataclasses.replace(PRESETS["quick"])
            st.session_state["quick_job"] = services.job_manager().start(quick_cfg, me, "quick")
        except (QueueFull, PermissionError, ClusterUnavailable) as e:
            st.warning(str(e))
        else:
            st.rerun()
    return None


@st.fragment(run_every=1.0)
def _quick_progress(job_id: str) -> None:
    """A small live progress line for the quick training; offers a reload once it is done."""
    snap = services.job_manager().snapshot(job_id)
    if snap["state"] == ev.QUEUED:
        st.info(f"The quick model waits for a training slot: #{snap['queue_position']} in line.")
        return
    if snap["state"] in ev.ACTIVE:
        st.progress(
            snap["progress"],
            text=f"Training a quick model: {snap['progress']:.0%} "
            f"({snap['images_per_s'] or 0:,.0f} images/s)",
        )
        return
    latest = snap["latest"]
    if snap["state"] == ev.FINISHED and latest:
        st.success(
            f"The quick model is trained: {latest['test_acc']:.2f} % of the 10,000 test "
            "digits right."
        )
    else:
        st.warning(snap["message"] or f"The quick training ended ({snap['state']}).")
    if st.button("Show the trained model", type="primary", key="quick_reload"):
        del st.session_state["quick_job"]
        st.rerun(scope="app")
