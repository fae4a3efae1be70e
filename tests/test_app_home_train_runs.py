"""AppTest for the dashboard's spine: Home, Train (a real tiny run, polled to the end), Runs.

AppTest runs fragments inline and never fires ``run_every``, so a test polls by calling
``at.run()`` again, as the browser's timer would.
"""

import time
from dataclasses import replace
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from app_utils import STUDENT_ID, TOKEN, open_page, person
from lenet.runs import RunStore
from lenet.training import LESSONS, PRESETS, TrainConfig, train

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """An empty runs folder of this test's own; caches cleared so the job manager uses it."""
    monkeypatch.setenv("LENET_RUNS_DIR", str(tmp_path))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield tmp_path
    from services import job_manager

    job_manager().shutdown()  # no training thread outlives its test
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A runs folder with two short real runs (different learning rates) to list and compare."""
    root = tmp_path_factory.mktemp("two_runs")
    for lr in (3e-3, 3e-2):
        result = train(
            TrainConfig(train_subset=1000, epochs=1, log_every=2, lr=lr, threads=1),
            store=RunStore(root),
        )
        assert result.status == "finished"
    return root


def texts(at) -> str:
    return " ".join(
        str(e.value)
        for kind in ("info", "warning", "error", "success", "caption", "markdown")
        for e in getattr(at, kind)
    )


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


# The Train page's main column in every state: its title, then notes, who else trains, the run's
# heading and the run itself, each a block (the last a fragment). A fragment's update that lands
# after the page was redrawn for another state must find the same kind of slot at its place: one
# that found none blanked a student's page when the teacher started a run.
TRAIN_SLOTS = ["Title", "Block", "Block", "Block", "Block"]


def slots(at) -> list[str]:
    return [type(c).__name__ for c in at.main.children.values()]


def poll(at, until, timeout: float = 180.0) -> AppTest:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception
        if until(at):
            return at
        time.sleep(0.3)
    raise AssertionError(f"page never reached the expected state; last texts: {texts(at)}")


# --- Home --------------------------------------------------------------------------------------


def test_home_explains_lenet_and_draws_each_variant(runs_dir):
    at = open_page("home").run()
    assert not at.exception
    assert at.title[0].value == "LeNet-5 Lab"
    intro = at.markdown[0].value
    assert all(s in intro for s in ("LeCun, Bottou, Bengio and Haffner", "1998", "32×32", "0.95 %"))
    assert "61,706 trainable parameters" in texts(at)  # the classic variant, counted from the model
    assert "SHA-256 verified" in texts(at)
    assert "No runs yet" in texts(at)
    at.segmented_control(key="home_variant").set_value("modern").run()
    assert not at.exception and "ReLU and max-pooling" in texts(at)
    at.segmented_control(key="home_variant").set_value("paper").run()
    assert not at.exception
    assert "60,000 trainable parameters" in texts(at)  # the paper's own count (§II.B)


def test_home_builds_your_own_network_from_the_five_choices(runs_dir):
    at = open_page("home").run()
    at.segmented_control(key="home_variant").set_value("yours").run()
    assert not at.exception and "61,706 trainable parameters" in texts(at)  # starts as classic
    at.selectbox(key="home_c3").set_value("table-i").run()
    assert not at.exception
    assert "60,806 trainable parameters" in texts(at)  # Table I: 60 kernels of C3's 96
    assert "--variant classic,c3=table-i" in texts(at)
    paper = {"activation": "scaled-tanh", "subsampling": "trainable", "output": "rbf",
             "inputs": "paper"}  # fmt: skip
    for name, choice in paper.items():
        at.selectbox(key=f"home_{name}").set_value(choice).run()
    assert "The 1998 network itself" in texts(at)  # those choices are the paper variant
    assert "60,000 trainable parameters" in texts(at) and "--variant" not in texts(at)


def test_home_lists_latest_runs(two_runs, monkeypatch):
    monkeypatch.setenv("LENET_RUNS_DIR", str(two_runs))
    st.cache_resource.clear()
    at = open_page("home").run()
    assert not at.exception
    table = at.dataframe[-1].value
    assert len(table) == 2 and set(table["status"]) == {"finished"}
    # "duration" says what it counts, beside the Train page's training time
    assert "the training steps alone" in at.dataframe[-1].proto.columns
    st.cache_resource.clear()


# --- Train -------------------------------------------------------------------------------------


def test_train_page_widgets_and_lesson_presets(runs_dir):
    at = open_page("train").run()
    assert not at.exception
    assert "press **Start training**" in texts(at)
    for key in ("cfg_variant", "cfg_optimizer", "cfg_schedule", "cfg_init"):
        assert at.selectbox(key=key).value is not None
    assert at.select_slider(key="cfg_lr").value == PRESETS["default"].lr
    at.selectbox(key="lesson").set_value("overfit-500").run()
    assert not at.exception
    o = PRESETS["overfit-500"]
    assert at.number_input(key="cfg_train_subset").value == o.train_subset == 500
    assert at.select_slider(key="cfg_batch_size").value == o.batch_size
    assert at.number_input(key="cfg_epochs").value == o.epochs
    assert "memorising is not learning" in texts(at)
    at.selectbox(key="lesson").set_value("lr-too-high").run()
    assert (
        at.select_slider(key="cfg_lr").value == 5.0
        and at.selectbox(key="cfg_optimizer").value == "sgd"
    )


def test_train_offers_every_preset_with_its_duration(runs_dir):
    at = open_page("train").run()
    assert set(at.selectbox(key="lesson").options) == {LESSONS[p][0] for p in PRESETS}
    at.selectbox(key="lesson").set_value("paper-fast").run()
    assert not at.exception
    fast = PRESETS["paper-fast"]
    assert at.selectbox(key="cfg_variant").value == "paper" == fast.variant
    assert at.selectbox(key="cfg_recipe").value == "paper-fast"
    assert at.select_slider(key="cfg_batch_size").value == fast.batch_size == 32
    assert at.number_input(key="cfg_epochs").value == fast.epochs == 20
    assert at.selectbox(key="cfg_init").value == "paper"
    assert "about 3 min 09 s on a 2-core machine" in " ".join(c.value for c in at.caption)


def test_train_tiny_run_to_the_end(runs_dir):
    at = open_page("train").run()
    at.number_input(key="cfg_train_subset").set_value(512)
    at.number_input(key="cfg_epochs").set_value(1)
    at.button(key="start").click().run()
    assert not at.exception
    run_id = (
        at.query_params["run"][0]
        if isinstance(at.query_params["run"], list)
        else at.query_params["run"]
    )
    assert RunStore.valid_id(run_id)
    assert "Loss (smoothed)" in metrics(at)  # the live view
    poll(at, lambda a: "Test accuracy (top-1)" in metrics(a))
    shown = metrics(at)
    accuracy = float(shown["Test accuracy (top-1)"].rstrip(" %"))
    stored = RunStore(runs_dir).get(run_id).events()
    assert accuracy == pytest.approx(
        [e for e in stored if e["type"] == "epoch"][-1]["test_acc"], abs=0.01
    )
    assert shown["Test top-3"].endswith("%") and "Finished 1 epoch" in texts(at)
    assert {c.key for c in at.get("plotly_chart")} == {"loss_done", "acc_done", "health_done"}


def test_train_second_viewer_is_queued_and_can_watch(runs_dir, monkeypatch):
    """Someone else's run holds the only slot: Start queues, with its place; Watch shows that
    run without its controls (they are its owner's and the teacher's)."""
    monkeypatch.setenv("LENET_MAX_JOBS", "1")
    from services import job_manager

    jm = job_manager()
    bob = person("bob-of-the-train-tests-01", "Bob")
    job = jm.start(replace(PRESETS["default"], train_subset=2000, epochs=1, threads=1), bob)
    jm.pause(job, bob)  # hold it active for as long as the test needs
    try:
        at = open_page("train").run()
        assert "Training now: Bob." in texts(at)
        assert slots(at) == TRAIN_SLOTS  # no run shown
        at.button(key="start").click().run()
        assert not at.exception
        mine = at.session_state["run_id"]
        assert mine != job and jm.snapshot(mine)["state"] == "queued"
        assert "**Waiting in the queue**, next in line" in texts(at)
        assert "Training now: Bob." in texts(at) and slots(at) == TRAIN_SLOTS  # queued
        assert not at.warning  # no refusal: Start never answers "busy" now
        at.button(key=f"watch_{job}").click().run()
        assert not at.exception
        assert any(job in h.value for h in at.subheader)
        poll(at, lambda a: "Paused" in a.get("progress")[0].proto.text, 60)  # after data loading
        assert "Watching Bob's run: only they and the teacher can pause" in texts(at)
        assert not {"Pause", "Resume", "Stop", "Set rate"} & {b.label for b in at.button}
        assert "Training now: Bob." not in texts(at)  # the run shown is not listed again
        assert slots(at) == TRAIN_SLOTS  # live
    finally:
        for queued in jm.queue():
            jm.cancel(queued.id, bob if queued.id == job else person(STUDENT_ID))
        jm.stop(job, bob)
        jm.wait(job, 60)


def test_train_url_with_stored_or_unknown_run(two_runs, monkeypatch):
    monkeypatch.setenv("LENET_RUNS_DIR", str(two_runs))
    st.cache_resource.clear()
    stored = RunStore(two_runs).list()[0].id
    at = open_page("train")
    at.query_params["run"] = stored
    at.run()
    assert not at.exception
    assert "Test accuracy (top-1)" in metrics(at)
    assert {c.key for c in at.get("plotly_chart")} == {"loss_done", "acc_done", "health_done"}
    assert slots(at) == TRAIN_SLOTS  # ended
    newest = RunStore(two_runs).list()[0].id
    for bad in ("../../etc/passwd", "20990101-000000-abcdef"):
        at = open_page("train")
        at.query_params["run"] = bad
        at.run()
        assert not at.exception
        assert "doesn't exist here" in texts(at) and "run" not in at.query_params
        assert slots(at) == TRAIN_SLOTS  # the note sits in its slot
        # Runs from before owners are the teacher's: a student with none follows the newest.
        assert any(newest in h.value for h in at.subheader)
        assert "you follow the teacher's run" in texts(at)
        at.toggle(key="follow").set_value(False).run()
        assert not at.exception and "press **Start training**" in texts(at)
        assert not at.subheader
    st.cache_resource.clear()


# --- Runs --------------------------------------------------------------------------------------


def test_runs_page_empty(runs_dir):
    at = open_page("runs").run()
    assert not at.exception
    assert "No runs yet" in texts(at)


def test_runs_page_lists_compares_and_deletes(two_runs, tmp_path, monkeypatch):
    """A student sees every run but can't delete the teacher's; the teacher can."""
    import shutil

    root = tmp_path / "runs"
    shutil.copytree(two_runs, root)  # deleting must not disturb the shared fixture
    monkeypatch.setenv("LENET_RUNS_DIR", str(root))
    st.cache_resource.clear()
    ids = [i.id for i in RunStore(root).list()]
    at = open_page("runs").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["run"]) == ids
    assert {
        "status",
        "variant",
        "optimizer",
        "lr",
        "best test %",
        "epochs",
        "duration",
        "started",
    } <= set(table)
    assert len(at.get("plotly_chart")) == 2  # the newest run is selected by default
    assert f"**{ids[0]}** · finished · Teacher" in texts(at)
    assert list(table["owner"]) == ["Teacher", "Teacher"]  # runs from before owners
    assert at.get("download_button")
    assert not [b for b in at.button if b.key == "delete"]  # a student's view
    assert "Only a run's owner and the teacher can delete it." in texts(at)

    monkeypatch.setenv("LENET_TEACHER_TOKEN", TOKEN)
    at = open_page("runs", {"teacher": TOKEN}, participant="the-teacher-of-runs-0001").run()
    assert not at.exception
    at.button(key="delete").click().run()
    assert "for good?" in texts(at)
    at.button(key="delete_yes").click().run()
    assert not at.exception
    assert [i.id for i in RunStore(root).list()] == ids[1:]
    assert list(at.dataframe[0].value["run"]) == ids[1:]
    st.cache_resource.clear()


def test_runs_page_refuses_to_delete_a_running_run(runs_dir):
    from services import job_manager

    jm = job_manager()
    me = person(STUDENT_ID)
    job = jm.start(replace(PRESETS["default"], train_subset=2000, epochs=1, threads=1), me)
    jm.pause(job, me)
    try:
        at = open_page("runs").run()  # the run's own owner
        assert not at.exception
        assert "can't be deleted or exported" in texts(at)
        assert not [b for b in at.button if b.key == "delete"]
        with pytest.raises(RuntimeError):
            jm.delete_run(job, me)
    finally:
        jm.stop(job, me)
        jm.wait(job, 60)


def test_runs_page_imports_a_zip_once_and_refuses_a_bad_one(two_runs, runs_dir):
    from lenet.runs import export_run

    source = RunStore(two_runs)
    data = export_run(source.get(source.list()[0].id))
    at = open_page("runs").run()
    at.file_uploader(key="import_zip").set_value(("run.zip", data, "application/zip")).run()
    assert not at.exception
    assert any("Imported as run" in s.value for s in at.sidebar.success)
    at.run()  # the uploader still holds the file: it must not be imported twice
    assert len(RunStore(runs_dir).list()) == 1
    assert len(at.dataframe[0].value) == 1
    at.file_uploader(key="import_zip").set_value(
        ("bad.zip", b"not a zip at all", "application/zip")
    ).run()
    assert not at.exception
    assert any("not a zip archive" in e.value for e in at.sidebar.error)
    assert len(RunStore(runs_dir).list()) == 1


def test_home_without_mnist_offers_a_fetch_button(runs_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("LENET_DATA_DIR", str(tmp_path / "no-data"))
    at = open_page("home").run()
    assert not at.exception
    assert any("MNIST is missing" in w.value for w in at.warning)
    assert [b.label for b in at.button] == ["Fetch MNIST now"]
    assert not (tmp_path / "no-data").exists() or not any((tmp_path / "no-data").rglob("*-ubyte"))
