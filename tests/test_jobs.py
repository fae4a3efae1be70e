"""JobManager without Streamlit: background training, snapshots, the concurrency cap, and the
worker processes the dashboard trains in."""

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from test_train import _synthetic_split

import lenet.train as train_mod
from lenet.jobs import Busy, JobManager
from lenet.runs import RunStore
from lenet.train import TrainConfig

CFG = TrainConfig(epochs=2, batch_size=32, lr=3e-3, log_every=2, threads=1)


@pytest.fixture
def jm(monkeypatch, tmp_path):
    data = {"train": _synthetic_split(640, 0), "test": _synthetic_split(200, 1)}
    monkeypatch.setattr(train_mod, "load_split", lambda split, normalization="mnist": data[split])
    manager = JobManager(RunStore(tmp_path), max_jobs=1, isolation="thread")  # sees the monkeypatch
    yield manager
    manager.shutdown()


def test_job_runs_to_completion_and_is_stored(jm):
    job = jm.start(CFG)
    assert jm.wait(job, timeout=60) == "finished"
    snap = jm.snapshot(job)
    assert (
        snap["progress"] == 1.0
        and len(snap["epoch_metrics"]) == 2
        and snap["latest"]["test_acc"] > 50
    )
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


# -- worker processes (isolation="process"): real MNIST, a small subset ----------------------
SMALL = TrainConfig(epochs=2, train_subset=1024, batch_size=64, log_every=2, threads=1)


@pytest.fixture
def pm(tmp_path):
    manager = JobManager(RunStore(tmp_path), max_jobs=1, isolation="process")
    yield manager
    manager.shutdown()


def _until(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_worker_process_trains_and_obeys_every_command(pm):
    job = pm.start(replace(SMALL, epochs=3))
    proc = pm._jobs[job].process
    assert proc.pid != __import__("os").getpid()
    pm.control(job).pause()
    _until(lambda: pm.snapshot(job)["state"] == "paused")
    time.sleep(1.5)  # paused before or after its first batch: either way no progress now
    held = pm.snapshot(job)["step"]
    time.sleep(1.0)
    assert pm.snapshot(job)["step"] == held
    pm.control(job).set_lr(1e-3)
    pm.control(job).resume()
    _until(lambda: pm.snapshot(job)["lr_changes"])
    assert pm.snapshot(job)["lr_changes"][0]["lr"] == 1e-3
    assert pm.wait(job, 120) == "finished"
    snap = pm.snapshot(job)
    assert (
        snap["progress"] == 1.0
        and len(snap["epoch_metrics"]) == 3
        and snap["latest"]["test_acc"] > 60
    )
    assert proc.returncode == 0
    model, epoch, _ = pm.live_model(job)  # the worker's last published weights, kept after it ended
    stored = pm.store.get(job).load_model(3)
    assert epoch == 3 and all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), stored.state_dict().values())
    )
    info = pm.store.list()[0]
    assert (info.status, info.epochs_done) == ("finished", 3)


def test_live_weights_arrive_while_the_worker_trains(pm):
    job = pm.start(replace(SMALL, epochs=30))
    _until(lambda: pm.live_model(job) is not None and pm.live_model(job)[2] > 0)
    model, epoch, step = pm.live_model(job)
    assert model(torch.zeros(1, 1, 32, 32)).shape == (1, 10) and step > 0
    pm.control(job).stop()
    assert pm.wait(job, 60) == "stopped"
    assert pm.store.get(job).info().status == "stopped"


def test_a_worker_that_dies_is_reported_and_its_run_kept(pm):
    job = pm.start(replace(SMALL, epochs=200))
    _until(lambda: pm.snapshot(job)["epoch_metrics"])  # one finished epoch, checkpointed
    pm._jobs[job].process.kill()
    assert pm.wait(job, 30) == "failed"
    assert "ended unexpectedly" in pm.snapshot(job)["message"]
    info = pm.store.get(job).info()
    assert info.status == "failed" and info.epochs_done >= 1
    pm.store.delete(job)  # no longer held as "being written" by this process
    assert pm.start(replace(SMALL, epochs=1))  # and the slot is free


def test_a_worker_stops_when_the_manager_goes_away(tmp_path):
    """Closing the command pipe (the server exited or was killed) stops the run cleanly."""
    pm = JobManager(RunStore(tmp_path), isolation="process")
    job = pm.start(replace(SMALL, epochs=200))
    _until(lambda: pm.snapshot(job)["state"] == "running")
    pm._jobs[job].process.stdin.close()
    assert pm.wait(job, 60) == "stopped"
    assert pm._jobs[job].process.returncode == 0
    pm.shutdown()


def test_warm_spare_takes_the_next_job_and_is_replaced(tmp_path):
    pm = JobManager(RunStore(tmp_path), isolation="process", warm=True)
    try:
        spare = pm._spare
        assert spare is not None and spare.poll() is None
        job = pm.start(replace(SMALL, epochs=1))
        assert pm._jobs[job].process is spare
        assert pm.wait(job, 120) == "finished"
        assert pm._spare is not None and pm._spare is not spare  # ready for the next Start
    finally:
        pm.shutdown()
    assert spare.poll() is not None and pm._spare is None


def test_worker_protocol_ignores_bad_commands(tmp_path):
    """The worker's stdin protocol, driven by hand: a bad command is logged, never fatal."""
    import subprocess

    store = RunStore(tmp_path)
    run = store.create({})
    cfg = __import__("dataclasses").asdict(replace(SMALL, epochs=1))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lenet.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(Path(__file__).resolve().parents[1]),
    )
    job = {
        "config": cfg,
        "runs_dir": str(tmp_path),
        "run_id": run.id,
        "weights": str(tmp_path / "w.pt"),
    }
    proc.stdin.write(
        json.dumps(job) + "\n" + "not json\n" + json.dumps({"cmd": "lr", "lr": -1}) + "\n"
    )
    proc.stdin.flush()  # kept open: its end would mean "the manager went away, stop"
    events = []
    for line in proc.stdout:
        events.append(json.loads(line))
        if events[-1]["type"] == "_result":
            break
    proc.stdin.close()
    err = proc.stderr.read()
    assert proc.wait(30) == 0
    assert [e["type"] for e in events][-2:] == ["done", "_result"] and events[-1][
        "status"
    ] == "finished"
    assert err.count("ignored command") == 2
    assert store.get(run.id).info().status == "finished"
