"""JobManager without Streamlit: background training, snapshots, the concurrency cap."""
from dataclasses import replace

import pytest

import lenet.train as train_mod
from lenet.jobs import Busy, JobManager
from lenet.runs import RunStore
from lenet.train import TrainConfig
from test_train import _synthetic_split

CFG = TrainConfig(epochs=2, batch_size=32, lr=3e-3, log_every=2, threads=1)


@pytest.fixture
def jm(monkeypatch, tmp_path):
    data = {"train": _synthetic_split(640, 0), "test": _synthetic_split(200, 1)}
    monkeypatch.setattr(train_mod, "load_split", lambda split, normalization="mnist": data[split])
    manager = JobManager(RunStore(tmp_path), max_jobs=1)
    yield manager
    manager.shutdown()


def test_job_runs_to_completion_and_is_stored(jm):
    job = jm.start(CFG)
    assert jm.wait(job, timeout=60) == "finished"
    snap = jm.snapshot(job)
    assert snap["progress"] == 1.0 and len(snap["epoch_metrics"]) == 2 and snap["latest"]["test_acc"] > 50
    assert snap["eta_seconds"] == 0.0 and snap["images_per_s"] > 0
    assert jm.store.get(job).epochs() == [0, 1, 2]
    model, epoch, _ = jm.live_model(job)
    assert epoch == 2 and model(__import__("torch").zeros(1, 1, 32, 32)).shape == (1, 10)


def test_cap_refuses_a_second_job_with_a_clear_message(jm):
    first = jm.start(replace(CFG, epochs=200))
    with pytest.raises(Busy, match=first):
        jm.start(CFG)
    jm.control(first).stop()
    assert jm.wait(first, timeout=60) == "stopped"
    second = jm.start(replace(CFG, epochs=1))  # the slot is free again
    assert jm.wait(second, timeout=60) == "finished"
    assert [j["id"] for j in jm.jobs()] == [second, first]


def test_paused_state_and_diverged_message(jm):
    job = jm.start(replace(CFG, epochs=200))
    jm.control(job).pause()
    import time
    time.sleep(0.3)
    assert jm.snapshot(job)["state"] == "paused"
    jm.control(job).stop()
    jm.wait(job, 30)
    bad = jm.start(replace(CFG, optimizer="sgd", lr=1e3, schedule="constant"))
    assert jm.wait(bad, 60) == "diverged"
    assert "learning rate" in jm.snapshot(bad)["message"]


def test_a_crashing_job_is_reported_not_raised(jm, monkeypatch):
    monkeypatch.setattr(train_mod, "build_model", lambda *a, **k: 1 / 0)
    job = jm.start(CFG)
    assert jm.wait(job, 30) == "failed"
    assert "ZeroDivisionError" in jm.snapshot(job)["message"]
    assert jm.store.list()[0].status == "failed"
