"""Which model a page looks at: the sidebar's run and epoch, the run a link names, and a
one-click quick training when there is no model yet. Each returns ``None`` (after saying why)
when there is nothing to show; the page then ends itself."""

from __future__ import annotations

import dataclasses

import streamlit as st

import identity
import services
from formatting import run_label
from lenet.runs import CheckpointError
from lenet.serving import ClusterUnavailable, QueueFull
from lenet.training import PRESETS
from lenet.training import events as ev

__all__ = ["LIVE", "checkpointed_runs", "model_picker", "default_run", "pick_model"]

LIVE = "live"  # the epoch value that means "the running job's latest weights"


def checkpointed_runs() -> list:
    """``RunInfo`` of every readable run with at least one checkpoint, newest first."""
    store = services.store()
    return [i for i in store.list() if i.status != ev.CORRUPT and store.get(i.id).epochs()]


def model_picker(key: str, allow_live: bool = True, default_run: str | None = None):
    """Sidebar choice of run and epoch: (model, run_id, epoch), ``epoch`` an int or ``LIVE``.

    None when no run has a checkpoint yet, or (after a message) when the chosen one can't be
    shown. Runs without a checkpoint are not offered.
    """
    store = services.store()
    runs = checkpointed_runs()
    if not runs:
        return None
    ids = [i.id for i in runs]
    labels = {i.id: run_label(i) for i in runs}
    wanted = default_run or st.query_params.get("run")
    index = ids.index(wanted) if wanted in ids else 0
    run_id = st.sidebar.selectbox("Run", ids, index=index, format_func=labels.get, key=f"{key}_run")
    options: list = list(reversed(store.get(run_id).epochs()))
    if allow_live and run_id in services.job_manager().active():
        options.insert(0, LIVE)
    epoch = st.sidebar.selectbox(
        "Epoch",
        options,
        key=f"{key}_epoch",
        format_func=lambda e: (
            "live (training now)" if e == LIVE else ("0 (untrained)" if e == 0 else str(e))
        ),
    )
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


def default_run(notes: list[str], epoch_key: str | None = None) -> str | None:
    """The run a page opens on: ``?run=<id>`` when it has a checkpoint, else the newest
    finished one. A ``?run=`` that is unknown or not yet checkpointed adds a note to ``notes``
    and is ignored. With ``epoch_key`` (the picker's epoch widget key), a valid ``?epoch=`` of
    that run preselects the epoch on the first visit.
    """
    store = services.store()
    infos = {i.id: i for i in store.list()}
    wanted = st.query_params.get("run")
    if wanted is not None:
        if wanted not in infos or infos[wanted].status == ev.CORRUPT:
            notes.append(f"ignored run={wanted}: there is no readable run with that id")
        elif not store.get(wanted).epochs():
            notes.append(
                f"run {wanted} has no checkpoint yet (its first epoch is still "
                "training); showing another run"
            )
        else:
            epoch = st.query_params.get("epoch")
            if epoch_key and epoch_key not in st.session_state and epoch is not None:
                if epoch.isdigit() and int(epoch) in store.get(wanted).epochs():
                    st.session_state[epoch_key] = int(epoch)
                else:
                    notes.append(f"ignored epoch={epoch}: run {wanted} has no checkpoint for it")
            return wanted
    finished = [
        i.id for i in infos.values() if i.status == ev.FINISHED and store.get(i.id).epochs()
    ]
    return finished[0] if finished else None  # list() is newest first


def pick_model(key: str):
    """The sidebar's run/epoch choice; with no trained model yet, a one-click quick training.

    (model, run_id, epoch), or None after showing what is going on and what to do.
    """
    job = st.session_state.get("quick_job")
    quick = job is not None and services.job_manager().has(job)
    if quick:
        _quick_progress(job)
    if checkpointed_runs() or quick:  # a quick job's first checkpoint is on the way
        return model_picker(key)
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
