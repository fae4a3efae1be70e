"""What every page shares, one per server process: the job manager and run store, MNIST in
memory, stored models and their predictions. Cached with ``st.cache_resource`` /
``st.cache_data``, so thirty viewers load each of them once."""

from __future__ import annotations

import os
import sys

import pandas as pd
import streamlit as st

from lenet.analysis import history
from lenet.analysis.predictions import cached_predict
from lenet.data import ClassDigits, MnistUnavailable, Split, ensure_mnist, load_split
from lenet.models import normalization_of
from lenet.runs import RunStore
from lenet.serving import JobManager, cluster
from lenet.serving.people import teacher_token
from lenet.training import configure_threads

__all__ = [
    "job_manager",
    "store",
    "split",
    "require_data",
    "load_model",
    "live_model",
    "predictions",
]


@st.cache_resource
def job_manager() -> JobManager:
    """One per server process: jobs outlive reruns, page switches and browser reloads. Each
    job trains in a worker process of its own, with a warm spare waiting for the next Start
    (``LENET_WARM_WORKER=0`` turns the spare off); ``LENET_MAX_JOBS`` train at once. With
    ``LENET_RAY_ADDRESS`` the jobs train on that Ray cluster and every server given the same
    address and runs folder shares one board (``lenet.serving.replicas``)."""
    configure_threads(2)  # once per process, for the pages' own inference
    if (address := cluster.address()) is not None:
        from lenet.serving.replicas import manager_for  # imports Ray: only with a cluster

        manager = manager_for(address, RunStore())
    else:
        warm = os.environ.get("LENET_WARM_WORKER", "1") != "0"
        manager = JobManager(RunStore(), isolation="process", warm=warm)
    _announce_teacher_link()
    return manager


def _announce_teacher_link() -> None:
    """When the teacher token was made by this server: its sign-in address, once, on the
    server's console (nowhere else), for the teacher to click."""
    token, made_here = teacher_token()
    if made_here:
        host = st.get_option("browser.serverAddress") or "localhost"
        port = st.get_option("browser.serverPort") or st.get_option("server.port")
        print(
            f"\n  Teacher sign-in (keep it to yourself): http://{host}:{port}/?teacher={token}\n",
            file=sys.stderr,
            flush=True,
        )


def store() -> RunStore:
    return job_manager().store


def class_digits() -> ClassDigits:
    """The class's own labelled drawings, kept beside the runs (every server sees them)."""
    return ClassDigits.for_runs(store().root)


@st.cache_resource(show_spinner="Loading MNIST…")
def split(name: str, normalization: str = "mnist") -> Split:
    return load_split(name, normalization)


def require_data() -> bool:
    """Whether MNIST is here; if not, a friendly panel with what was tried and a retry button
    (the page then ends itself)."""
    if st.session_state.get("_data_ok"):
        return True
    try:
        ensure_mnist(progress=lambda *_: None)
    except MnistUnavailable as e:
        st.error("MNIST isn't available yet, so there is nothing to train on or look at.")
        with st.expander("What was tried, and how to place the files by hand"):
            st.code(str(e), language=None)
        if st.button("Try fetching MNIST again", type="primary"):
            st.rerun()
        return False
    st.session_state["_data_ok"] = True
    return True


@st.cache_resource(max_entries=24, show_spinner=False)
def load_model(run_id: str, epoch: int):
    """A stored model, loaded once per server and shared read-only by every viewer."""
    return store().get(run_id).load_model(epoch)


def live_model(run_id: str):
    """(model, epoch, step) of a running job's latest published weights, or None."""
    jm = job_manager()
    return jm.live_model(run_id) if jm.has(run_id) else None


@st.cache_data(max_entries=8, show_spinner="Predicting all 10,000 test digits…")
def predictions(run_id: str, epoch: int) -> pd.DataFrame:
    """The checkpoint's predictions table, kept in the run folder (``cached_predict``)."""
    model = load_model(run_id, epoch)
    cache = store().get(run_id).cache_path("predictions", epoch, ".npz")
    return cached_predict(model, split("test", normalization_of(model.variant)), cache)


@st.cache_data(max_entries=8, show_spinner=False)
def learning_history(run_id: str, epochs: tuple):
    """Every checkpoint's predictions of a run side by side (``lenet.analysis.history``), read
    from the run folder (a checkpoint not yet predicted there is predicted once)."""
    run = store().get(run_id)
    variant = run.config.get("variant", "classic")
    return history.learning_history(run, split("test", normalization_of(variant)), list(epochs))
