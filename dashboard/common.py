"""Shared pieces of the dashboard pages: the process-wide job manager, cached loads, pickers.

Pages import this module (Streamlit puts ``dashboard/`` on ``sys.path``). Anything a notebook
or the CLI would also want belongs in ``lenet/``, not here.
"""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from lenet.data import MnistUnavailable, Split, ensure_mnist, load_split
from lenet.jobs import JobManager
from lenet.metrics import predict
from lenet.runs import CheckpointError, RunStore
from lenet.train import configure_threads

LIVE = "live"  # the epoch value that means "the running job's latest weights"


@st.cache_resource
def job_manager() -> JobManager:
    """One per server process: jobs outlive reruns, page switches and browser reloads. Each
    job trains in a worker process of its own, with a warm spare waiting for the next Start
    (``LENET_WARM_WORKER=0`` turns the spare off)."""
    configure_threads(2)  # once per process, for the pages' own inference
    limit = int(os.environ.get("LENET_MAX_JOBS", "1"))
    warm = os.environ.get("LENET_WARM_WORKER", "1") != "0"
    return JobManager(RunStore(), max_jobs=limit, isolation="process", warm=warm)


def store() -> RunStore:
    return job_manager().store


def page(title: str, icon: str = "🔢") -> None:
    """Page config shared by every page (wide layout: charts and digit grids need the room)."""
    st.set_page_config(page_title=f"{title} · LeNet-5 Lab", page_icon=icon, layout="wide")


@st.cache_resource(show_spinner="Loading MNIST…")
def split(name: str, normalization: str = "mnist") -> Split:
    return load_split(name, normalization)


def require_data() -> None:
    """Stop the page with a friendly panel (and a fetch button) while MNIST isn't ready."""
    try:
        ensure_mnist(progress=lambda *_: None) if st.session_state.get("_data_ok") is None else None
        st.session_state["_data_ok"] = True
    except MnistUnavailable as e:
        st.error("MNIST isn't available yet, so there is nothing to train on or look at.")
        with st.expander("What was tried, and how to place the files by hand"):
            st.code(str(e), language=None)
        if st.button("Try fetching MNIST again", type="primary"):
            st.rerun()
        st.stop()


def normalization_of(variant: str) -> str:
    return "paper" if variant == "paper" else "mnist"


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
    model = load_model(run_id, epoch)
    return predict(model, split("test", normalization_of(model.variant)))


def run_label(info) -> str:
    acc = f"{info.best_test_acc:.2f}%" if info.best_test_acc is not None else "no test yet"
    return f"{info.id} · {info.variant} · {info.status} · {acc}"


def model_picker(key: str, allow_live: bool = True, default_run: str | None = None):
    """Sidebar choice of run and epoch. Returns (model, run_id, epoch) or stops the page.

    ``epoch`` is an int or ``LIVE``. Runs without a checkpoint are not offered.
    """
    infos = [i for i in store().list() if i.status != "corrupt"]
    runs = [i for i in infos if store().get(i.id).epochs()]
    if not runs:
        return None
    ids = [i.id for i in runs]
    labels = {i.id: run_label(i) for i in runs}
    wanted = default_run or st.query_params.get("run")
    index = ids.index(wanted) if wanted in ids else 0
    run_id = st.sidebar.selectbox("Run", ids, index=index, format_func=labels.get, key=f"{key}_run")
    epochs = store().get(run_id).epochs()
    options: list = list(reversed(epochs))
    if allow_live and run_id in job_manager().active():
        options.insert(0, LIVE)
    epoch = st.sidebar.selectbox(
        "Epoch",
        options,
        key=f"{key}_epoch",
        format_func=lambda e: (
            "live (training now)" if e == LIVE else ("0 (untrained)" if e == 0 else str(e))
        ),
    )
    try:
        if epoch == LIVE:
            live = live_model(run_id)
            if live is None:
                st.info("The run has just started; its first weights appear within a second.")
                st.stop()
            return live[0], run_id, LIVE
        return load_model(run_id, epoch), run_id, epoch
    except CheckpointError as e:
        st.error(str(e))
        st.stop()


# --- Links between pages ---------------------------------------------------------------------
# (file under dashboard/pages/, label, icon, what it is for): Home lists them, pages link to them.
PAGES = [
    (
        "1_Train.py",
        "Train",
        ":material/model_training:",
        "Train LeNet-5 live: lessons, curves, pause, change the learning rate.",
    ),
    (
        "2_Runs.py",
        "Runs",
        ":material/folder_open:",
        "Every run: compare curves, export or import a zip, delete.",
    ),
    (
        "3_Feature_maps.py",
        "Feature maps",
        ":material/layers:",
        "What each layer sees in one digit, C1 to OUTPUT.",
    ),
    (
        "4_Kernels.py",
        "Kernels",
        ":material/grid_on:",
        "The learned 5×5 filters and how they evolve.",
    ),
    (
        "5_Predictions.py",
        "Predictions",
        ":material/target:",
        "All 10,000 test digits: filter the mistakes, click the confusion matrix.",
    ),
    (
        "6_Paper.py",
        "Paper",
        ":material/description:",
        "The 1998 network and recipe, side by side with the paper.",
    ),
]


def page_link(
    file: str, label: str, icon: str | None = None, query_params: dict | None = None
) -> bool:
    """``st.page_link`` to ``dashboard/pages/<file>`` when that page exists; False otherwise.

    Pages are added over time, and a link to a missing file raises, so check first. Outside
    the multipage app (a page run on its own, as in tests) a plain link stands in.
    """
    from pathlib import Path
    from urllib.parse import urlencode

    if not (Path(__file__).parent / "pages" / file).exists():
        return False
    try:
        st.page_link(f"pages/{file}", label=label, icon=icon, query_params=query_params)
    except st.errors.StreamlitAPIException:
        path = file.split("_", 1)[1].removesuffix(".py")
        query = f"?{urlencode(query_params)}" if query_params else ""
        st.markdown(f"{icon or ''} [{label}](/{path}{query})")
    return True


def default_run(notes: list[str], epoch_key: str | None = None) -> str | None:
    """The run a page opens on: ``?run=<id>`` when it has a checkpoint, else the newest finished one.

    A ``?run=`` that is unknown or not yet checkpointed adds a note to ``notes`` and is ignored.
    With ``epoch_key`` (the ``model_picker`` epoch widget's key), a valid ``?epoch=`` of that run
    preselects the epoch on the first visit.
    """
    infos = {i.id: i for i in store().list()}
    wanted = st.query_params.get("run")
    if wanted is not None:
        if wanted not in infos or infos[wanted].status == "corrupt":
            notes.append(f"ignored run={wanted}: there is no readable run with that id")
        elif not store().get(wanted).epochs():
            notes.append(
                f"run {wanted} has no checkpoint yet (its first epoch is still training); "
                "showing another run"
            )
        else:
            epoch = st.query_params.get("epoch")
            if epoch_key and epoch_key not in st.session_state and epoch is not None:
                if epoch.isdigit() and int(epoch) in store().get(wanted).epochs():
                    st.session_state[epoch_key] = int(epoch)
                else:
                    notes.append(f"ignored epoch={epoch}: run {wanted} has no checkpoint for it")
            return wanted
    finished = [
        i.id for i in infos.values() if i.status == "finished" and store().get(i.id).epochs()
    ]
    return finished[0] if finished else None  # list() is newest first
